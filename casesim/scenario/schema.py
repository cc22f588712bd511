"""The scenario: a validated, frozen description of one service and its case-management model.

``load_scenario(path, overrides)`` reads YAML (with ``extends:`` and ``--set`` overrides),
validates it against :class:`Scenario` and runs the cross-field checks, raising
:class:`~casesim.scenario.yamlio.ScenarioError` whose problems read ``file:line: field.path: problem``.
Every parameter carries a unit and the source or reasoning for its default (see
``casesim schema``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from casesim.scenario import changes, policies
from casesim.scenario.journey import Journey, check_journey, instant_breach_cycles
from casesim.scenario.params import (
    CENTURY,
    CENTURY_DAYS,
    CV,
    CV_LIMIT,
    DAYS_PER_YEAR,
    DECADE,
    DECADE_DAYS,
    FACTOR,
    FACTOR_LIMIT,
    HOURS,
    HOURS_LIMIT,
    LOGIT,
    LOGIT_LIMIT,
    MODES,
    MONEY,
    MONEY_LIMIT,
    PROBABILITY,
    RISKS,
    SEED_LIMIT,
    SEED_MAX,
    SETTINGS,
    SHARE,
    ByRisk,
    P,
    ProbabilityByRisk,
    RatePerYearByRisk,
    ShareByRisk,
    Strict,
    bounded,
    reject_unknown,
)
from casesim.scenario.staffing import Staffing
from casesim.scenario.yamlio import LineMap, Problem, ScenarioError, problems_from_validation, resolve

ASSUMPTION = "assumption"
#: Upper bounds of counts and rates, with their reasons (see ``limit`` in ``casesim schema``).
MAX_ARRIVALS = 100_000
ARRIVALS_LIMIT = ("a hundred thousand a day: above any national service (England & Wales about 400 a day; "
                  "United States jail admissions about 25,000)")
MAX_STOCK = 10_000_000
STOCK_LIMIT = ("ten million in one stage: more than any country's whole correctional population (United "
               "States about 5.5 million)")
MAX_STAFF = 100_000
STAFF_LIMIT = ("a hundred thousand in one group: more case managers than any national service (England & "
               "Wales about 6,700; United States about 90,000 probation officers)")
MAX_PLACES = 1_000_000
PLACES_LIMIT = "a million places: more than any national service (the England & Wales preset's largest: 11,250)"
_HOURS = {"ge": 0, "le": HOURS, "limit": HOURS_LIMIT}
_LOGIT = {"ge": -LOGIT, "le": LOGIT, "limit": LOGIT_LIMIT}
_MONEY = {"ge": 0, "le": MONEY, "limit": MONEY_LIMIT}


class TimeSpec(Strict):
    """Run length and the part of it excluded from metrics."""

    horizon_days: float = P(1460, "days", "four years: long enough for orders started after warm-up to end",
                            gt=0, le=CENTURY_DAYS, limit=CENTURY)
    warmup_days: float = P(365, "days", "one year: the longest common stay (a community order) settles",
                           ge=0, le=CENTURY_DAYS, limit=CENTURY)
    tick_days: float = P(7, "days", "a week: the natural reporting period of supervision",
                         "at least 0.01 day (about a quarter of an hour): a tick is a row of the time series",
                         ge=0.01, le=CENTURY_DAYS, limit="a century: one tick for the whole run")


class RatePeriod(Strict):
    """From ``start_day`` on, arrivals come at ``rate_per_day``."""

    start_day: float = P(..., "day", "scenario input", ge=0, le=CENTURY_DAYS, limit=CENTURY)
    rate_per_day: float = P(..., "cases per day", "scenario input", ge=0, le=MAX_ARRIVALS, limit=ARRIVALS_LIMIT)


class Arrivals(Strict):
    """New cases (people coming to court for sentence): a Poisson process and their attributes."""

    rate_per_day: float = P(9.0, "cases per day", "assumption: a mid-sized probation area (about 1/40 of "
                            "England & Wales)", ge=0, le=MAX_ARRIVALS, limit=ARRIVALS_LIMIT)
    periods: list[RatePeriod] = P(list, "list", "optional: piecewise-constant rate changes over time")
    risk_mix: ShareByRisk = P(lambda: ShareByRisk(LOW=0.35, MEDIUM=0.45, HIGH=0.20), "share",
                         "assumption, close to the risk-of-serious-harm mix of E&W probation caseloads")
    offence_mix: dict[str, bounded(float, SHARE, ge=0, le=1)] = P(
        lambda: {"general": 0.5, "violent": 0.25, "drug": 0.15, "sexual": 0.10}, "share", ASSUMPTION)
    needs_prevalence: dict[str, ProbabilityByRisk] = P(lambda: {
        "substance_misuse": ProbabilityByRisk(LOW=0.25, MEDIUM=0.40, HIGH=0.50),
        "mental_health": ProbabilityByRisk(LOW=0.25, MEDIUM=0.35, HIGH=0.45),
        "accommodation": ProbabilityByRisk(LOW=0.10, MEDIUM=0.20, HIGH=0.35),
        "employment": ProbabilityByRisk(LOW=0.30, MEDIUM=0.45, HIGH=0.55),
        "education": ProbabilityByRisk(LOW=0.20, MEDIUM=0.30, HIGH=0.40),
    }, "probability per need and risk level", "assumption: criminogenic needs are common and rise with risk")
    propensity_sd: float = P(1.0, "logit units", "assumption: spread of individual compliance propensity "
                             "(standard normal on the logit scale)", ge=0, le=5,
                             limit="5 logit units: beyond it nearly every case keeps, or misses, every contact")
    motivation_mean: float = P(0.5, "0..1", ASSUMPTION, gt=0, lt=1, limit="below 1: the mean of a beta distribution")
    motivation_concentration: float = P(4.0, "beta a+b", "assumption: a broad beta distribution", ge=0.01,
                                        le=10_000, limit="ten thousand: the beta distribution is then a point "
                                        "at its mean")

    @field_validator("periods")
    @classmethod
    def _sorted(cls, periods: list[RatePeriod]) -> list[RatePeriod]:
        starts = [p.start_day for p in periods]
        if starts != sorted(starts):
            raise ValueError("periods must be in increasing start_day order")
        return periods


class InitialPopulation(Strict):
    """Cases already in the system at day 0, by stage (each with a residual stay)."""

    by_stage: dict[str, bounded(int, STOCK_LIMIT, ge=0, le=MAX_STOCK, strict=True)] = P(
        dict, "cases", "scenario input; warm-up absorbs the approximation")


class StaffGroup(Strict):
    """A group of case managers alike in setting, hours and skills."""

    name: str = P("staff", "label", "scenario input")
    setting: Literal["community", "custody"] = P(..., "setting", "scenario input")
    count: int = P(..., "staff", "scenario input", ge=0, le=MAX_STAFF, strict=True, limit=STAFF_LIMIT)
    patches: list[str] = P(list, "patch names", "spread round-robin over these; empty = covers every patch")
    fte: float = P(1.0, "FTE per member", "scenario input: 1 = full time; a member's capacity is this times "
                   "the productive hours of its role (costs.roles)", ge=0, le=2,
                   limit="two full-time posts in one person: beyond any contract")
    modes: list[str] = P(lambda: list(MODES), "modes", "assumption: generic staff are skilled in every mode",
                         description="the modes its members may hold a case in; a contact delivered in another "
                         "(segmentation.fallback_unskilled, a team's stand-in) is kept less often "
                         "(skill.unskilled_mode_compliance)")
    specialisms: list[str] = P(list, "labels", "stages, tasks, risk levels, offence types or needs",
                               description="kind:value labels the segmentation reads for eligibility; a member "
                               "matching a case by one of them assesses, works and sees it better (skill)")
    role: str = P("", "key of costs.roles", "empty = costs.default_role of the group's setting; team chairs and "
                  "members are staff of their groups and are costed with them")

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, modes: list[str]) -> list[str]:
        reject_unknown(modes, MODES, "mode")
        return modes


class ModeSpec(Strict):
    """What a supervision mode asks of staff and case."""

    contact_interval_days: float = P(..., "days", "see modes defaults", "at least half a day: twice a day is "
                                     "more often than the most intensive supervision (daily reporting)",
                                     ge=0.5, le=DECADE_DAYS, limit=DECADE)
    cost_per_contact: float = P(..., "currency per contact", "see modes defaults", ge=0, le=MONEY,
                                limit=MONEY_LIMIT,
                                description="non-staff expenses of a contact (drug tests, materials, "
                                "monitoring, travel); staff time is costed through workload hours")
    intensity: float = P(..., "0..1", "see modes defaults", ge=0, le=1, limit="the top of the 0..1 scale")


_MODE_SOURCE = ("intervals: assumption (monthly to weekly as intrusiveness rises); the staff hours a mode takes "
                "are costs.workload.contact; non-staff cost per contact: assumption, none for administrative "
                "contacts rising to testing and monitoring in comprehensive mode")


def _default_modes() -> dict[str, ModeSpec]:
    return {
        "ADMINISTRATIVE": ModeSpec(contact_interval_days=28, cost_per_contact=0,
                                   intensity=0.0),
        "BROKERAGE": ModeSpec(contact_interval_days=14, cost_per_contact=2,
                              intensity=0.33),
        "THERAPEUTIC": ModeSpec(contact_interval_days=7, cost_per_contact=10,
                                intensity=0.67),
        "COMPREHENSIVE": ModeSpec(contact_interval_days=7, cost_per_contact=20,
                                  intensity=1.0),
    }


class Management(Strict):
    """The case-management model of one setting."""

    cover: policies.params_type("cover") = P(lambda: {"name": "temporary"}, "policy",
                                              "assumption: absent managers' cases go to a colleague for the "
                                              "absence and come back")
    approach: policies.params_type("approach") = P(lambda: {"name": "individual"}, "policy",
                                                    "DOMICE: individual-based in the community")
    segmentation: policies.params_type("segmentation") = P(lambda: {"name": "patch"}, "policy",
                                                            "DOMICE: locality (patch) working")


def _default_management() -> dict[str, Management]:
    return {"community": Management.model_validate({}),
            "custody": Management.model_validate({"approach": {"name": "team"},
                                                  "segmentation": {"name": "patch", "match_patch": False}})}


class RiskReview(Strict):
    """How a formal review re-scores risk."""

    compliant_threshold: float = P(0.75, "share of contacts kept", ASSUMPTION, ge=0, le=1, limit=SHARE)
    p_down_if_compliant: float = P(0.15, "probability per review", "assumption: engagement lowers assessed "
                                   "risk over time", ge=0, le=1, limit=PROBABILITY)
    p_up_if_noncompliant: float = P(0.1, "probability per review", "assumption: disengagement raises "
                                    "assessed risk", ge=0, le=1, limit=PROBABILITY)


class Process(Strict):
    """Timing and rules of the ASSESS -> PLAN -> IMPLEMENT -> REVIEW cycle."""

    first_contact_days: float = P(5, "days", "E&W practice: first appointment within five working days of "
                                  "sentence or release", ge=0, le=DECADE_DAYS, limit=DECADE)
    plan_days: float = P(7, "days", "assumption: a plan follows the assessment within a week", ge=0,
                         le=DECADE_DAYS, limit=DECADE)
    review_interval_days: float = P(120, "days", "assumption: formal review about every four months",
                                    "at least a day: more often than any service reviews a plan", ge=1,
                                    le=DECADE_DAYS, limit=DECADE)
    mandatory_share: float = P(0.3, "share of identified needs", "assumption: share of needs the court makes "
                               "a requirement (e.g. drug or mental-health treatment requirements)", ge=0, le=1,
                               limit=SHARE)
    discretionary_uptake: float = P(0.5, "probability", "assumption: discretionary referrals taken up, "
                                    "scaled by motivation/0.5", ge=0, le=1,
                                    limit=PROBABILITY)
    max_contact_slip_days: float = P(14, "days", "assumption: a contact nobody is at work to see is rearranged "
                                     "for when someone is (the holder back, cover, a new holder) within about two "
                                     "weeks, the longest gap between contacts of the more intensive modes; a "
                                     "contact still not seen then is not delivered. 0: not delivered at once",
                                     ge=0, le=DECADE_DAYS, limit=DECADE)
    risk_review: RiskReview = P(RiskReview, "section", "see fields")


#: Fields a scenario may no longer set, by data path, with why: validation names them as retired (with the
#: file and line) rather than as unknown.
RETIRED_FIELDS: dict[tuple[str, ...], str] = {
    ("process", "contact_settlement"): "retired: every contact is now decided at its own time (contacts in "
    "aggregate were removed, so a case's state can change between any two contacts); delete this setting "
    "(`each`, what every contact now is, is still accepted)",
    ("process", "contact_window_days"): "retired with process.contact_settlement: every contact is now decided "
    "at its own time, so there is no window of contacts; delete this setting",
    ("staff", "*", "capacity"): "retired: capacity is now hours, not weighted cases: a member gives the "
    "productive hours of its role (costs.roles) times its `fte`; delete this setting (use `fte` for "
    "part-time staff, costs.roles for the hours of a role)",
    ("modes", "*", "workload_weight"): "retired: what a case asks of its holder is now hours, from "
    "costs.workload (contact hours by mode, review and re-assessment hours); delete this setting",
}


class Compliance(Strict):
    """Coefficients of the logistic model of keeping a contact (see docs/model.md: the compliance model)."""

    intercept: float = P(3.2, "logit", "calibrated, before the organisation mechanisms of December 2026, so "
                         "the baseline kept about 90% of contacts and completed 70-74% of orders (E&W parliamentary "
                         "answer, Dec 2023); with them it completes about 76% (not yet recalibrated); "
                         "england_wales.yaml has its own, checked by its backcast", **_LOGIT)
    propensity: float = P(1.0, "logit per sd", "scale of the case's latent propensity", **_LOGIT)
    motivation: float = P(1.0, "logit per unit above 0.5", ASSUMPTION, **_LOGIT)
    risk: ByRisk = P(lambda: ByRisk(LOW=0.0, MEDIUM=-0.4, HIGH=-0.8), "logit",
                     "assumption: higher-risk people miss more appointments")
    intensity: float = P(-0.3, "logit at intensity 1", "assumption from intensive-supervision trials "
                         "(Petersilia & Turner 1993): more demands, more technical violations", **_LOGIT)
    continuity: float = P(0.5, "logit at saturation", "assumption: a stable relationship with one case "
                          "manager supports engagement (DOMICE continuity)", **_LOGIT)
    continuity_saturation_days: float = P(180, "days", ASSUMPTION, gt=0, le=CENTURY_DAYS, limit=CENTURY)
    pressure: float = P(-1.5, "logit per unit of workload pressure above the threshold", "assumption: quality "
                        "falls as workloads rise (HMI Probation 2021: at 50 or more cases practitioners are less "
                        "likely to deliver good work; direction only)", **_LOGIT)
    pressure_threshold: float = P(1.1, "workload pressure", "the Workload Measurement Tool's threshold of "
                                  "excessive workload, 110% of capacity (parliamentary answer, 30 March 2021)",
                                  ge=0, le=FACTOR, limit="a hundred times capacity: beyond any caseload")
    unmet_need: float = P(-0.15, "logit per unmet identified need", ASSUMPTION, **_LOGIT)


class Skill(Strict):
    """What specialism and mode skill do to practice (see docs/model.md: skill).

    A staff member *matches* a case when one of its specialisms names the case's current risk level
    (``risk:``), its offence type (``offence:``), one of its needs identified and not yet met (``need:``), the
    stage it is in (``stage:``) or the task under way (``task:assessment`` while the case is assessed and
    planned). A matching specialist finds more needs when it assesses the case, needs less time for it, and
    its contacts are kept more often; a contact delivered in a mode the deliverer is not skilled in (where the
    segmentation's ``fallback_unskilled``, or a case team's stand-in, lets that happen) is kept less often.
    Every effect at 0 leaves the model exactly as without specialisms and skills bearing on practice."""

    specialist_detection: float = P(
        0.3, "logit (log odds ratio) on each need's detection probability", "assumption: a matching specialist "
        "assessor finds more needs, the odds of finding each need x1.35 (0.8 -> 0.84 for the individual "
        "approach); kept below the odds ratio of 1.48 for officers trained in core correctional practices "
        "(Chadwick, DeWolf & Serin 2015), the largest skill effect in the evidence; docs give 0 to 0.4",
        **_LOGIT)
    specialist_time_saving: float = P(
        0.1, "share of a case's weekly hours", "assumption: a matching specialist does a case's contacts and "
        "review cycle in a tenth less time (familiar work, fewer look-ups); docs give 0 to 0.2", ge=0, lt=1,
        limit="below 1: a case always takes some time")
    specialist_compliance: float = P(
        0.2, "logit per contact", "assumption: contacts with a matching specialist are kept more often (odds "
        "x1.22, about +1.5 points at the baseline's 90% kept); below the 1.48 odds ratio for trained officers "
        "(Chadwick, DeWolf & Serin 2015, on recidivism); docs give 0 to 0.4", **_LOGIT)
    unskilled_mode_compliance: float = P(
        -0.3, "logit per contact", "assumption: a contact delivered by staff not skilled in the case's mode is "
        "kept less often (odds x0.74); of the size of the specialist effects, opposite sign; docs give -0.4 "
        "to 0", **_LOGIT)


class Pressure(Strict):
    """What workload pressure does to practice beyond contact quality (the compliance model's own pressure
    term): contacts not delivered and reviews that slip. Pressure here is a staff member's workload pressure:
    the hours a week its cases and team seats ask plus the work it did in the last ``window_days`` (as hours a
    week), over the hours a week it gives (:meth:`casesim.agents.case_manager.CaseManager.workload_pressure`)."""

    window_days: float = P(28, "days", "the Workload Measurement Tool's four weeks (parliamentary answer, 30 "
                           "March 2021)", gt=0, le=DECADE_DAYS, limit=DECADE)
    threshold: float = P(1.1, "workload pressure", "the Workload Measurement Tool's threshold of excessive "
                         "workload, 110% of capacity (parliamentary answer, 30 March 2021)", ge=0, le=FACTOR,
                         limit="a hundred times capacity: beyond any caseload")
    contacts_not_delivered: float = P(0.2, "share of due contacts per unit of pressure above the threshold",
                                      "assumption: at 50% over the threshold one contact in ten is not delivered "
                                      "(HMI Probation 2021 finds less frequent contact at high caseloads; no "
                                      "figure)", ge=0, le=FACTOR, limit=FACTOR_LIMIT)
    contacts_not_delivered_max: float = P(0.5, "share of due contacts", "assumption: even the most pressed "
                                          "staff see at least half their cases as planned", ge=0, le=1,
                                          limit=SHARE)
    review_delay: float = P(0.5, "share of the review interval per unit of pressure above the threshold",
                            "assumption: at 50% over the threshold a four-monthly review comes a month late "
                            "(inspections report reviews not done on time under high workloads; no figure)",
                            ge=0, le=FACTOR, limit=FACTOR_LIMIT)


class Reoffending(Strict):
    """What supervision does to a case's hazard of a further offence (see docs/model.md: outcomes).

    A stage's ``reoffending_rate_per_year`` (by risk) is the hazard under the practice it was observed in:
    no need met yet, the mode the risk level usually gets (``reference_intensity``), average motivation.
    While the case is in the stage its hazard is that rate times a hazard ratio, evaluated at each of the
    case's own happenings (its start, contacts, assessments, plans, reviews) and constant in between::

        ratio = product of needs_met[n] over the needs met
                x exp(intensity[risk] x (mode intensity - reference_intensity[risk]))
                x exp(motivation x (motivation - 0.5))
                x exp(after_custody) once the person has left a stay in custody

    The offence comes when the hazard accumulated since the stay began reaches the case's own draw of a
    unit exponential, so a change of ratio moves it without a new draw: two scenarios that share a seed
    differ only through what they do to the case. Every ratio 1 (``needs_met`` empty or 1, ``intensity``,
    ``motivation`` and ``after_custody`` 0) is the model without these effects, exactly."""

    needs_met: dict[str, bounded(float, FACTOR_LIMIT, gt=0, le=FACTOR)] = P(
        lambda: {"substance_misuse": 0.85, "education": 0.8, "accommodation": 0.8, "employment": 1.0,
                 "mental_health": 0.95},
        "hazard ratio once the need is met (a need not listed: 1)",
        "substance_misuse: drug interventions for offenders, re-incarceration RR 0.70 (0.57-0.85) but re-arrest "
        "0.97 (Perry et al. 2016), default between; education: correctional education, odds of recidivating "
        "0.57 (Davis et al. 2013, RAND), 28% less likely in the best designs (Bozick et al. 2018), default 0.8 "
        "for a hazard; accommodation: supportive housing, re-arrest 0.60 (Fontaine et al. 2012, quasi-"
        "experimental), halfway houses no effect (Wong et al. 2025), default 0.8; employment: no effect "
        "(Visher et al. 2005 meta-analysis), 1; mental_health: no figure found, assumption 0.95")
    intensity: ByRisk = P(lambda: ByRisk(LOW=0.15, MEDIUM=-0.15, HIGH=-0.45),
                          "log hazard ratio per unit of mode intensity above reference_intensity",
                          "the risk principle: intensive work helps high-risk people and not low-risk ones, "
                          "whom it may harm (Lowenkamp & Latessa 2005, direction; no figure by risk found). "
                          "HIGH: from brokerage to comprehensive (0.67 of intensity) a hazard ratio of 0.74, "
                          "the relative risk that a real-world effect size r = 0.15 of RNR-adherent programmes "
                          "gives (Bonta & Andrews); LOW: the opposite sign, smaller (r = -0.02 without "
                          "adherence); MEDIUM: assumption between. Plausible range -0.6 to 0.3")
    reference_intensity: ProbabilityByRisk = P(
        lambda: ProbabilityByRisk(LOW=0.0, MEDIUM=0.33, HIGH=1.0), "mode intensity (0..1)",
        "the practice the stage rates stand for: the baseline's mode by risk (administrative, brokerage, "
        "comprehensive), so the baseline's modes leave its calibrated rates as they are")
    after_custody: float = P(
        0.15, "log hazard ratio once the person has spent time in custody", "direction: matched comparisons of the "
        "Ministry of Justice find more proven reoffending after short custodial sentences than after community or "
        "suspended sentence orders for similar people (Mews et al. 2015; Hillier & Mews 2018, the gap wider for "
        "people with many previous offences; Eaton & Mews 2019); prison costs people housing, work and ties. Size: "
        "assumption, a hazard ratio of about 1.16, about 5 percentage points on a one-year rate near 55% (no pooled "
        "figure checked); plausible range 0 to 0.4. 0: custody changes nothing about later offending", **_LOGIT)
    motivation: float = P(-0.8, "log hazard ratio per unit of motivation above 0.5",
                          "assumption: motivated people reoffend less (McMurran 2009, direction; no pooled "
                          "figure); one standard deviation of the default motivation (about 0.2) is a hazard "
                          "ratio of about 0.85", **_LOGIT)
    supervised_rate_per_year: RatePerYearByRisk = P(
        lambda: RatePerYearByRisk(LOW=0.17, MEDIUM=0.43, HIGH=0.69), "proven further offences per year during a "
        "supervised stay, by risk (all of them)", "fitted on England & Wales proven reoffending (adults 29.2% within "
        "a year, MoJ, Apr-Jun 2017 cohort; see docs/calibration.md): one scale fitted, the shape by risk an "
        "assumption (1 : 2.5 : 4, between the 10.5% of people with no previous offence and the 47% of those with "
        "eleven or more, MoJ Jul 2011-Jun 2012). Applies in the supervised stages (community stages with a "
        "breach route: court orders and licences). The stage's reoffending_rate_per_year is the part of it that "
        "ends the stay (breach proceedings, recall); the rest are dealt with alongside the stay (a fine, a "
        "caution, a concurrent order) and are logged and counted. A rate at or below the stage's: every offence "
        "ends the stay, as without this parameter")
    after_exit_rate_per_year: RatePerYearByRisk = P(
        lambda: RatePerYearByRisk(LOW=0.17, MEDIUM=0.43, HIGH=0.69), "further offences per year after leaving, by "
        "risk", "the same person's rate as under supervision (supervised_rate_per_year: fitted on England & Wales "
        "proven reoffending, one scale for both), so leaving supervision changes the rate only through what "
        "supervision did; times the ratio of the needs met and motivation at exit (not the mode: supervision "
        "has ended)")
    after_exit_follow_days: float = P(730, "days", "assumption: offending after exit is followed this long (two "
                                      "years: the proven reoffending measure needs one, plus time for a return); a "
                                      "person who has not offended by then has desisted, as far as the run knows",
                                      ge=0, le=CENTURY_DAYS, limit=CENTURY)
    return_share: float = P(0.6, "share of further offences after exit", "assumption: the share of proven further "
                            "offences after exit that bring the person back to the service as a new case (a report "
                            "for the court, a sentence it supervises); the rest end in fines, discharges or "
                            "cautions", ge=0, le=1, limit=SHARE)
    return_delay_days: float = P(60, "days (mean, exponential)", "assumption: from the offence to the charge and "
                                 "the court's first request of the service; the pre-sentence stage holds the rest "
                                 "(Crown Court cases took 312 days from offence to completion, Criminal court "
                                 "statistics, Jul-Sep 2014)", gt=0, le=CENTURY_DAYS, limit=CENTURY)
    frailty_sd: float = P(
        0.0, "standard deviation of the log of a person's own multiplier of every offending rate (lognormal, mean 1)",
        "off by default (0: every person of a risk level offends at its rate). Offending is far more concentrated "
        "than three risk levels make it (MoJ, Jul 2011-Jun 2012 cohort: 2.9 proven reoffences per reoffender; 47% "
        "of people with 11 or more previous offences reoffend within a year against 10.5% of those with none), but "
        "no figure found measures the spread in the model's unit, one offence that reaches a court or a caution: a "
        "court case can prove several offences. England & Wales fits 1.9 to the 2.9 only if each proven offence is "
        "one of the model's (docs/calibration.md, where its consequences are measured). Plausible range 0 to 2.5",
        ge=0, le=3, limit="a multiplier whose log varies by more than 3 (a factor of 20 per sd) is beyond any spread "
        "measured")
    return_risk_step: float = P(0.5, "probability", "assumption: a returning person's criminal history raises "
                                "their assessed risk one level with this probability (risk tools such as OGRS "
                                "weigh previous convictions)", ge=0, le=1, limit=PROBABILITY)


class Motivation(Strict):
    """How a case's motivation moves while it is supervised (see docs/model.md: motivation that moves).

    Motivation starts at the case's draw at arrival (``arrivals.motivation_mean``) and, at each contact offered
    (kept or missed), closes ``rate`` of the gap to a target:

        target = motivation at arrival + relationship x (min(1, days with the holder / saturation) - 0.5)
                 - pressure x (how far the member who sees the case is over the threshold of practice)
                 + need_met x (needs met so far)

    and a warning moves it by ``warning`` at once. It stays within [0.01, 0.99]. Compliance
    (``compliance.motivation``) and the hazard of a further offence (``reoffending.motivation``) read it.
    The relationship term is centred on half the saturation, so the typical case's target is its own draw;
    every coefficient 0 keeps motivation at the draw, as before motivation moved."""

    rate: float = P(0.2, "share of the gap to the target closed at each contact offered", "assumption: a "
                    "working relationship changes engagement over a few contacts, not at once", ge=0, le=1,
                    limit=SHARE)
    relationship: float = P(0.2, "motivation (0..1) from no relationship to a full one",
                            "assumption: firm, fair and caring relationships with one officer protect against "
                            "failure (Kennealy et al. 2012, direction only); the full relationship is "
                            "compliance.continuity_saturation_days with the same holder", ge=0, le=1, limit=SHARE)
    pressure: float = P(0.2, "motivation (0..1) per unit of workload pressure above pressure.threshold",
                        "assumption: a pressed officer's contacts are shorter and less purposeful (HMI Probation "
                        "2021, direction only), so engagement falls", ge=0, le=1, limit=SHARE)
    need_met: float = P(0.05, "motivation (0..1) per need met", "assumption: help with housing, drugs or work "
                        "builds engagement (McMurran 2009: motivational work improves retention, direction only)",
                        ge=0, le=1, limit=SHARE)
    warning: float = P(0.0, "motivation (0..1) at a formal warning", "no figure found: a warning may deter or "
                       "alienate; 0 by default, plausible range -0.1 to 0.1", ge=-1, le=1,
                       limit="the whole 0..1 scale")


class ProviderDuration(Strict):
    """Length of an intervention."""

    dist: Literal["fixed", "exponential", "lognormal", "uniform"] = P("exponential", "distribution",
                                                                     ASSUMPTION)
    mean_days: float = P(..., "days", "scenario input", gt=0, le=DECADE_DAYS, limit=DECADE)
    cv: float = P(0.5, "coefficient of variation", "ignored for fixed and exponential", ge=0, le=CV,
                  limit=CV_LIMIT)


#: The default ``public_load`` of a universal provider (see ``ProviderSpec.public_load``).
PUBLIC_LOAD_UNIVERSAL = 0.5


class ProviderSpec(Strict):
    """A service that addresses one need, with places and a waiting list.

    The route says whose places they are: ``in_house`` and ``contracted`` places are the agency's own (paid
    whether used or not, used by its cases alone); a ``universal`` service is shared with the public
    (``public_load``) and costs the agency only the place-days its cases occupy (docs/costs.md).
    """

    name: str = P(..., "label", "scenario input")
    setting: Literal["community", "custody"] = P(..., "setting", "scenario input")
    need: str = P(..., "need", "scenario input")
    route: Literal["in_house", "contracted", "universal"] = P("contracted", "route", "DOMICE: in-house, "
                                                              "funded external, or universal citizen service")
    relationship: Literal["statutory_duty", "protocol", "none"] = P("protocol", "relationship",
                                                                   "DOMICE: statutory duty to co-operate, "
                                                                   "inter-agency protocol, or none")
    places: int = P(..., "places", "scenario input", ge=0, le=MAX_PLACES, strict=True, limit=PLACES_LIMIT)
    duration: ProviderDuration = P(..., "section", "scenario input")
    completion_probability: float = P(0.6, "probability", ASSUMPTION, ge=0, le=1, limit=PROBABILITY)
    acceptance_probability: float = P(0.85, "probability", ASSUMPTION, ge=0, le=1, limit=PROBABILITY)
    acceptance_delay_days: float = P(7, "days", ASSUMPTION, ge=0, le=DECADE_DAYS, limit=DECADE)
    cost_per_place_day: float = P(15, "currency per place-day: every place of an in-house or contracted "
                                  "provider, every day; a universal provider's place-days occupied by cases",
                                  ASSUMPTION, **_MONEY)
    priority_by_risk: bool = P(False, "flag", "first come first served unless set: then HIGH before MEDIUM "
                               "before LOW (among the agency's cases)")
    waiting_loss_per_month: float = P(
        0.15, "rate per 30 days on the waiting list, for a case of motivation 0.5",
        "direction: Festinger et al. (1995), Addictive Behaviors 20(1), the longer the delay to a treatment "
        "appointment the fewer attend; Chun et al. (2008), Am J Drug Alcohol Abuse 34(5), 27% of people placed on "
        "drug-treatment waiting lists had no treatment within about two months; Carr et al. (2008), J Subst Abuse "
        "Treat 34(2), readier people enter sooner. Loveland & Driscoll (2014), Subst Abuse Treat Prev Policy 9:41, "
        "lost 32% between assessment and enrolment over a mean wait of 12.5 days among voluntary clients (about "
        "1 a month: an upper bound). Value: assumption (referrals of supervised people are often requirements, "
        "so lower; plausible range 0.05-0.5)",
        description="people accepted onto this provider's waiting list drop off it at this rate while they wait "
        "for a place, times (1 - motivation) / 0.5 with the case's motivation when it joins the list: the need "
        "stays unmet (referral_withdrawn, reason lost_while_waiting). 0: nobody is lost while waiting",
        ge=0, le=30, limit="30 a month: everyone gone within a day of joining the list")
    public_load: float = P(
        PUBLIC_LOAD_UNIVERSAL, "share of places (offered load)", "assumption: a universal service is busy "
        "with the public but not saturated by it, about half its places used by people the agency did not "
        "refer; 0 for in-house and contracted places (the agency's own)",
        description="demand from the public (people who are not cases) on a universal provider, as the share of "
        "its places it would occupy on average: public users arrive as a Poisson stream at public_load x places "
        "/ duration.mean_days a day, stay the provider's duration, and queue with the agency's referrals. "
        "Default: 0.5 for a universal provider, 0 otherwise; only a universal provider may have public demand",
        ge=0, le=0.95, limit="0.95: public demand at or above the places saturates the service by itself "
        "and its queue grows without end")

    @model_validator(mode="before")
    @classmethod
    def _public_load_by_route(cls, data: Any) -> Any:
        """An unstated ``public_load`` is the route's: ``PUBLIC_LOAD_UNIVERSAL`` for universal, 0 otherwise."""
        if isinstance(data, dict) and "public_load" not in data:
            data = {**data, "public_load": PUBLIC_LOAD_UNIVERSAL if data.get("route") == "universal" else 0.0}
        return data


