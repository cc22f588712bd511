"""The case-management cycle, run for every case in every stage, as one SimPy process per case.

A stay in a stage: the approach of the stage's setting takes the case on; then ASSESS (takes
the approach's assessment time; finds needs), PLAN (referrals from needs, mandatory or
discretionary), IMPLEMENT (contacts at the mode's interval, each kept or missed, with
enforcement on misses; interventions run at providers), REVIEW (at a fixed interval: risk and
mode re-scored, the team re-meets) and back to IMPLEMENT, until the stay ends or a breach or a
further offence cuts it short. The process sleeps until its next happening, so the cost is one
SimPy event per happening, not per tick.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from simpy.events import Timeout

from casesim.params import EXIT, RISKS
from casesim.rng import (
    ACCEPTABLE,
    CONTACT,
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

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.scenario import Scenario
    from casesim.simulation import Simulation

INF = math.inf
_u = Luck.u


class ComplianceModel:
    """Probability that a case keeps a required contact (logistic; see README).

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
        return 1.0 / (1.0 + math.exp(-x))


def case_process(sim: Simulation, case: Case, stage: str, cause: str,
                 residual: bool = False) -> Generator[Any, Any, None]:
    """The whole journey of one case, stay after stay, until EXIT."""
    previous = None
    while stage != EXIT:
        outcome, nxt = yield from _stay(sim, case, stage, previous, cause, residual)
        previous, stage, cause, residual = stage, nxt, outcome, False
    now = sim.env.now
    if case.holder is not None:
        sim.approach[case.holder.setting].let_go(sim, case)
    for t in list(case.pending):
        t.provider.withdraw(t)
    sim.log.add(now, case.no, "exit", "", -1, "completed", 1.0)
    case.stage = None
    case.remove()


def _stay(sim: Simulation, case: Case, stage: str, previous: str | None, cause: str,
          residual: bool) -> Generator[Any, Any, tuple[str, str]]:
    env, log, journey, p = sim.env, sim.log, sim.journey, sim.scenario.process
    spec = journey.stages[stage]
    setting = journey.setting[stage]
    acts = journey.activities[stage]
    k = case.stays
    case.stays += 1
    case.stage = stage
    start = env.now
    d = journey.stay_duration(stage, previous)
    length = sample(d.dist, d.mean_days[case.risk] * d.offence_multiplier.get(case.offence, 1.0), d.cv,
                    _u(case.luck, DURATION, k))
    if residual:
        length *= _u(case.luck, RESIDUAL, k)
    end = start + length
    log.add(start, case.no, "stage_enter", stage, -1, cause, float(k))

    approach = sim.approach[setting]
    if (case.holder is not None and case.holder.setting != setting
            and not approach.keeps_across(sim, case, stage)):
        sim.approach[case.holder.setting].let_go(sim, case)
    for t in [t for t in case.pending if t.provider.setting != setting]:
        t.provider.withdraw(t)
    _reassess_mode(sim, case)
    case.phase = "assess" if ("assess" in acts or "plan" in acts) else "implement"
    approach.take_on(sim, case, stage)

    t_assess = start + approach.assessment(sim, case)[0] if "assess" in acts else INF
    t_plan = INF
    t_contact = start + p.first_contact_days if "contacts" in acts else INF
    t_review = start + p.review_interval_days if "review" in acts else INF
    rate = spec.reoffending_rate_per_year[case.risk]
    t_offence = start - 365.25 * math.log(_u(case.luck, REOFFEND, k)) / rate if rate > 0 else INF
    outcome = "completed"
    modes = sim.scenario.modes
    enforceable = spec.on_breach is not None
    while True:
        # Contacts first, in a tight loop while the next contact comes before every other happening of
        # the stay (an assessment, plan, offence or the end at the same instant goes first; a review
        # at the same instant goes after): the same order as the general step below, with less work.
        other = min(t_assess, t_plan, t_offence, end)
        while t_contact < other and t_contact <= t_review:
            if t_contact > env.now:
                yield Timeout(env, t_contact - env.now)
            if _contact(sim, case, stage, enforceable):
                outcome = "breach"
                break
            t_contact = env.now + modes[case.mode].contact_interval_days
        if outcome == "breach":
            break
        t = min(t_assess, t_plan, t_contact, t_review, t_offence)
        if t >= end:
            if end > env.now:
                yield env.timeout(end - env.now)
            break
        if t > env.now:
            yield env.timeout(t - env.now)
        if t == t_offence:
            outcome = "further_offence"
            break
        if t == t_assess:
            _assess(sim, case, stage, approach)
            t_assess = INF
            if "plan" in acts:
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

    now = env.now
    log.add(now, case.no, "stage_exit", stage, -1, outcome, now - start)
    if outcome == "completed":
        return outcome, journey.next_stage(stage, case.risk, _u(case.luck, NEXT_STAGE, k))
    route = spec.on_breach
    holder_id = case.holder.unique_id if case.holder is not None else -1
    log.add(now, case.no, "breach", stage, holder_id, outcome if outcome != "breach" else "non_compliance")
    log.add(now, case.no, route.event, stage, holder_id, outcome)
    return route.event, route.to


