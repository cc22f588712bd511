"""The case-management cycle, run for every case in every stage, as one process per case on SimPy's
scheduler (:class:`CaseProcess`).

A stay in a stage: the approach of the stage's setting takes the case on; then ASSESS (takes
the approach's assessment time; finds needs), PLAN (referrals from needs, mandatory or
discretionary), IMPLEMENT (contacts at the mode's interval, each kept or missed, with
enforcement on misses; interventions run at providers), REVIEW (at a fixed interval: risk and
mode re-scored, the team re-meets) and back to IMPLEMENT, until the stay ends or a breach or a
further offence cuts it short. The process sleeps until its next happening, so the cost is one
SimPy event per happening, not per tick.

With ``process.contact_settlement: aggregate`` the contacts due in a window are decided at once
(:func:`first_miss`): the process wakes at the window's first contact and at each miss, not at every
contact, and the kept contacts before a miss are one ``contacts_kept`` row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simpy.events import NORMAL, URGENT

from casesim.engine.rng import (
    ACCEPTABLE,
    CONTACT,
    CONTACT_THIN,
    DETECT,
    DURATION,
    MANDATORY,
    NEXT_STAGE,
    REOFFEND,
    RESIDUAL,
    RISK_REVIEW,
    UPTAKE,
    Luck,
    sample,
)
from casesim.scenario.params import EXIT, RISKS

if TYPE_CHECKING:
    from casesim.engine.agents.case import Case
    from casesim.engine.simulation import Simulation
    from casesim.scenario.schema import Scenario

INF = math.inf
_u = Luck.u


class ComplianceModel:
    """Probability that a case keeps a required contact (logistic; see docs/model.md).

    logit p = intercept + b_prop·propensity + b_mot·(motivation − 0.5) + b_risk[risk]
              + b_int·intensity(mode) + b_cont·min(1, days with holder / saturation)
              + b_press·max(0, pressure − threshold) + b_unmet·unmet needs
    """

    def __init__(self, scenario: Scenario) -> None:
        c = scenario.compliance
        self.c = c
        self.base = {(r, m): c.intercept + c.risk[r] + c.intensity * spec.intensity
                     for r in RISKS for m, spec in scenario.modes.items()}
        self.sat = c.continuity_saturation_days

    def probability(self, case: Case, now: float, pressure: float) -> float:
        c = self.c
        x = case.logit0
        if x is None:   # the terms fixed while risk and mode stay (summed in the same order as below)
            x = case.logit0 = (self.base[(case.risk, case.mode)] + c.propensity * case.propensity
                               + c.motivation * (case.motivation - 0.5))
        x = (x + c.continuity * min(1.0, (now - case.holder_since) / self.sat)
             + c.pressure * max(0.0, pressure - c.pressure_threshold)
             + c.unmet_need * case.unmet)
        try:
            return 1.0 / (1.0 + math.exp(-x))
        except OverflowError:   # x below about -709 (a manager far over a tiny capacity): the probability is 0
            return 0.0


#: Where a sleeping case process resumes (``CaseProcess.at``).
_BEGIN, _CONTACT, _STEP, _END, _BREACH = range(5)


class CaseProcess:
    """The whole journey of one case, stay after stay, until EXIT: a state machine woken by the scheduler.

    A case waits for one thing at a time (its next happening), so the process is its own SimPy event: to
    sleep, it sets where it will resume (``at``) and schedules itself, as ``env.timeout`` would schedule a
    new event; the environment's step calls :meth:`wake` with it. The stay's state (its clock of next
    happenings) lives in the object's slots between wake-ups.

    This replaces one generator per case driven by a ``simpy.Process``. The happenings, their order and
    every random number are the same, and so is the order of the events in SimPy's queue: the first
    wake-up is scheduled at creation with SimPy's ``URGENT`` priority, as a process's ``Initialize``
    event is, and each sleep is scheduled exactly when and as the generator's timeout was (the only event
    gone is the one SimPy scheduled at a process's end, which nobody waited on). What is saved is memory,
    which a national run holds hundreds of thousands of times: the generator's frame (36 locals and its
    stack, about 570 bytes), the process object and its dict, and a new timeout with its callback list and
    bound method at every wake-up (about 300 bytes pending per case); and CPU: no ``send`` into a
    generator and no ``Process._resume`` per wake-up.
    """

    __slots__ = ("callbacks", "at", "sim", "case", "stage", "cause", "residual", "previous", "spec", "k", "start",
                 "end", "t_assess", "t_plan", "t_contact", "t_review", "t_offence")
    _ok = True   # (what SimPy's step reads of an event it has processed: it did not fail)

    def __init__(self, sim: Simulation, case: Case, stage: str, cause: str, residual: bool = False) -> None:
        self.sim, self.case, self.stage, self.cause, self.residual = sim, case, stage, cause, residual
        self.previous = None
        self.at = _BEGIN
        self.callbacks = _WAKE
        sim.env.schedule(self, URGENT)

    def wake(self) -> None:
        """Called by the environment's step (as a callback, with the process as its event): run from where
        the process slept until it must sleep again or the journey ends."""
        at = self.at
        if at == _BEGIN:
            outcome = self._begin()
        elif at == _END:
            outcome = "completed"
        elif at == _BREACH:
            outcome = "breach"
        else:
            outcome = self._advance(at)
        while outcome is not None:   # the stay ended now; the next begins at once
            sim, case = self.sim, self.case
            self.previous = stage = self.stage
            self.cause, self.stage = _leave(sim, case, stage, self.spec, self.k, outcome, self.start)
            self.residual = False
            outcome = self._begin()

    def _sleep(self, at: int, delay: float, t_assess: float, t_plan: float, t_contact: float,
               t_review: float) -> None:
        """Keep the stay's clock and sleep ``delay`` days (scheduled as ``env.timeout(delay)`` would be)."""
        self.at = at
        self.t_assess, self.t_plan, self.t_contact, self.t_review = t_assess, t_plan, t_contact, t_review
        self.callbacks = _WAKE
        self.sim.env.schedule(self, NORMAL, delay)

    def _begin(self) -> str | None:
        """Begin a stay in ``self.stage`` (or end the journey at EXIT) and run it until it sleeps (None) or
        ends at once (its outcome)."""
        sim, case, stage = self.sim, self.case, self.stage
        if stage == EXIT:
            self._finish()
            return None
        env, log, journey, p = sim.env, sim.log, sim.journey, sim.scenario.process
        self.spec = spec = journey.stages[stage]
        setting = journey.setting[stage]
        acts = journey.activities[stage]
        self.k = k = case.stays
        case.stays += 1
        case.stage = stage
        self.start = start = env.now
        d = journey.stay_duration(stage, self.previous)
        length = sample(d.dist, d.mean_days[case.risk] * d.offence_multiplier.get(case.offence, 1.0), d.cv,
                        _u(case.luck, DURATION, k))
        if self.residual:
            length *= _u(case.luck, RESIDUAL, k)
        self.end = start + length
        log.stage_enter(start, case.no, stage=stage, cause=self.cause, stay=float(k))

        approach = sim.approach[setting]
        if (case.holder is not None and case.holder.setting != setting
                and not approach.keeps_across(sim, case, stage)):
            sim.approach[case.holder.setting].let_go(sim, case)
        for t in [t for t in case.pending if t.provider.setting != setting]:
            t.provider.withdraw(t)
        _reassess_mode(sim, case)
        case.phase = "assess" if ("assess" in acts or "plan" in acts) else "implement"
        approach.take_on(sim, case, stage)

        self.t_assess = start + approach.assessment(sim, case)[0] if "assess" in acts else INF
        self.t_plan = INF
        self.t_contact = start + p.first_contact_days if "contacts" in acts else INF
        self.t_review = start + p.review_interval_days if "review" in acts else INF
        rate = spec.reoffending_rate_per_year[case.risk]
        self.t_offence = start - 365.25 * math.log(_u(case.luck, REOFFEND, k)) / rate if rate > 0 else INF
        return self._advance(_BEGIN)

    def _advance(self, at: int) -> str | None:
        """Run the stay from where it woke (``_CONTACT``: the contact due now; ``_STEP``: the happening due
        now; otherwise from the top) until it sleeps (None) or ends (its outcome)."""
        sim, case = self.sim, self.case
        env, p, stage = sim.env, sim.scenario.process, self.stage
        modes = sim.scenario.modes
        aggregate = sim.contacts_in_aggregate
        enforceable = self.spec.on_breach is not None
        t_assess, t_plan, t_contact, t_review = self.t_assess, self.t_plan, self.t_contact, self.t_review
        t_offence, end = self.t_offence, self.end
        while True:
            if at == _STEP:   # woke for the happening chosen before the sleep (the stay's clock has not moved)
                at = _BEGIN
                t = min(t_assess, t_plan, t_contact, t_review, t_offence)
            else:
                # Contacts first, in a tight loop while the next contact comes before every other happening
                # of the stay (an assessment, plan, offence or the end at the same instant goes first; a
                # review at the same instant goes after): the same order as the general step below.
                other = min(t_assess, t_plan, t_offence, end)
                while at == _CONTACT or (t_contact < other and t_contact <= t_review):
                    if at == _CONTACT:   # woke for this contact
                        at = _BEGIN
                    elif t_contact > env.now:
                        self._sleep(_CONTACT, t_contact - env.now, t_assess, t_plan, t_contact, t_review)
                        return None
                    if aggregate:
                        n, staff, interval, away = _window(sim, case, other, t_review, p.contact_window_days)
                        if staff is None and n > 1:   # nobody at work until a known return: not offered
                            case.contacts += n
                            _not_offered(sim, case, stage, n, env.now)
                            t_contact = env.now + n * interval
                            continue
                        if n > 1:   # (a window of one contact is settled as below: the same draw, the same row)
                            breach = _settle(sim, case, stage, staff, n, interval, enforceable, away)
                            if breach == n:
                                t_contact = env.now + n * interval
                                continue
                            if breach:   # the stay ends at the missed contact that leads to breach
                                self._sleep(_BREACH, breach * interval, t_assess, t_plan, t_contact, t_review)
                                return None
                            return "breach"
                    if _contact(sim, case, stage, enforceable):
                        return "breach"
                    t_contact = env.now + modes[case.mode].contact_interval_days
                t = min(t_assess, t_plan, t_contact, t_review, t_offence)
                if t >= end:
                    if end > env.now:
                        self._sleep(_END, end - env.now, t_assess, t_plan, t_contact, t_review)
                        return None
                    return "completed"
                if t > env.now:
                    self._sleep(_STEP, t - env.now, t_assess, t_plan, t_contact, t_review)
                    return None
            if t == t_offence:
                return "further_offence"
            setting = sim.journey.setting[stage]   # (the stay's setting, approach and activities: rare here)
            approach = sim.approach[setting]
            if t == t_assess:
                _assess(sim, case, stage, approach)
                t_assess = INF
                if "plan" in sim.journey.activities[stage]:
                    t_plan = env.now + p.plan_days
            elif t == t_plan:
                _plan(sim, case, stage, setting, approach)
                t_plan = INF
                case.phase = "implement"
                _reassess_mode(sim, case)            # needs are known now
                approach.take_on(sim, case, stage)   # a task segmentation may hand the case on here
                if t_contact < INF:
                    t_contact = min(t_contact, env.now + modes[case.mode].contact_interval_days)
            else:   # a review (a contact at this instant has been settled above, before it)
                _review(sim, case, stage, approach)
                t_review = env.now + p.review_interval_days
                if t_contact < INF:   # a more intensive mode brings the next contact forward
                    t_contact = min(t_contact, env.now + modes[case.mode].contact_interval_days)

    def _finish(self) -> None:
        """The journey is over: the case leaves its holder, its providers and the model."""
        sim, case = self.sim, self.case
        now = sim.env.now
        if case.holder is not None:
            sim.approach[case.holder.setting].let_go(sim, case)
        for t in list(case.pending):
            t.provider.withdraw(t)
        sim.log.exit(now, case.no, outcome="completed")
        case.stage = None
        case.remove()