class RelationshipEffect(Strict):
    """How a provider's relationship with the agency changes referrals to it."""

    acceptance_factor: float = P(1.0, "factor on the acceptance probability (capped at 1)", ASSUMPTION, ge=0,
                                 le=FACTOR, limit=FACTOR_LIMIT)
    delay_factor: float = P(1.0, "factor on the acceptance delay", ASSUMPTION, ge=0, le=FACTOR,
                            limit=FACTOR_LIMIT)
    priority_over_public: bool = P(
        False, "flag", "assumption: under a statutory duty the agency's referrals are a priority group of the "
        "service, placed ahead of its public users (as a duty to co-operate makes the agency's cases the "
        "service's business); under a protocol or none they queue with the public, first come first served",
        description="the agency's accepted referrals take a free place before any waiting public user "
        "(ProviderSpec.public_load); among the agency's cases the provider's own order holds")


def _default_relationships() -> dict[str, RelationshipEffect]:
    return {"statutory_duty": RelationshipEffect(acceptance_factor=1.15, delay_factor=0.5,
                                                 priority_over_public=True),
            "protocol": RelationshipEffect(acceptance_factor=1.0, delay_factor=1.0),
            "none": RelationshipEffect(acceptance_factor=0.8, delay_factor=1.5)}


class RoleCost(Strict):
    """What one full-time post of a role costs and how many hours of casework it gives."""

    annual_cost: float = P(..., "currency per FTE-year, salary plus employer on-costs", "see costs.roles", ge=0,
                           le=1e11, limit="a hundred billion currency units: above a year's pay in any currency")
    productive_hours: float = P(..., "hours of casework per FTE-year", "see costs.roles", ge=1, le=8784,
                                limit="every hour of a leap year")