def _assess(sim: Simulation, case: Case, stage: str, approach: Any, cause: str = "") -> None:
    """Look for needs not yet identified; each is found with the approach's detection probability."""
    detection = approach.assessment(sim, case)[1]
    k = case.assessments
    case.assessments += 1
    found = 0
    for need in case.needs:
        if need not in case.identified and _u(case.luck, DETECT, k * 64 + sim.need_index[need]) < detection:
            case.identify(need)
            found += 1
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.add(sim.env.now, case.no, "assessment", stage, holder, cause, float(found))


def _plan(sim: Simulation, case: Case, stage: str, setting: str, approach: Any) -> None:
    p = sim.scenario.process
    open_needs = {t.need for t in case.pending}
    uptake = min(1.0, p.discretionary_uptake * case.motivation / 0.5)
    planned: list[str] = []
    now = sim.env.now
    for need in sorted(case.identified - case.met - open_needs, key=sim.need_index.__getitem__):
        ni = sim.need_index[need]
        key = case.stays * 64 + ni
        if _u(case.luck, MANDATORY, key) >= p.mandatory_share and _u(case.luck, UPTAKE, key) >= uptake:
            continue
        planned.append(need)
        provider = sim.provider_for(setting, need)
        if provider is None:
            sim.log.add(now, case.no, "referral", stage, -1, "no_provider", float(ni))
            continue
        ticket = provider.refer(case, ni)
        if ticket is not None:
            case.pending.append(ticket)
    holder = case.holder
    sim.log.add(now, case.no, "plan", stage, holder.unique_id if holder is not None else -1,
                "", float(len(planned)))
    approach.after_plan(sim, case, planned)


def _contact(sim: Simulation, case: Case, stage: str, enforceable: bool) -> bool:
    """One required contact; returns True when it leads to breach."""
    holder = case.holder
    now = sim.env.now
    k = case.contacts
    case.contacts += 1          # the k-th scheduled contact keeps its luck whether or not it happens
    staff = sim.deliverer(case)
    if staff is None:           # nobody at work to see the case: the contact is not offered
        sim.log.add(now, case.no, "contact_cancelled", stage, holder.unique_id if holder is not None else -1,
                    "holder_absent" if holder is not None else "unallocated", 0.0)
        return False
    prob = sim.compliance.probability(case, now, staff.pressure)
    if _u(case.luck, CONTACT, k) < prob:
        case.kept_since_review += 1
        sim.log.add(now, case.no, "contact_kept", stage, holder.unique_id, case.mode, prob)
        return False
    case.missed_since_review += 1
    sim.log.add(now, case.no, "contact_missed", stage, holder.unique_id, case.mode, prob)
    if not enforceable:
        return False
    action = sim.enforcement.on_missed(case, now, _u(case.luck, ACCEPTABLE, k))
    if action == "warning":
        case.warning_times = (*case.warning_times, now)
        sim.log.add(now, case.no, "warning", stage, holder.unique_id, "", float(len(case.warning_times)))
        return False
    return action == "breach"


def _review(sim: Simulation, case: Case, stage: str, approach: Any) -> None:
    now = sim.env.now
    seen = case.kept_since_review + case.missed_since_review
    share = case.kept_since_review / seen if seen else math.nan
    holder = case.holder.unique_id if case.holder is not None else -1
    sim.log.add(now, case.no, "review", stage, holder, "", share)
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
            sim.log.add(now, case.no, "risk_change", stage, holder, case.risk, float(step))
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
