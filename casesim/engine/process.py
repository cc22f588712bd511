"""The case-management cycle, run for every case in every stage, as one process per case on SimPy's
scheduler (:class:`CaseProcess`).

A stay in a stage: the approach of the stage's setting takes the case on; then ASSESS (takes
the approach's assessment time; finds needs), PLAN (referrals from needs, mandatory or
discretionary), IMPLEMENT (contacts at the mode's interval, each kept or missed, with
enforcement on misses; interventions run at providers), REVIEW (at a fixed interval: risk and
mode re-scored, the team re-meets) and back to IMPLEMENT, until the stay ends or a breach or a
further offence cuts it short. The process sleeps until its next happening, so the cost is one
SimPy event per happening, not per tick. Every required contact is decided at its own time, so the
case's state may change between any two contacts.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from casesim.engine.rng import (
    CARRY_OVER,
    CONTACT,
    DETECT,
    DURATION,
    MANDATORY,
    NEXT_STAGE,
    OFFENCE_ENDS,
    PRESSURE_DROP,
    REOFFEND,
    REOFFEND_AGAIN,
    RESIDUAL,
    RISK_REVIEW,
    UPTAKE,
    Luck,
    sample,
)
from casesim.scenario.params import DAYS_PER_YEAR, EXIT, RISKS

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.engine.simulation import Simulation
    from casesim.scenario.schema import Scenario

INF = math.inf
_u = Luck.u


class ComplianceModel:
    """Probability that a case keeps a required contact (logistic; see docs/model.md).

    logit p = intercept + b_prop·propensity + b_mot·(motivation − 0.5) + b_risk[risk]
              + b_int·intensity(mode) + b_cont·min(1, days with holder / saturation)
              + b_press·max(0, pressure − threshold) + b_unmet·unmet needs
              + b_spec·[the deliverer matches the case] + b_unskilled·[the deliverer is not skilled in the mode]

    The last two are the skill terms (``scenario.skill``), read off the staff member who delivers the contact.
    """

    def __init__(self, scenario: Scenario) -> None:
        c = scenario.compliance
        self.c = c
        self.specialist = scenario.skill.specialist_compliance
        self.unskilled = scenario.skill.unskilled_mode_compliance
        self.base = {(r, m): c.intercept + c.risk[r] + c.intensity * spec.intensity
                     for r in RISKS for m, spec in scenario.modes.items()}
        self.sat = c.continuity_saturation_days

    def probability(self, case: Case, now: float, pressure: float, staff: Any = None) -> float:
        """The probability that ``case`` keeps a contact delivered now by ``staff`` (None: nobody's skill
        counts) at workload pressure ``pressure``."""
        c = self.c
        x = case.logit0
        if x is None:   # the terms fixed while risk and mode stay (summed in the same order as below)
            x = case.logit0 = (self.base[(case.risk, case.mode)] + c.propensity * case.propensity
                               + (0.0 if case.sanction is None else case.sanction.deterrent))
        x = (x + c.motivation * (case.motivation - 0.5)
             + c.continuity * min(1.0, (now - case.holder_since) / self.sat)
             + c.pressure * max(0.0, pressure - c.pressure_threshold)
             + c.unmet_need * case.unmet)
        if staff is not None:   # the skill terms: a couple of set lookups (none for generic, skilled staff)
            if case.mode not in staff.modes:
                x += self.unskilled
            if staff.specialist and staff.matches(case):
                x += self.specialist
        try:
            return 1.0 / (1.0 + math.exp(-x))
        except OverflowError:   # x below about -709 (a manager far over a tiny capacity): the probability is 0
            return 0.0


#: Where a sleeping case process resumes (``CaseProcess.at``).
_BEGIN, _CONTACT, _STEP, _END = range(4)


class ReoffendingModel:
    """The hazard ratio of a case's further offence (``scenario.reoffending``; see docs/model.md).

    ratio = product of needs_met[n] over the needs met x exp(b_int[risk] x (intensity(mode) - reference[risk]))
            x exp(b_mot x (motivation - 0.5)) x exp(b_custody) once the person has left a stay in custody

    A case's stage rate times this ratio is its hazard until its next happening. With every effect off the
    ratio is exactly 1 and the model is as without it.
    """

    def __init__(self, scenario: Scenario) -> None:
        r = scenario.reoffending
        needs = list(scenario.arrivals.needs_prevalence)
        self.need_ratio = [r.needs_met.get(n, 1.0) for n in needs]
        self.by_done: dict[int, float] = {}   # bit mask of the needs met -> their product
        self.by_mode = {(risk, m): math.exp(r.intensity[risk] * (spec.intensity - r.reference_intensity[risk]))
                        for risk in RISKS for m, spec in scenario.modes.items()}
        self.motivation = r.motivation
        self.custody = math.exp(r.after_custody)   # (exactly 1.0 at 0)
        # Further offences dealt with alongside a supervised stay (the stay goes on), per year by stage and risk:
        # the supervised rate above the stage's own rate of offences that end the stay (see ``CaseProcess``).
        self.alongside: dict[str, dict[str, float]] = {}
        for name, st in scenario.journey.stages.items():
            if st.setting == "community" and st.on_breach is not None:
                self.alongside[name] = {risk: max(0.0, r.supervised_rate_per_year[risk]
                                                  - st.reoffending_rate_per_year[risk]) for risk in RISKS}

    def rate_alongside(self, stage: str, risk: str) -> float:
        """Further offences per year in ``stage`` that do not end the stay, for ``risk`` (before the ratio)."""
        by_risk = self.alongside.get(stage)
        return by_risk[risk] if by_risk is not None else 0.0

    def ratio(self, case: Case, supervised: bool = True) -> float:
        """The hazard ratio of ``case`` now: what its needs met, its mode for its risk (while ``supervised``)
        and its motivation do."""
        return self.with_motivation(self.fixed(case, supervised), case)

    def fixed(self, case: Case, supervised: bool = True) -> float:
        """The part of the ratio that changes only with the needs met, the mode, the risk and whether the person
        has been in custody (not with each contact, as motivation does)."""
        done = case.done
        x = self.by_done.get(done)
        if x is None:
            x = 1.0
            for i, hr in enumerate(self.need_ratio):
                if done >> i & 1:
                    x *= hr
            self.by_done[done] = x
        if supervised and case.mode is not None:
            x *= self.by_mode[case.risk, case.mode]
        if case.been_in_custody:
            x *= self.custody
        return x

    def with_motivation(self, fixed: float, case: Case) -> float:
        """``fixed`` (:meth:`fixed`) times the motivation factor of ``case`` now."""
        return fixed * math.exp(self.motivation * (case.motivation - 0.5)) if self.motivation else fixed


class CaseProcess:
    """The whole journey of one case, stay after stay, until EXIT: a state machine woken by the scheduler.

    A case waits for one thing at a time (its next happening). The stay's state (its clock of next
    happenings, where it resumes) lives in the object's slots between wake-ups, and each sleep is an
    ordinary ``env.timeout`` whose callback wakes the case: SimPy is used through its public API only.

    The order of events is that of a SimPy process running the journey as a generator: the first wake-up
    comes from a process started at creation (SimPy starts a process with an urgent event, ahead of the
    ordinary events due at the same time), and each sleep is scheduled when and as that generator's timeout
    would be. A state machine rather than a generator keeps no frame alive between wake-ups.
    """

    __slots__ = ("at", "sim", "case", "stage", "cause", "residual", "previous", "spec", "k", "start",
                 "end", "t_assess", "t_plan", "t_contact", "t_review", "t_offence", "alarm", "late", "late_cause",
                 "h_base", "h_left", "h_ratio", "h_at", "h_of", "h_fixed", "h_end", "h_n", "length")

    def __init__(self, sim: Simulation, case: Case, stage: str, cause: str, residual: bool = False,
                 length: float | None = None) -> None:
        self.sim, self.case, self.stage, self.cause, self.residual = sim, case, stage, cause, residual
        self.length = length   # the first stay's length, when it is given (a measure received from elsewhere)
        self.previous = None
        self.at = _BEGIN
        self.alarm: Any = None   # the timeout the process sleeps on: a wake-up from any other is stale
        self.late: float | None = None   # when the contact waiting for someone to see the case fell due
        self.late_cause = ""
        sim.env.process(self._first())

    def _first(self) -> Generator[Any, Any, None]:
        """The first wake-up, at once (the process ends with it; later wake-ups come from timeouts)."""
        self.wake()
        yield from ()

    def wake(self, event: Any = None) -> None:
        """Run from where the process slept until it must sleep again or the journey ends (as the callback
        of the timeout it slept on, which SimPy passes in). A process woken early for a postponed contact
        (:meth:`nudge`) takes this callback off the timeout it slept on, which SimPy cannot cancel; a
        wake-up from any timeout but the one it sleeps on would be stale and does nothing."""
        if event is not self.alarm:
            return
        at = self.at
        if at == _BEGIN:
            outcome = self._begin()
        elif at == _END:
            outcome = "completed"
        else:
            outcome = self._advance(at)
        self._carry_on(outcome)

    def nudge(self, _event: Any = None) -> None:
        """Someone may now be at work to see the case (its holder or cover changed, or a member of staff
        came back): offer the contact waiting, if there is one and someone can, at once; else wait on.
        Run as the callback of a timeout of 0 the engine schedules (``Simulation.contact_may_go_ahead``),
        so the change that caused it is complete when it runs."""
        if self.late is None or self.at == _BEGIN:
            return
        sim = self.sim
        if sim.deliverer(self.case) is None:
            sim.wait_for_deliverer(self)
            return
        alarm = self.alarm   # the sleep the process was in is abandoned: its timeout will wake nothing
        if alarm is not None and alarm.callbacks:
            alarm.callbacks.remove(self.wake)
        self.alarm = None
        self.t_contact = sim.env.now
        self._carry_on(self._advance(_BEGIN))

    def _carry_on(self, outcome: str | None) -> None:
        """The stay ended now with ``outcome`` (None: it goes on): leave it and begin the next, until one
        sleeps or the journey ends."""
        while outcome is not None:   # the stay ended now; the next begins at once
            sim, case = self.sim, self.case
            self.previous = stage = self.stage
            if self.late is not None:   # the contact waiting goes with the stay: it was never delivered
                sim.log.contact_cancelled(sim.env.now, case.no, stage=stage, holder=_holder_id(case),
                                          cause=self.late_cause)
                self.late = None
                sim.stop_waiting(self)
            self.cause, self.stage = _leave(sim, case, stage, self.spec, self.k, outcome, self.start)
            self.residual = False
            outcome = self._begin()

    def _sleep(self, at: int, delay: float, t_assess: float, t_plan: float, t_contact: float,
               t_review: float) -> None:
        """Keep the stay's clock and sleep ``delay`` days."""
        self.at = at
        self.t_assess, self.t_plan, self.t_contact, self.t_review = t_assess, t_plan, t_contact, t_review
        self.alarm = alarm = self.sim.env.timeout(delay)
        alarm.callbacks.append(self.wake)

    def _begin(self) -> str | None:
        """Begin a stay in ``self.stage`` (or end the journey at EXIT) and run it until it sleeps (None) or
        ends at once (its outcome)."""
        sim, case, stage = self.sim, self.case, self.stage
        if stage == EXIT:
            self._finish()
            return None
        env, log, journey, p = sim.env, sim.log, sim.journey, sim.rules
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
        if self.length is not None:   # (given for the first stay only)
            length, self.length = self.length, None
        self.end = start + length
        log.stage_enter(start, case.no, stage=stage, cause=self.cause, stay=float(k))

        approach = sim.approach[setting]
        # Moving to the other setting: the approach left says how much of its work carries over (needs
        # identified and met stay with the case regardless).
        left = journey.setting[self.previous] if self.previous is not None else setting
        carry = sim.approach[left].handover(sim, case) if left != setting else 0.0
        planned_before = carry > 0 and "plan" in journey.activities[self.previous] and case.phase == "implement"
        if (case.holder is not None and case.holder.setting != setting
                and not approach.keeps_across(sim, case, stage)):
            sim.approach[case.holder.setting].let_go(sim, case)
        carried = []
        for t in [t for t in case.pending if t.provider.setting != setting]:
            t.provider.withdraw(t)
            if carry > 0 and "plan" in acts and _u(case.luck, CARRY_OVER, t.k) < carry:
                carried.append(t.need_index)
        _reassess_mode(sim, case)
        case.phase = "assess" if ("assess" in acts or "plan" in acts) else "implement"
        approach.take_on(sim, case, stage)
        if carried:
            _carry_referrals(sim, case, setting, approach, carried)

        if "assess" in acts:   # a plan carried over from the other setting shortens the assessment
            self.t_assess = start + approach.assessment(sim, case)[0] * (1.0 - carry if planned_before else 1.0)
        else:
            self.t_assess = INF
        self.t_plan = INF
        self.t_contact = start + p.first_contact_days if "contacts" in acts else INF
        self.t_review = start + p.review_interval_days if "review" in acts else INF
        if sim.transfer_out:   # a measure this service may transfer to a linked service: its rule decides
            rule = sim.transfer_out.get(stage)
            if rule is not None:
                rule.consider(self)
        # The further-offence clock: the case's own unit-exponential draw, used up at the stage's rate (for the
        # risk at entry) times the hazard ratio of what supervision has done so far (``_rehazard``). The rate is
        # that of every further offence in the stay; the stage's own rate of those that end it is ``h_end``, and
        # each offence ends the stay with probability h_end / h_base (``_offence_ends``).
        frailty = case.frailty   # (the person's own multiplier of every offending rate)
        self.h_end = end_rate = spec.reoffending_rate_per_year[case.risk] * frailty
        self.h_base = rate = end_rate + sim.reoffending.rate_alongside(stage, case.risk) * frailty
        self.h_n = 0
        if rate > 0:
            self.h_left = -math.log(_u(case.luck, REOFFEND, k))
            self.h_fixed = fixed = sim.reoffending.fixed(case)
            self.h_of = (case.done, case.mode, case.risk)   # what the fixed part was computed from
            self.h_ratio = ratio = sim.reoffending.with_motivation(fixed, case)
            self.h_at = start
            self.t_offence = start + DAYS_PER_YEAR * self.h_left / (rate * ratio)
        else:
            self.t_offence = INF
        return self._advance(_BEGIN)

    def _rehazard(self) -> float:
        """Re-evaluate the hazard ratio now (a happening of the case may have changed what it depends on) and
        return the time of the further offence: the draw left over, used up at the new rate. With the ratio
        unchanged the time stays exactly as it was."""
        rate = self.h_base
        if rate <= 0:
            return INF
        case, model = self.case, self.sim.reoffending
        if case.done != self.h_of[0] or case.mode is not self.h_of[1] or case.risk is not self.h_of[2]:
            self.h_of = (case.done, case.mode, case.risk)
            self.h_fixed = model.fixed(case)
        ratio = model.with_motivation(self.h_fixed, case)   # (motivation moves at nearly every contact)
        if ratio != self.h_ratio:
            now = self.sim.env.now
            self.h_left = max(0.0, self.h_left - rate * self.h_ratio * (now - self.h_at) / DAYS_PER_YEAR)
            self.h_at = now
            self.h_ratio = ratio
            self.t_offence = now + DAYS_PER_YEAR * self.h_left / (rate * ratio)
        return self.t_offence

    def _offence_ends(self) -> bool:
        """A further offence now: whether it ends the stay (probability: the stage's rate of offences that end
        it over the rate of all, the same whatever the ratio). One that does not is logged (``during_stay``) and
        the clock starts again from a fresh draw of the case's. With no offences alongside, every offence ends
        the stay and nothing is drawn."""
        rate, end = self.h_base, self.h_end
        if end >= rate:
            return True
        case, sim = self.case, self.sim
        k = (self.k << 16) + self.h_n
        self.h_n += 1
        if end > 0 and _u(case.luck, OFFENCE_ENDS, k) * rate < end:
            return True
        now = sim.env.now
        sim.log.offence(now, case.no, stage=self.stage, when="during_stay", hazard_ratio=self.h_ratio)
        self.h_left = -math.log(_u(case.luck, REOFFEND_AGAIN, k))
        self.h_at = now
        self.t_offence = now + DAYS_PER_YEAR * self.h_left / (rate * self.h_ratio)
        return False

    def _advance(self, at: int) -> str | None:
        """Run the stay from where it woke (``_CONTACT``: the contact due now; ``_STEP``: the happening due
        now; otherwise from the top) until it sleeps (None) or ends (its outcome)."""
        sim, case = self.sim, self.case
        env, p, stage = sim.env, sim.rules, self.stage
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
                    late = self.late
                    if late is None:   # a contact falls due now
                        settled = _contact(sim, case, stage, enforceable)
                    else:              # the contact waiting: someone can see the case now, or it is too late
                        self.late = None
                        sim.stop_waiting(self)
                        settled = _late_contact(sim, case, stage, enforceable, late, self.late_cause)
                    if settled is None:   # nobody to see the case: the contact waits, at most the slip limit
                        self.late, self.late_cause = env.now, _holder_cause(case)
                        sim.log.contact_postponed(env.now, case.no, stage=stage, holder=_holder_id(case),
                                                  cause=self.late_cause)
                        sim.wait_for_deliverer(self)
                        t_contact = env.now + p.max_contact_slip_days
                        continue
                    if settled:
                        return "breach"
                    t_contact = env.now + sim.contact_interval(case)
                    t_offence = self._rehazard()
                    other = min(t_assess, t_plan, t_offence, end)
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
                if self._offence_ends():
                    return "further_offence"
                t_offence = self.t_offence   # dealt with alongside the stay: the next one's clock
                continue
            setting = sim.journey.setting[stage]   # (the stay's setting, approach and activities: rare here)
            approach = sim.approach[setting]
            if t == t_assess:
                _assess(sim, case, stage, approach)
                t_assess = INF
                if "plan" in sim.journey.activities[stage]:
                    t_plan = env.now + approach.plan_days(sim, case)
            elif t == t_plan:
                _plan(sim, case, stage, setting, approach)
                t_plan = INF
                case.phase = "implement"
                _reassess_mode(sim, case)            # needs are known now
                approach.take_on(sim, case, stage)   # a task segmentation may hand the case on here
                if t_contact < INF and self.late is None:   # (a contact waiting keeps its slip limit)
                    t_contact = min(t_contact, env.now + sim.contact_interval(case))
            else:   # a review (a contact at this instant has been settled above, before it)
                _review(sim, case, stage, approach)
                holder = case.holder   # a pressed holder's next review slips
                lapse = sim.practice_lapse(holder.load_bearer if holder is not None else None)
                t_review = env.now + p.review_interval_days * (1.0 + sim.practice.review_delay * lapse)
                if t_contact < INF and self.late is None:   # a more intensive mode brings the next contact forward
                    t_contact = min(t_contact, env.now + sim.contact_interval(case))
            t_offence = self._rehazard()   # needs found or met, a new mode: the hazard from now on

    def same_stay(self, stage: str, k: int) -> bool:
        """Whether the case is still in its ``k``-th stay, in ``stage`` (for happenings scheduled from outside
        the stay's own clock, which find it over if it has ended since)."""
        return self.case.stage == stage and self.stage == stage and self.k == k

    def leave_for_elsewhere(self) -> None:
        """The measure goes to a linked service now (:mod:`casesim.engine.transfer`): the stay ends with
        ``transferred`` and the case leaves its holder, its providers and this service, with no offending after
        exit here (the receiving service follows the person). The sleep the stay was in is abandoned."""
        sim, case = self.sim, self.case
        now = sim.env.now
        alarm = self.alarm
        if alarm is not None and alarm.callbacks and self.wake in alarm.callbacks:
            alarm.callbacks.remove(self.wake)
        self.alarm = None
        if self.late is not None:   # the contact waiting goes with the stay: it was never delivered
            sim.log.contact_cancelled(now, case.no, stage=self.stage, holder=_holder_id(case),
                                      cause=self.late_cause)
            self.late = None
            sim.stop_waiting(self)
        if case.sanction is not None:
            sim.end_sanction(case)
        sim.log.stage_exit(now, case.no, stage=self.stage, outcome="transferred", days=now - self.start)
        if case.holder is not None:
            sim.approach[case.holder.setting].let_go(sim, case)
        for t in list(case.pending):
            t.provider.withdraw(t)
        sim.log.exit(now, case.no, outcome="transferred")
        case.stage = None
        self.stage = EXIT
        case.remove()

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
        sim.left(case)