_ROLE_SOURCE = ("assumption built on published pay: HMPPS band 4 (probation officer / prison offender manager) "
                "pay about 33-40k GBP (2023-24 scales), midpoint 37k plus about 30% employer national insurance "
                "and pension = about 48k GBP; band 3 (probation services officer, support worker) about 28k plus "
                "30% = 36k GBP. Productive hours: 37 h a week x 52 = 1,924 less leave and bank holidays "
                "(35 days), sickness (10 days) and training (5 days) = about 1,550, less 50 h unmeasured "
                "admin = 1,500 (assumption)")


def _default_roles() -> dict[str, RoleCost]:
    return {"probation_officer": RoleCost(annual_cost=48000, productive_hours=1500),
            "prison_offender_manager": RoleCost(annual_cost=48000, productive_hours=1500),
            "support_worker": RoleCost(annual_cost=36000, productive_hours=1500)}


class Workload(Strict):
    """Staff hours each activity takes (preparation and recording included)."""

    assessment: float = P(3.0, "hours per assessment", "assumption: a structured risk/needs assessment "
                          "(OASys-type) takes 2-4 hours with the interview", **_HOURS)
    reassessment: float = P(1.0, "hours per re-assessment at a review", "assumption: updating an existing "
                            "assessment takes about a third of a new one", **_HOURS)
    plan: float = P(1.0, "hours per plan", ASSUMPTION, **_HOURS)
    contact: dict[str, bounded(float, HOURS_LIMIT, ge=0, le=HOURS)] = P(
                                  lambda: {"ADMINISTRATIVE": 0.5, "BROKERAGE": 0.75, "THERAPEUTIC": 1.0,
                                           "COMPREHENSIVE": 1.25},
                                  "hours per contact (kept or missed), by mode",
                                  "APPA workload standard (1/2/4 case-hours a month for low/moderate/intensive "
                                  "cases) at the modes' monthly/fortnightly/weekly intervals is about 1 hour per "
                                  "contact including all casework; set lower here because assessment, plan, "
                                  "review, reports and enforcement are counted separately (assumption)")
    review: float = P(1.0, "hours per formal review", ASSUMPTION, **_HOURS)
    team_meeting: float = P(1.0, "hours per member present", "assumption: a one-hour case conference; provider "
                            "representatives present are counted as staff time too", **_HOURS)
    pre_sentence_report: float = P(4.0, "hours per new case", "assumption: every new case comes to court for "
                                   "sentence; a written pre-sentence report takes about half a day (oral "
                                   "reports less)", **_HOURS)
    breach_report: float = P(3.0, "hours per return to court", "assumption: breach report and court attendance",
                             **_HOURS)
    warning: float = P(0.5, "hours per formal warning", "assumption: letter and recording", **_HOURS)
    breach: float = P(2.0, "hours per breach", "assumption: breach or recall papers and management sign-off",
                      **_HOURS)
    referral: float = P(1.0, "hours per referral", "assumption: brokering a place (forms, calls, follow-up)", **_HOURS)