#: The one callback of a case process as an event (a shared tuple: nothing is allocated per wake-up).
_WAKE = (CaseProcess.wake,)


def _leave(sim: Simulation, case: Case, stage: str, spec: Any, k: int, outcome: str,
           start: float) -> tuple[str, str]:
    """The stay (the case's ``k``-th, begun at ``start``) ends with ``outcome``: log it; return the cause
    of the next stay and the next stage."""
    log, now = sim.log, sim.env.now
    log.stage_exit(now, case.no, stage=stage, outcome=outcome, days=now - start)
    if outcome == "completed":
        return outcome, sim.journey.next_stage(stage, case.risk, _u(case.luck, NEXT_STAGE, k))
    route = spec.on_breach
    holder_id = case.holder.unique_id if case.holder is not None else -1
    log.breach(now, case.no, stage=stage, holder=holder_id,
               cause=outcome if outcome != "breach" else "non_compliance")
    log.breach_route(now, case.no, route.event, stage=stage, holder=holder_id, cause=outcome)
    return route.event, route.to


def _assess(sim: Simulation, case: Case, stage: str, approach: Any, cause: str = "") -> None:
    """Look for needs not yet identified; each is found with the approach's detection probability."""
    detection = approach.assessment(sim, case)[1]
    k = case.assessments
    case.assessments += 1
    found = 0
    for need in case.needs:
        ni = sim.need_index[need]
        if not case.found >> ni & 1 and _u(case.luck, DETECT, k * 64 + ni) < detection:
            case.identify(ni)
            found += 1
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.assessment(sim.env.now, case.no, stage=stage, assessor=holder, cause=cause, found=float(found))