def _leave(sim: Simulation, case: Case, stage: str, spec: Any, k: int, outcome: str,
           start: float) -> tuple[str, str]:
    """The stay (the case's ``k``-th, begun at ``start``) ends with ``outcome``: log it; return the cause
    of the next stay and the next stage."""
    log, now = sim.log, sim.env.now
    log.stage_exit(now, case.no, stage=stage, outcome=outcome, days=now - start)
    if outcome == "further_offence":
        log.offence(now, case.no, stage=stage, when="supervised", hazard_ratio=sim.reoffending.ratio(case))
    if sim.journey.setting[stage] == "custody":   # (from now on: ``reoffending.after_custody``)
        case.been_in_custody = True
    if outcome == "completed":
        return outcome, sim.journey.next_stage(stage, case.risk, _u(case.luck, NEXT_STAGE, k))
    route = spec.on_breach
    holder_id = case.holder.unique_id if case.holder is not None else -1
    log.breach(now, case.no, stage=stage, holder=holder_id,
               cause=outcome if outcome != "breach" else "non_compliance")
    sim.did(case, "breach")
    log.breach_route(now, case.no, route.event, stage=stage, holder=holder_id, cause=outcome)
    if route.event == "return_to_court":
        sim.did(case, "breach_report")
    return route.event, route.to