class Costs(Strict):
    """Money per unit, staff roles and the hours each activity takes (see docs/costs.md).

    Cost categories: ``staff`` (posts paid: FTE in post x annual cost; contacts and all other casework
    are staff time inside it), ``custody`` (prison place-days), ``interventions`` (provider place-days),
    ``courts`` (breach hearings) and ``recalls`` (recall administration and return).
    """

    currency: str = P("GBP", "ISO code", "scenario input")
    custody_per_day: float = P(141.7, "currency per prisoner-day", "MoJ 2022-23: 51,724 GBP per prison place "
                               "a year / 365 (includes prison staff but not the offender managers costed as "
                               "staff here: a small overlap)", **_MONEY)
    court_hearing: float = P(600, "currency per return to court", "assumption: order of magnitude of a "
                             "breach hearing", **_MONEY)
    recall: float = P(1000, "currency per recall", "assumption: administration and police return, "
                      "excluding custody days", **_MONEY)
    roles: dict[str, RoleCost] = P(_default_roles, "role -> cost", _ROLE_SOURCE)
    default_role: dict[str, str] = P(lambda: {"community": "probation_officer",
                                              "custody": "prison_offender_manager"},
                                     "setting -> key of roles", "the role of a staff group without a role, "
                                     "and of work done by teams or brokered for the case")
    workload: Workload = P(Workload, "section", "see fields")
    price_providers_by: Literal["provider", "route"] = P(
        "provider", "choice", "provider: each provider's own cost_per_place_day (the override); route: "
        "costs.place_day_by_route, e.g. to reprice every provider in another currency")
    place_day_by_route: dict[Literal["in_house", "contracted", "universal"],
                             bounded(float, MONEY_LIMIT, ge=0, le=MONEY)] = P(
        lambda: {"in_house": 10.0, "contracted": 20.0, "universal": 0.0}, "currency per place-day (which "
        "place-days by route: every in-house and contracted place every day, a universal one's occupied by cases)",
        "assumption: in-house places at marginal cost, contracted places at an accredited-programme day rate "
        "(order of magnitude of the baseline providers), universal services paid by other budgets (0 to "
        "the justice budget)")

    @field_validator("default_role")
    @classmethod
    def _settings(cls, given: dict[str, str]) -> dict[str, str]:
        reject_unknown(given, SETTINGS, "setting")
        return given

    def role_of(self, group: StaffGroup) -> str:
        """The key of ``roles`` that costs ``group``."""
        return group.role or self.default_role.get(group.setting, "")