def _plan(sim: Simulation, case: Case, stage: str, setting: str, approach: Any) -> None:
    p = sim.scenario.process
    referred = {t.need for t in case.pending}
    todo = case.open_mask
    uptake = min(1.0, p.discretionary_uptake * case.motivation / 0.5)
    planned: list[str] = []
    now = sim.env.now
    for ni, need in enumerate(sim.needs):   # the needs found and not met, in the needs' order
        if not todo >> ni & 1 or need in referred:
            continue
        key = case.stays * 64 + ni
        if _u(case.luck, MANDATORY, key) >= p.mandatory_share and _u(case.luck, UPTAKE, key) >= uptake:
            continue
        planned.append(need)
        provider = sim.provider_for(setting, need)
        if provider is None:
            sim.log.referral(now, case.no, stage=stage, provider=-1, outcome="no_provider", need_index=float(ni))
            continue
        ticket = provider.refer(case, ni)
        if ticket is not None:
            case.pending += (ticket,)
    holder = case.holder
    sim.log.plan(now, case.no, stage=stage, holder=holder.unique_id if holder is not None else -1,
                 planned=float(len(planned)))
    approach.after_plan(sim, case, planned)


def _contact(sim: Simulation, case: Case, stage: str, enforceable: bool) -> bool:
    """One required contact; returns True when it leads to breach."""
    holder = case.holder
    now = sim.env.now
    k = case.contacts
    case.contacts += 1          # the k-th scheduled contact keeps its luck whether or not it happens
    staff = sim.deliverer(case)
    if staff is None:           # nobody at work to see the case: the contact is not offered
        sim.log.contact_cancelled(now, case.no, stage=stage, holder=holder.unique_id if holder is not None else -1,
                                  cause="holder_absent" if holder is not None else "unallocated")
        return False
    prob = sim.compliance.probability(case, now, staff.pressure)
    if _u(case.luck, CONTACT, k) < prob:
        case.kept_since_review += 1
        sim.log.contact_kept(now, case.no, stage=stage, holder=holder.unique_id, mode=case.mode, probability=prob)
        return False
    return _missed(sim, case, stage, enforceable, prob, k)