def _assess(sim: Simulation, case: Case, stage: str, approach: Any, cause: str = "") -> None:
    """Look for needs not yet identified; each is found with the approach's detection probability, its odds
    raised by ``skill.specialist_detection`` when the assessor (the holder, or a team's load bearer) is a
    specialist matching the case."""
    detection = approach.assessment(sim, case)[1]
    bonus = sim.skill.specialist_detection
    if bonus and 0.0 < detection < 1.0 and case.holder is not None:
        assessor = case.holder.load_bearer
        if assessor.specialist and assessor.matches(case):
            detection = 1.0 / (1.0 + (1.0 / detection - 1.0) * math.exp(-bonus))
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
    if not cause:   # (a re-assessment at a review is in the caseload's weekly hours)
        sim.did(case, "assessment")


def _plan(sim: Simulation, case: Case, stage: str, setting: str, approach: Any) -> None:
    p = sim.rules
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
    approach.convene(sim, case, planned)   # (a team seats the providers' representatives first)
    for need in planned:
        ni = sim.need_index[need]
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
    sim.did(case, "plan")
    approach.after_plan(sim, case, planned)


def _carry_referrals(sim: Simulation, case: Case, setting: str, approach: Any, needs: list[int]) -> None:
    """Re-make at once, to ``setting``'s provider of the same need, the referrals the case had open in the
    other setting and carried over (``needs``: their need indexes); a need with no provider here waits for
    the plan."""
    names = [sim.needs[ni] for ni in needs if sim.provider_for(setting, sim.needs[ni]) is not None
             and not case.done >> ni & 1]
    if not names:
        return
    approach.convene(sim, case, names)
    for need in names:
        ticket = sim.provider_for(setting, need).refer(case, sim.need_index[need])
        if ticket is not None:
            case.pending += (ticket,)