class Change(Strict):
    """A change to the scenario from a day of the run on: a policy, a staff count or a rate (``changes``; see
    docs/scenarios.md#changes-from-a-date). Its ``set`` paths and what may change are checked by
    :mod:`casesim.scenario.changes`."""

    at_day: float = P(..., "day", "scenario input: the day it takes effect, within [0, time.horizon_days)", ge=0,
                      le=CENTURY_DAYS, limit=CENTURY)
    over_days: float = P(0.0, "days", "0: at once", "staff counts (staff.<group>.count) move to their new value "
                         "in even steps over this many days from at_day; everything else changes at at_day",
                         ge=0, le=CENTURY_DAYS, limit=CENTURY)
    set: dict[str, Any] = P(..., "dotted path -> value", "scenario input", "the values in force from at_day, "
                            "written as --set writes them (a staff group may be named: staff.<name>.count), "
                            "at full size: population_scale scales them as it scales the rest")


class Scenario(Strict):
    """Everything a run needs. Frozen after validation."""

    name: str = P("scenario", "label", "scenario input")
    description: str = P("", "text", "scenario input")
    seed: int = P(20261122, "integer", "any fixed number; --seed overrides", ge=0, le=SEED_MAX, strict=True,
                  limit=SEED_LIMIT)
    population_scale: float = P(
        1.0, "fraction of the real population simulated", "1 = the service at full size",
        description="simulate a sample of the service: 0.01 is 1 in 100. At load, arrival rates are multiplied "
        "by it, initial population counts too (rounded), staff counts and provider places too (rounded, at "
        "least 1 where the full-size figure is above 0). Intensive figures (caseload per manager, pressure, "
        "shares, rates per case-year) are unchanged apart from noise and rounding; divide extensive ones "
        "(people, events, costs) by it to read them at full size", gt=0, le=1,
        limit="1: the whole service")
    population_scale_applied: bool = P(
        False, "flag", "set by the loader", description="true once the counts in this scenario have been "
        "multiplied by population_scale (a resolved scenario), so loading it again does not scale twice")
    time: TimeSpec = P(TimeSpec, "section", "see fields")
    patches: dict[str, bounded(float, "a million times another patch's weight: beyond any real difference "
                               "between localities", ge=0, le=1e6)] = P(
                                  lambda: {"North": 1.0, "South": 1.0, "East": 1.0, "West": 1.0,
                                           "Central": 1.0, "Rural": 1.0},
                                  "relative weight of arrivals", "assumption: six equal localities")
    arrivals: Arrivals = P(Arrivals, "section", "see fields")
    initial_population: InitialPopulation = P(InitialPopulation, "section", "see fields")
    journey: Journey = P(Journey.default, "section", "see journey.py")
    staff: list[StaffGroup] = P(lambda: [
        StaffGroup(name="probation", setting="community", count=75, patches=[]),
        StaffGroup(name="offender_management_in_custody", setting="custody", count=25)],
        "list", "assumption: a mid-sized area")
    modes: dict[str, ModeSpec] = P(_default_modes, "section", _MODE_SOURCE)
    management: dict[str, Management] = P(_default_management, "setting -> model",
                                          "DOMICE: individual in the community, team-based in custody")
    mode_assignment: policies.params_type("mode_assignment") = P(lambda: {"name": "risk_table"}, "policy",
                                                                  "see modes.py")
    enforcement: policies.params_type("enforcement") = P(lambda: {"name": "graduated"}, "policy",
                                                          "see enforcement.py")
    process: Process = P(Process, "section", "see fields")
    compliance: Compliance = P(Compliance, "section", "see fields")
    skill: Skill = P(Skill, "section", "see fields")
    pressure: Pressure = P(Pressure, "section", "see fields")
    reoffending: Reoffending = P(Reoffending, "section", "see fields")
    motivation: Motivation = P(Motivation, "section", "see fields")
    providers: list[ProviderSpec] = P(list, "list", "scenario input")
    relationships: dict[Literal["statutory_duty", "protocol", "none"], RelationshipEffect] = P(
        _default_relationships, "relationship -> effect", "DOMICE: a statutory duty to co-operate or an "
        "inter-agency protocol eases brokering; assumption: a duty accepts more and faster, no relationship "
        "less and slower")
    staffing: Staffing = P(Staffing, "section", "see fields")
    costs: Costs = P(Costs, "section", "see fields")
    changes: list[Change] = P(list, "list", "none: the scenario is the same throughout the run",
                              "policies, staff counts and rates that change from a day of the run on, in "
                              "day order (docs/scenarios.md#changes-from-a-date)",
                              exclude_if=lambda changes: not changes)   # (none: the digest is as before)

    @field_validator("modes")
    @classmethod
    def _all_modes(cls, modes: dict[str, ModeSpec]) -> dict[str, ModeSpec]:
        missing = [m for m in MODES if m not in modes]
        extra = [m for m in modes if m not in MODES]
        if missing or extra:
            raise ValueError(f"define exactly the four modes {', '.join(MODES)}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; unknown {', '.join(extra)}" if extra else ""))
        return modes

    @field_validator("relationships")
    @classmethod
    def _every_relationship(cls, given: dict[str, RelationshipEffect]) -> dict[str, RelationshipEffect]:
        return {**_default_relationships(), **given}

    def serving(self) -> dict[tuple[str, str], int]:
        """(setting, need) -> the index in ``providers`` of the provider that serves it: the first listed for
        that setting and need (the engine refers cases there; the run warnings check its places)."""
        out: dict[tuple[str, str], int] = {}
        for i, provider in enumerate(self.providers):
            out.setdefault((provider.setting, provider.need), i)
        return out

    def mode_hours_per_week(self, mode: str) -> float:
        """The staff hours a week that holding a case in ``mode`` takes: its contacts (``costs.workload.contact``
        hours at the mode's interval) and its share of the review cycle (a review and a re-assessment every
        ``process.review_interval_days``). A stage's ``workload_factor`` scales it. Assessments, plans,
        reports, referrals, enforcement and team meetings are counted as they happen, from the event log."""
        w = self.costs.workload
        contacts = w.contact.get(mode, 0.0) * 7.0 / self.modes[mode].contact_interval_days
        return contacts + (w.review + w.reassessment) * 7.0 / self.process.review_interval_days

    def hours_per_week(self, group: StaffGroup) -> float:
        """The casework hours a week one member of ``group`` gives while at work, at full capacity: its FTE
        times the productive hours a year of its role (``costs.roles``), spread over the days a year a member
        is at work (the year less ``staffing``'s leave and sickness, which the run simulates as absences).
        So a member in post for a year gives its role's productive hours, and the same hours that make its
        pressure make FTE required (workload hours / productive hours)."""
        role = self.costs.roles.get(self.costs.role_of(group))
        if role is None:
            return 0.0
        st = self.staffing
        at_work = max(1.0, DAYS_PER_YEAR - st.annual_leave_days - st.sickness_days_per_year)
        return group.fte * role.productive_hours * 7.0 / at_work

    def seat_hours_per_week(self) -> float:
        """The staff hours a week a seat on a case team takes: a meeting (``costs.workload.team_meeting``) at
        each review (``process.review_interval_days``). Every staff member of the team carries it, the chair
        included, on top of the case's own hours carried by the team's load bearer."""
        return self.costs.workload.team_meeting * 7.0 / self.process.review_interval_days

    def with_seed(self, seed: int | None) -> Scenario:
        """This scenario with ``seed`` (None: its own) as its seed field: the scenario a run with that seed
        runs. A result keeps this one, so its ``scenario.resolved.yaml`` runs again with the same seed, and
        its SHA-256 identifies the run's inputs, seed included. Only the field changes: a scale already
        applied stays applied (``population_scale_applied``)."""
        if seed is None or int(seed) == self.seed:
            return self
        return self.model_copy(update={"seed": int(seed)})

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the scenario (identifies a configuration)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def cross_check(s: Scenario) -> list[tuple[tuple[Any, ...], str]]:
    """Checks across sections, as (path, message) pairs."""
    out: list[tuple[tuple[Any, ...], str]] = list(check_journey(s.journey))
    out.extend(instant_breach_cycles(s.journey, s.process.first_contact_days, s.enforcement.misses_can_breach()))
    if s.time.warmup_days >= s.time.horizon_days:
        out.append((("time", "warmup_days"), "must be less than time.horizon_days"))
    for name, mix in (("risk_mix", sum(s.arrivals.risk_mix.as_dict().values())),
                      ("offence_mix", sum(s.arrivals.offence_mix.values()))):
        if abs(mix - 1.0) > 1e-9:
            out.append((("arrivals", name), f"shares must sum to 1 (they sum to {mix:g})"))
    if not s.patches or sum(s.patches.values()) <= 0:
        out.append((("patches",), "needs at least one patch with a positive weight"))
    settings_used = {st.setting for st in s.journey.stages.values()}
    for setting in sorted(settings_used):
        if setting not in s.management:
            out.append((("management",), f"no case-management model for setting '{setting}'"))
    for setting in s.management:
        if setting not in SETTINGS:
            out.append((("management", setting), f"unknown setting; valid: {', '.join(SETTINGS)}"))
    for setting, m in s.management.items():   # each policy checks what it needs of the rest
        for part in ("approach", "segmentation", "cover"):
            out.extend(getattr(m, part).check(s, setting, ("management", setting, part)))
    for part in ("mode_assignment", "enforcement"):
        out.extend(getattr(s, part).check(s, (part,)))
    for i, g in enumerate(s.staff):
        if s.costs.role_of(g) not in s.costs.roles:
            out.append((("staff", i, "role"), f"no cost for role '{s.costs.role_of(g)}'; define it under "
                        f"costs.roles (known: {', '.join(s.costs.roles)})"))
        for j, p in enumerate(g.patches):
            if p not in s.patches:
                out.append((("staff", i, "patches", j), f"unknown patch '{p}'; valid: {', '.join(s.patches)}"))
    for i, pr in enumerate(s.providers):
        if pr.need not in s.arrivals.needs_prevalence:
            out.append((("providers", i, "need"), f"unknown need '{pr.need}'; valid: "
                        f"{', '.join(s.arrivals.needs_prevalence)}"))
        if pr.public_load > 0 and pr.route != "universal":
            out.append((("providers", i, "public_load"), f"must be 0 for a provider with route '{pr.route}': "
                        "its places are the agency's own; only a universal provider serves the public"))
    written = "needs_met" in s.reoffending.model_fields_set   # (the defaults name the default needs only)
    for need in s.reoffending.needs_met if written else ():
        if need not in s.arrivals.needs_prevalence:
            out.append((("reoffending", "needs_met", need), f"unknown need '{need}'; valid: "
                        f"{', '.join(s.arrivals.needs_prevalence)}"))
    for stage in s.initial_population.by_stage:
        if stage not in s.journey.stages:
            out.append((("initial_population", "by_stage", stage),
                        f"unknown stage; valid: {', '.join(s.journey.stages)}"))
    return out