def _missed(sim: Simulation, case: Case, stage: str, enforceable: bool, prob: float, k: int,
            now: float | None = None) -> bool:
    """The case misses its ``k``-th contact, due at ``now`` (default: the clock; a window decided in aggregate
    passes its later contacts' times), kept with probability ``prob``; returns True when it leads to breach."""
    if now is None:
        now = sim.env.now
    case.missed_since_review += 1
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.contact_missed(now, case.no, stage=stage, holder=holder, mode=case.mode, probability=prob)
    if not enforceable:
        return False
    action = sim.enforcement.on_missed(case, now, _u(case.luck, ACCEPTABLE, k))
    if action == "warning":
        case.warning_times = (*case.warning_times, now)
        sim.log.warning(now, case.no, stage=stage, holder=holder, warnings=float(len(case.warning_times)))
        return False
    return action == "breach"


def _window(sim: Simulation, case: Case, before: float, review: float,
            longest: float) -> tuple[int, Any, float, tuple[int, int] | None]:
    """How many contacts one decision settles, from the one due now at the mode's interval, who delivers
    them (``None``: nobody is at work to see the case, and none of them is offered), that interval, and
    the contacts not offered because their deliverer is away (``(first, end)`` positions, or ``None``).

    The contacts at ``now + j * interval`` are taken while they come strictly before ``before`` (the stay's
    next assessment, plan, offence or end), the horizon and the next leave, absence, return or departure
    of anyone they rest on (the deliverer, the holder or the members of its team who come before the
    deliverer, a colleague covering, the manager the case goes back to), and no later than ``review`` and
    ``longest`` days from now. Who holds the case and who is at work therefore stay as they are now for
    every contact of the window. One exception: when the case's own manager delivers its contacts and the
    manager's next change is an absence that nobody acts on (no cover, no move: ``next_back``), the window
    runs across it, up to the manager's change after the return; the contacts due during the absence are
    not offered, as they would not be one by one. A case without a holder has a window of one contact: an
    allocation may come at any time.
    """
    holder = case.holder
    interval = sim.scenario.modes[case.mode].contact_interval_days
    if holder is None:
        return 1, None, interval, None
    staff = sim.deliverer(case)   # a colleague covering, or one of the holder's people()
    last = min(before, sim.horizon)
    now = sim.env.now
    away = None
    if staff is holder and holder.next_back is not None and holder.next_change > now and case.return_to is None:
        away = (holder.next_change, holder.next_back)   # (no cover: the holder itself delivers)
        if holder.next_after_back < last:
            last = holder.next_after_back
    else:
        for person in holder.people():
            if person.next_change < last:
                last = person.next_change
        if case.cover is not None and case.cover.next_change < last:
            last = case.cover.next_change
        if case.return_to is not None and case.return_to.next_change < last:
            last = case.return_to.next_change
    n = 1
    first = end = None
    while True:
        t = now + n * interval
        if t >= last or t > review or n * interval > longest:
            break
        if away is not None:
            if t == away[0] or t == away[1]:
                break   # a contact at the very instant of the change: decided after it, in a window of its own
            if first is None and t > away[0]:
                first = n
            if end is None and t > away[1]:
                end = n
        n += 1
    if first is None or first == end:   # no contact falls within the absence
        return n, staff, interval, None
    return n, staff, interval, (first, n if end is None else end)