def _holder_id(case: Case) -> int:
    return case.holder.unique_id if case.holder is not None else -1


def _holder_cause(case: Case) -> str:
    """Why nobody can see the case: its holder (and cover) away, or no holder."""
    return "holder_absent" if case.holder is not None else "unallocated"


def _contact(sim: Simulation, case: Case, stage: str, enforceable: bool) -> bool | None:
    """One required contact, due now; returns True when it leads to breach, None when nobody is at work to
    see the case and it waits (``process.max_contact_slip_days`` above 0; at 0 it is not delivered at once)."""
    now = sim.env.now
    k = case.contacts
    case.contacts += 1          # the k-th scheduled contact keeps its luck whether or not it happens
    staff = sim.deliverer(case)
    if staff is None:           # nobody at work to see the case
        if sim.rules.max_contact_slip_days > 0:
            return None
        sim.log.contact_cancelled(now, case.no, stage=stage, holder=_holder_id(case), cause=_holder_cause(case))
        return False
    return _offer(sim, case, stage, enforceable, staff, k)


def _late_contact(sim: Simulation, case: Case, stage: str, enforceable: bool, due: float, cause: str) -> bool:
    """The contact that fell due at ``due`` and waited (the case's last counted one, so it keeps its luck),
    now: offered if someone is at work to see the case, else not delivered (it has slipped as far as it
    may). Returns True when it leads to breach."""
    now = sim.env.now
    staff = sim.deliverer(case)
    if staff is None:
        sim.log.contact_cancelled(now, case.no, stage=stage, holder=_holder_id(case), cause=cause)
        return False
    k = case.contacts - 1
    pressure = sim.workload_pressure(staff)
    if _too_pressed(sim, case, stage, k, pressure):
        return False
    sim.log.contact_late(now, case.no, stage=stage, holder=_holder_id(case), days_late=now - due)
    sim.caught_up(case, staff)
    return _see(sim, case, stage, enforceable, staff, k, pressure)