def seed_bounds() -> tuple[int, int, str]:
    """(lowest, highest, reason for the highest) seed, as the schema's ``seed`` field declares them: what a
    ``--seed`` given on the command line is checked against before anything runs."""
    return 0, SEED_MAX, SEED_LIMIT


def scenario_from(scenario: Scenario | str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """``scenario`` itself, or the scenario file it names read with ``overrides`` (``dotted.key=value``
    strings, as ``--set``); overrides given with a ready :class:`Scenario` are refused, not dropped."""
    if isinstance(scenario, Scenario):
        if overrides:
            raise ValueError("overrides apply to scenario files; pass a path, or change the Scenario")
        return scenario
    if isinstance(overrides, str):   # (one override given as a string, not a list of them)
        overrides = [overrides]
    return load_scenario(scenario, list(overrides))[0]


def load_scenario(path: str | Path, overrides: Sequence[str] = (), *,
                  allow_large: bool = True) -> tuple[Scenario, LineMap]:
    """Read, merge, override and validate a scenario file; raise ScenarioError on any problem.

    With ``allow_large=False`` a scenario whose estimated size is over the ceilings (:func:`size_problems`)
    is refused too, as the command line does unless given ``--allow-large``. The default lets library
    callers (``casesim.outputs.results.run``, sweeps, scripts) run what they ask for: the ceilings guard the
    command line.
    """
    data, lines = resolve(path, overrides, defaults=_defaults() if overrides else None)
    scenario, lines = validate_data(data, lines)
    if not allow_large:
        check_size(scenario, lines)
    return scenario, lines


def _defaults() -> dict[str, Any]:
    """Every default of the schema, as plain data (what an empty scenario file means)."""
    return Scenario.model_validate({}).model_dump(mode="json")


def validate_data(data: dict[str, Any], lines: LineMap) -> tuple[Scenario, LineMap]:
    """Validate already-loaded data, mapping every problem to its file and line."""
    try:
        scenario = Scenario.model_validate(_without_settled_each(data))
    except ValidationError as exc:
        raise ScenarioError(_name_retired(problems_from_validation(exc, lines))) from None
    problems = []
    for path, message in cross_check(scenario):
        file, line = lines.locate(path)
        problems.append(Problem(file, line, ".".join(str(p) for p in path), message))
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    if scenario.changes:   # each change checked, and its values scaled as the rest (casesim.scenario.changes)
        return _validated_changes(scenario, data, lines), lines
    return apply_scale(scenario), lines


def _validated_changes(scenario: Any, data: dict[str, Any], lines: LineMap) -> Any:
    """``scenario`` (validated, not yet scaled, with ``changes``) scaled, once every change is checked: its day
    within the run, its paths settable and allowed to change, and the scenario in force from it valid and of the
    same structure as the base. Each change's values are the scaled ones (read from the scenario in force).

    Raises:
        ScenarioError: every problem, at the line of the change.
    """
    problems: list[Problem] = []
    horizon = scenario.time.horizon_days
    last = -math.inf
    for i, change in enumerate(scenario.changes):
        if change.at_day >= horizon:
            file, line = changes.origin(lines, ("changes", i, "at_day"))
            problems.append(Problem(file, line, f"changes.{i}.at_day", f"must be less than time.horizon_days "
                                    f"({horizon:g}): a change on day {change.at_day:g} would never happen"))
        if change.at_day < last:
            file, line = changes.origin(lines, ("changes", i, "at_day"))
            problems.append(Problem(file, line, f"changes.{i}.at_day", "changes must be in day order"))
        last = max(last, change.at_day)
        if not change.set:
            file, line = changes.origin(lines, ("changes", i, "set"))
            problems.append(Problem(file, line, f"changes.{i}.set", "says nothing to change"))
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    base = apply_scale(scenario)
    layout = changes.layout(base.model_dump(mode="json"))
    scaled_changes = []
    written: dict[str, str] = {}   # a set path, dotted as validation names it -> the change entry naming it
    for i, change in enumerate(scenario.changes):
        found: list[Problem] = []
        derived, work, paths = changes.derive(data, lines, scenario.changes, i, _defaults(), found)
        if found:
            problems.extend(found)
            continue
        written.update({".".join(map(str, path)): f"changes.{i}.set.{key}"
                        for key, path in zip(change.set, paths, strict=True)})
        try:
            after, _ = validate_data(derived, work)
        except ScenarioError as exc:
            day = f"the scenario in force from day {change.at_day:g}"
            problems.extend(Problem(p.file, p.line, changes.named(p.path, written), f"{p.message} ({day})")
                            for p in exc.problems)
            continue
        dump = after.model_dump(mode="json")
        for part, before in changes.layout(dump).items():
            if before != layout[part]:
                file, line = changes.origin(lines, ("changes", i, "set"))
                problems.append(Problem(file, line, f"changes.{i}.set", f"changes the run's structure ({part}), "
                                        "which is fixed for the run"))
                break
        values = {key: changes.value_at(dump, path) for key, path in zip(change.set, paths, strict=True)}
        scaled_changes.append(Change(at_day=change.at_day, over_days=change.over_days, set=values))
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    if base is scenario:   # nothing scaled now: the changes stay as written
        return scenario
    return base.model_copy(update={"changes": scaled_changes})


def in_force(scenario: Any) -> list[Any]:
    """The scenario in force from each of ``scenario``'s changes on (the base with every change up to it
    applied), in the changes' order: what the engine adopts on each change's day. Values are used as they
    stand (``scenario`` is scaled already: :func:`validated` scaled its changes with it)."""
    if not scenario.changes:
        return []
    base = scenario.model_dump(mode="json")
    lines = LineMap("scenario")
    defaults = _defaults()
    out = []
    for i in range(len(scenario.changes)):
        derived, work, _ = changes.derive(base, lines, scenario.changes, i, defaults)
        out.append(validate_data(derived, work)[0])
    return out


def _without_settled_each(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without ``process.contact_settlement: each`` and without ``contact_window_days`` unless beside
    ``aggregate``.

    ``each`` names what every contact now is (decided at its own time), and under it (the old default) the
    window never had an effect, so a scenario written before the setting was retired, such as the
    ``scenario.resolved.yaml`` of an older result, which spells out both, still runs and gives the same
    results. Only ``aggregate``, which would no longer be what it says, is refused, and the window with it
    (:data:`RETIRED_FIELDS`)."""
    process = data.get("process") if isinstance(data, dict) else None
    if not isinstance(process, dict) or process.get("contact_settlement", "each") != "each":
        return data
    kept = {k: v for k, v in process.items() if k not in ("contact_settlement", "contact_window_days")}
    return {**data, "process": kept}


def _name_retired(problems: list[Problem]) -> list[Problem]:
    """The problems, with an unknown field that a scenario could once set (:data:`RETIRED_FIELDS`) named as
    retired, and why."""
    def why(path: str) -> str | None:   # ("*" in a retired path stands for any list index or key)
        parts = path.split(".")
        for retired, reason in RETIRED_FIELDS.items():
            if len(retired) == len(parts) and all(r in ("*", q) for r, q in zip(retired, parts, strict=True)):
                return reason
        return None

    return [Problem(p.file, p.line, p.path, reason) if p.message.startswith("unknown field")
            and (reason := why(p.path)) is not None else p for p in problems]


def _half_up(n: int, scale: float) -> int:
    """``n * scale`` rounded half up."""
    return math.floor(n * scale + 0.5)


def _scaled_count(n: int, scale: float) -> int:
    """``n * scale`` rounded half up, and at least 1 when ``n`` is above 0."""
    return max(1, _half_up(n, scale)) if n > 0 else 0


def apply_scale(s: Scenario) -> Scenario:
    """The scenario with ``population_scale`` applied (see the field); unchanged at scale 1 or if applied.

    Arrival rates (and every rate period) are multiplied by the scale; initial population counts are
    rounded half up (0 allowed); staff counts and provider places are rounded half up, at least 1 where
    the full-size figure is above 0. ``population_scale`` is kept and ``population_scale_applied`` set.
    """
    k = s.population_scale
    if k == 1 or s.population_scale_applied:
        return s
    data = s.model_dump(mode="json")
    arr = data["arrivals"]
    arr["rate_per_day"] = s.arrivals.rate_per_day * k
    for period in arr["periods"]:
        period["rate_per_day"] = period["rate_per_day"] * k
    data["initial_population"]["by_stage"] = {st: _half_up(n, k) for st, n in s.initial_population.by_stage.items()}
    for group in data["staff"]:
        group["count"] = _scaled_count(group["count"], k)
    for provider in data["providers"]:
        provider["places"] = _scaled_count(provider["places"], k)
    data["population_scale_applied"] = True
    return Scenario.model_validate(data)


# --------------------------------------------------------------------------- size of a run

#: The largest estimated run (events, as :func:`estimate_size` counts them) the command line starts without
#: ``--allow-large``. The national scenarios (``england_wales.yaml``, ``england_wales_national.yaml``: tens of
#: millions of rows of events in practice) are estimated at over a hundred million, and the ceiling leaves
#: about twice that. A national run is held within 4 GiB (docs/performance-overview.md), so a run at the
#: ceiling would need several times that: what a well-equipped workstation holds, and hours of computing.
EVENT_CEILING = 300_000_000
#: The most ticks (``horizon_days / tick_days``: rows of the time series, each a pass over the staff) the
#: command line runs without ``--allow-large``: a century of daily ticks is 36,500.
TICK_CEILING = 100_000
#: What :func:`estimate_size` counts per case, per stay (entry and exit, load and holder changes,
#: assessment, plan, referrals and interventions, mode changes), per contact, per formal review (review,
#: re-assessment, risk and mode change) and per further offence (breach, court or recall and the stay it
#: starts): set from the event logs of the baseline and the national preset (about 10-11 rows a stay beside
#: the contacts and reviews), rounded up. A case counts 30: its arrival, allocation and exit rows, and its
#: own memory (a couple of KB, docs/performance-overview.md), which weighs about as much as a few dozen
#: rows of the log at a national run's peak (tens of bytes a row), so a huge initial population is caught
#: even over a short horizon.
PER_CASE, PER_STAY, PER_CONTACT, PER_REVIEW, PER_OFFENCE = 30.0, 12.0, 1.0, 3.0, 15.0
#: A staff post counts as this many events (its agent, rosters and index entries weigh about as much in
#: memory), plus two per absence (start and end).
PER_POST = 50.0
#: Journeys with more stages than this are estimated without solving for their lengths (every case taken to
#: stay to the horizon), so the estimate stays cheap whatever the file.
MAX_SOLVED_STAGES = 300


@dataclass(frozen=True)
class RunSize:
    """The estimated size of a run (see :func:`estimate_size`)."""

    events: float          # case and staff events together
    initial: float         # cases at day 0
    arrivals: float        # expected arrivals over the horizon
    case_events: float     # events of the cases
    staff_events: float    # events (and weight) of the staff posts
    ticks: float           # horizon / tick
    driver: tuple[Any, ...]  # the scenario field that most makes the run large

    @property
    def cases(self) -> float:
        return self.initial + self.arrivals

    @property
    def per_case(self) -> float:
        return self.case_events / self.cases if self.cases > 0 else 0.0


def _journey_rates(s: Scenario) -> dict[str, dict[str, tuple[float, float]]]:
    """Per risk level and stage: (happenings from entering the stage to leaving the system, happenings a day).

    Stays are mean stays (the longer of ``duration`` and any ``duration_from``, times the offence mix's mean
    multiplier); a case is taken to have its contacts at the most frequent mode's interval in every stage with
    contacts (an upper bound: most cases are in slower modes). With Q the transition probabilities between
    stages (by risk), the totals solve (I - Q) x = per-stay happenings, and the time to EXIT (I - Q) t = stays.
    A risk level that cannot reach EXIT from a stage, or a journey too large to solve, gets an infinite total
    and the fastest stage's rate a day, so its cases count until the horizon.
    """
    import numpy as np

    names = list(s.journey.stages)
    index = {n: i for i, n in enumerate(names)}
    mix = s.arrivals.offence_mix
    total_mix = sum(mix.values()) or 1.0
    contact_rate = 1.0 / min(m.contact_interval_days for m in s.modes.values())
    review_rate = 1.0 / s.process.review_interval_days
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for risk in RISKS:
        stay = np.zeros(len(names))
        reward = np.zeros(len(names))
        q = np.zeros((len(names), len(names)))
        for name, st in s.journey.stages.items():
            i = index[name]
            longest = 0.0
            for d in (st.duration, *st.duration_from.values()):
                factor = sum(share * d.offence_multiplier.get(o, 1.0) for o, share in mix.items()) / total_mix \
                    if sum(mix.values()) > 0 else 1.0
                longest = max(longest, d.mean_days[risk] * factor)
            stay[i] = longest
            per_day = (contact_rate * PER_CONTACT * ("contacts" in st.activities)
                       + review_rate * PER_REVIEW * ("review" in st.activities)
                       + max(st.reoffending_rate_per_year[risk],
                             s.reoffending.supervised_rate_per_year[risk] * (st.setting == "community"
                                                                            and st.on_breach is not None))
                       / DAYS_PER_YEAR * PER_OFFENCE)
            reward[i] = PER_STAY + longest * per_day
            for target, p in st.next.items():
                if target in index:
                    q[i, index[target]] += p[risk]
        fastest = float(np.max(reward / stay))
        totals = times = None
        if len(names) <= MAX_SOLVED_STAGES:
            try:
                a = np.eye(len(names)) - q
                totals, times = np.linalg.solve(a, reward), np.linalg.solve(a, stay)
            except np.linalg.LinAlgError:
                totals = times = None
        rates = {}
        for name, i in index.items():
            if totals is None or not (np.isfinite(totals[i]) and np.isfinite(times[i]) and totals[i] > 0
                                      and times[i] > 0):
                rates[name] = (math.inf, fastest)
            else:
                rates[name] = (float(totals[i]), float(totals[i] / times[i]))
        out[risk] = rates
    return out


def _accrued(total: float, rate: float, days: float) -> float:
    """Happenings of a case that has ``days`` left: its total, or ``rate`` a day until the horizon."""
    return min(total, rate * days)


def _accrued_integral(total: float, rate: float, x: float) -> float:
    """The integral of :func:`_accrued` over days left from 0 to ``x``."""
    knee = total / rate if rate > 0 else math.inf
    if x <= knee:
        return rate * x * x / 2
    return rate * knee * knee / 2 + total * (x - knee)


def estimate_size(s: Scenario) -> RunSize:
    """A cheap estimate of how large a run of ``s`` is, from its parameters alone (nothing is built).

    Cases: the initial population plus the expected arrivals over the horizon (every rate period counted
    for the days it lasts). Each case's happenings come from :func:`_journey_rates`, cut at the horizon
    (a case arriving on day t accrues at most its stage's rate a day for the days left). Staff posts count
    :data:`PER_POST` each plus two events per expected absence (leave blocks, sickness episodes) and a few
    per departure. It errs on the high side (two to three times the rows of the shipped presets' logs);
    what it must get right is the order of magnitude, before anything is allocated. It takes well under a
    second even for the largest journey a file can hold (:data:`MAX_SOLVED_STAGES`).
    """
    h = s.time.horizon_days
    mix = s.arrivals.risk_mix.as_dict()
    mix_total = sum(mix.values()) or 1.0
    rates = _journey_rates(s)
    stages = s.journey.stages
    initial_events, initial = 0.0, 0.0
    by_stage_events: dict[str, float] = {}
    for stage, count in s.initial_population.by_stage.items():
        if stage not in stages or count <= 0:
            continue
        each = sum(mix[r] / mix_total * _accrued(*rates[r][stage], h) for r in RISKS)
        by_stage_events[stage] = count * (PER_CASE + each)
        initial_events += by_stage_events[stage]
        initial += count
    pieces = [(0.0, s.arrivals.rate_per_day, ("arrivals", "rate_per_day"))]
    pieces += [(p.start_day, p.rate_per_day, ("arrivals", "periods", i, "rate_per_day"))
               for i, p in enumerate(s.arrivals.periods)]
    arrivals, arrival_events = 0.0, 0.0
    by_piece: dict[tuple[Any, ...], float] = {}
    entry = s.journey.entry
    for k, (start, rate, where) in enumerate(pieces):
        end = min(h, pieces[k + 1][0]) if k + 1 < len(pieces) else h
        if end <= start or rate <= 0 or entry not in stages:
            continue
        n = rate * (end - start)
        events = n * PER_CASE + rate * sum(
            mix[r] / mix_total * (_accrued_integral(*rates[r][entry], h - start)
                                  - _accrued_integral(*rates[r][entry], h - end)) for r in RISKS)
        arrivals += n
        arrival_events += events
        by_piece[where] = by_piece.get(where, 0.0) + events
    st = s.staffing
    absences_a_year = (st.annual_leave_days / st.leave_block_days + st.sickness_days_per_year
                       / st.sickness_episode_days + 2 * st.turnover_per_year)
    per_post = PER_POST + 2 * absences_a_year * h / DAYS_PER_YEAR
    staff_events = sum(g.count for g in s.staff) * per_post
    case_events = initial_events + arrival_events
    driver = _size_driver(s, by_stage_events, by_piece, staff_events, case_events, initial + arrivals)
    return RunSize(events=case_events + staff_events, initial=initial, arrivals=arrivals,
                   case_events=case_events, staff_events=staff_events,
                   ticks=h / s.time.tick_days, driver=driver)


#: Happenings per case above which :func:`estimate_size` blames how often things happen to a case rather
#: than how many cases there are (the national preset has about 137).
BUSY_CASE = 1_000.0


def _size_driver(s: Scenario, by_stage: dict[str, float], by_piece: dict[tuple[Any, ...], float],
                 staff_events: float, case_events: float, cases: float) -> tuple[Any, ...]:
    """The field to point at when a run is too large: the staff group, the frequency of happenings, the
    arrival rate or the initial stock that contributes most."""
    if staff_events > case_events:
        i = max(range(len(s.staff)), key=lambda k: s.staff[k].count)
        return ("staff", i, "count")
    if cases > 0 and case_events / cases > BUSY_CASE:
        fastest = min(s.modes, key=lambda m: s.modes[m].contact_interval_days)
        shortest = min(s.journey.stages, key=lambda n: min(s.journey.stages[n].duration.mean_days.as_dict()
                                                          .values()))
        contact_rate = PER_CONTACT / s.modes[fastest].contact_interval_days
        review_rate = PER_REVIEW / s.process.review_interval_days
        stay_rate = PER_STAY / min(s.journey.stages[shortest].duration.mean_days.as_dict().values())
        top = max(contact_rate, review_rate, stay_rate)
        if top == contact_rate:
            return ("modes", fastest, "contact_interval_days")
        if top == review_rate:
            return ("process", "review_interval_days")
        return ("journey", "stages", shortest, "duration", "mean_days")
    candidates = {**{("initial_population", "by_stage", k): v for k, v in by_stage.items()}, **by_piece}
    if not candidates:
        return ("time", "horizon_days")
    return max(candidates, key=lambda k: candidates[k])


def about(n: float) -> str:
    """``n`` to three significant figures with thousands separators (1,830,000,000); beyond 10^15, as a
    power of ten (an integer of any size is fine: the count of a huge factorial design)."""
    if isinstance(n, float) and not math.isfinite(n):
        return "unboundedly many"
    if n >= 1e15:
        return f"10^{int(math.log10(n))}"
    return f"{float(f'{float(n):.3g}'):,.0f}"


def size_problems(s: Scenario, lines: LineMap) -> list[Problem]:
    """Problems if a run of ``s`` is estimated over :data:`EVENT_CEILING` events or :data:`TICK_CEILING`
    ticks, each pointing at the field that most drives it (``file:line: field: the run would be ...``)."""
    size = estimate_size(s)
    out = []
    advice = "pass --allow-large to run it anyway"
    if size.events > EVENT_CEILING:
        file, line = lines.locate(size.driver)
        detail = (f"about {about(size.cases)} cases ({about(size.initial)} at the start and about "
                  f"{about(size.arrivals)} arriving over {s.time.horizon_days:g} days) with about "
                  f"{about(size.per_case)} happenings each, and {about(sum(g.count for g in s.staff))} staff")
        out.append(Problem(file, line, ".".join(str(p) for p in size.driver),
                           f"the run would be about {about(size.events)} events (ceiling {about(EVENT_CEILING)}); "
                           f"{detail}; {advice}"))
    if size.ticks > TICK_CEILING:
        file, line = lines.locate(("time", "tick_days"))
        out.append(Problem(file, line, "time.tick_days",
                           f"the run would be about {about(size.ticks)} ticks (ceiling {about(TICK_CEILING)}): "
                           f"time.horizon_days {s.time.horizon_days:g} / time.tick_days {s.time.tick_days:g}; "
                           f"{advice}"))
    return out


def check_size(s: Scenario, lines: LineMap) -> None:
    """Raise ``ScenarioError`` with :func:`size_problems`, if any (the command line's guard)."""
    problems = size_problems(s, lines)
    if problems:
        raise ScenarioError(problems)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a scenario file, with units and sources, for editors."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "casesim scenario"
    schema.setdefault("properties", {})["extends"] = {
        "description": "path(s) of scenario files this one builds on, relative to this file",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return schema


__all__ = ["RISKS", "Scenario", "load_scenario", "validate_data", "apply_scale", "json_schema", "cross_check", "Field",
           "RunSize", "estimate_size", "size_problems", "check_size", "EVENT_CEILING", "TICK_CEILING"]