def _not_offered(sim: Simulation, case: Case, stage: str, n: int, t: float) -> None:
    """The ``n`` contacts due from ``t`` are not offered: their holder (and whoever covers) is away until after
    the last of them. One ``contacts_cancelled`` row, or for one contact the row it would have one by one."""
    if n == 1:
        sim.log.contact_cancelled(t, case.no, stage=stage, holder=case.holder.unique_id, cause="holder_absent")
    else:
        sim.log.contacts_cancelled(t, case.no, stage=stage, holder=case.holder.unique_id, mode=case.mode,
                                   count=float(n))


def _settle(sim: Simulation, case: Case, stage: str, staff: Any, n: int, interval: float, enforceable: bool,
            away: tuple[int, int] | None = None) -> int:
    """Decide the window's ``n`` contacts (due now and at ``interval`` after; those at positions ``away``,
    if given, are not offered) and log them at their own times: each kept stretch as one ``contacts_kept``
    row, each miss as a ``contact_missed`` row with the enforcement it brings (a warning row, or breach), the
    ones not offered as one ``contacts_cancelled`` row (or ``contact_cancelled`` for one). Returns the
    position of the miss that leads to breach (its contacts after it are not due: the stay ends there), or
    ``n``.

    Rows after the first are logged ahead of the clock; the log is put in time order when it is read
    (:meth:`EventLog.columns`). Nothing else can reach the case before them: the window ends before its
    next happening and before any change of the people its contacts rest on (:func:`_window`). A miss
    changes nothing that a later contact of the window reads, so no process needs to wake for it; what it
    changes (the counts since the review, the warnings in force) is read at the review after the window
    and at later misses, which come in order here.

    Contact ``j`` is kept with the probability of the compliance model at its own time, with the caseload
    pressure of ``staff`` now (the continuity term moves with time; risk, mode and the holder stay within a
    window; unmet needs and pressure are taken as they are now). :func:`first_miss` finds each miss with the
    law of one draw per contact, with one uniform per candidate.
    """
    comp, log = sim.compliance, sim.log
    now = sim.env.now
    pressure = staff.pressure
    luck, no, holder, mode = case.luck, case.no, case.holder.unique_id, case.mode
    k0 = case.contacts
    log.in_order = False   # the window's later rows are logged ahead of the clock
    for lo, hi, offered in ((0, n, True),) if away is None else ((0, away[0], True), (away[0], away[1], False),
                                                                  (away[1], n, True)):
        if lo >= hi:
            continue
        if not offered:   # the holder is away, and nobody covers
            _not_offered(sim, case, stage, hi - lo, now + lo * interval)
            continue
        j = lo
        while j < hi:
            def keep(i: int, start: float = now + j * interval) -> float:
                # (at the time the tables give the i-th contact of a stretch logged at ``start``, to the bit)
                return comp.probability(case, start + i * interval, pressure)

            kept, prob = first_miss(hi - j, keep, lambda i, k=k0 + j: _u(luck, CONTACT, k + i),
                                    lambda i, k=k0 + j: _u(luck, CONTACT_THIN, k + i))
            if kept:
                case.kept_since_review += kept
                log.contacts_kept(now + j * interval, no, stage=stage, holder=holder, mode=mode, count=float(kept))
                j += kept
                if j == hi:
                    break
            if _missed(sim, case, stage, enforceable, prob, k0 + j, now + j * interval):   # contact j
                case.contacts = k0 + j + 1
                return j
            j += 1
    case.contacts = k0 + n
    return n