def _too_pressed(sim: Simulation, case: Case, stage: str, k: int, pressure: float) -> bool:
    """Whether the staff member who would see the case for its ``k``-th contact, at workload ``pressure``, is
    too pressed to see it at all (logged as not delivered, cause ``staff_pressure``)."""
    practice = sim.practice
    if pressure <= practice.threshold or practice.contacts_not_delivered <= 0:
        return False
    lapse = min(practice.contacts_not_delivered_max, practice.contacts_not_delivered * (pressure - practice.threshold))
    if _u(case.luck, PRESSURE_DROP, k) >= lapse:
        return False
    sim.log.contact_cancelled(sim.env.now, case.no, stage=stage, holder=_holder_id(case), cause="staff_pressure")
    return True


def _offer(sim: Simulation, case: Case, stage: str, enforceable: bool, staff: Any, k: int) -> bool:
    """``staff`` would see the case for its ``k``-th contact, due now: not delivered if too pressed, else kept
    or missed; returns True when it leads to breach."""
    pressure = sim.workload_pressure(staff)
    if _too_pressed(sim, case, stage, k, pressure):
        return False
    return _see(sim, case, stage, enforceable, staff, k, pressure)


def _see(sim: Simulation, case: Case, stage: str, enforceable: bool, staff: Any, k: int, pressure: float) -> bool:
    """``staff``, at workload ``pressure``, sees the case for its ``k``-th contact: kept or missed; returns True
    when it leads to breach."""
    holder = case.holder
    now = sim.env.now
    prob = sim.compliance.probability(case, now, pressure, staff)
    sim.engage(case, now, pressure)   # (after the probability: the contact is decided by the case as it came)
    if _u(case.luck, CONTACT, k) < prob:
        case.kept_since_review += 1
        sim.log.contact_kept(now, case.no, stage=stage, holder=holder.unique_id, mode=case.mode, probability=prob)
        return False
    return _missed(sim, case, stage, enforceable, prob, k, staff)


def _missed(sim: Simulation, case: Case, stage: str, enforceable: bool, prob: float, k: int, staff: Any) -> bool:
    """The case misses its ``k``-th contact, due now, seen by ``staff`` and kept with probability ``prob``; the
    enforcement policy decides what follows, as the holder would. Returns True when it leads to breach (which
    ends a sanction running)."""
    now = sim.env.now
    case.missed_since_review += 1
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.contact_missed(now, case.no, stage=stage, holder=holder, mode=case.mode, probability=prob)
    if not enforceable:
        return False
    action = sim.enforcement.on_missed(sim, case, staff, now, k)
    if action == "warning":
        sim.did(case, "warning")
        sim.warned(case)
        case.warning_times = (*case.warning_times, now)
        sim.log.warning(now, case.no, stage=stage, holder=holder, warnings=float(len(case.warning_times)))
        return False
    if action == "breach":
        sim.end_sanction(case)
        return True
    return False


def _review(sim: Simulation, case: Case, stage: str, approach: Any) -> None:
    now = sim.env.now
    seen = case.kept_since_review + case.missed_since_review
    share = case.kept_since_review / seen if seen else math.nan
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.review(now, case.no, stage=stage, holder=holder, share_kept=share)
    rr = sim.rules.risk_review
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