def first_miss(n: int, keep: Callable[[int], float], u_gap: Callable[[int], float],
               u_thin: Callable[[int], float]) -> tuple[int, float]:
    """The first of ``n`` contacts that is missed, when contact ``j`` is kept with probability ``keep(j)``
    independently of the others, and ``keep`` is monotone in ``j`` (the compliance model's is: only its
    continuity term moves, and that one way). Returns ``(j, keep(j))``, or ``(n, 1.0)`` when all are kept.

    Thinning: with ``q`` the largest miss probability of the window (at its first or its last contact),
    the gap to the next candidate is geometric, ``floor(log u / log(1 - q))`` from the uniform
    ``u_gap(j)`` of the contact ``j`` where the search resumes, and a candidate ``c`` is a miss when
    ``u_thin(c) * q < 1 - keep(c)``. The result has exactly the distribution of one draw per contact, with
    one uniform per candidate instead of one per contact.
    """
    q_max = 1.0 - min(keep(0), keep(n - 1))
    if q_max <= 0.0:
        return n, 1.0
    log_keep = math.log1p(-q_max) if q_max < 1.0 else -INF
    j = 0
    while j < n:
        gap = math.log(u_gap(j)) / log_keep   # contacts kept before the next candidate
        if gap >= n - j:
            break
        c = j + int(gap)
        p_c = keep(c)
        if u_thin(c) * q_max < 1.0 - p_c:
            return c, p_c
        j = c + 1
    return n, 1.0


def _review(sim: Simulation, case: Case, stage: str, approach: Any) -> None:
    now = sim.env.now
    seen = case.kept_since_review + case.missed_since_review
    share = case.kept_since_review / seen if seen else math.nan
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.review(now, case.no, stage=stage, holder=holder, share_kept=share)
    rr = sim.scenario.process.risk_review
    u = _u(case.luck, RISK_REVIEW, case.reviews)
    case.reviews += 1
    level = RISKS.index(case.risk)
    if seen:
        step = 0
        if share >= rr.compliant_threshold and level > 0 and u < rr.p_down_if_compliant:
            step = -1
        elif share < rr.compliant_threshold and level < len(RISKS) - 1 and u < rr.p_up_if_noncompliant:
            step = 1
        if step:
            case.risk = RISKS[level + step]
            case.logit0 = None
            sim.log.risk_change(now, case.no, stage=stage, holder=holder, risk=case.risk, step=float(step))
    case.kept_since_review = case.missed_since_review = 0
    approach.on_review(sim, case)
    _reassess_mode(sim, case)
    approach.take_on(sim, case, stage)
    _assess(sim, case, stage, approach, "review")      # re-assessment: needs missed before may be found


def _reassess_mode(sim: Simulation, case: Case) -> None:
    """Ask the mode rule for the case's mode; log a change."""
    mode = sim.mode_rule.mode_for(case)
    if mode != case.mode:
        sim.set_mode(case, mode)
