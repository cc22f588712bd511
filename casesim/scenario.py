"""The scenario: a validated, frozen description of one service and its case-management model.

``load_scenario(path, overrides)`` reads YAML (with ``extends:`` and ``--set`` overrides),
validates it against :class:`Scenario` and runs the cross-field checks, raising
:class:`~casesim.yamlio.ScenarioError` whose problems read ``file:line: field.path: problem``.
Every parameter carries a unit and the source or reasoning for its default (see
``casesim schema``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from casesim import models
from casesim.journey import Journey, check_journey
from casesim.models.staffing import Staffing
from casesim.params import MODES, RISKS, SETTINGS, ByRisk, P, Strict, reject_unknown
from casesim.yamlio import LineMap, Problem, ScenarioError, problems_from_validation, resolve

ASSUMPTION = "assumption"


class TimeSpec(Strict):
    """Run length and the part of it excluded from metrics."""

    horizon_days: float = P(1460, "days", "four years: long enough for orders started after warm-up to end",
                            gt=0)
    warmup_days: float = P(365, "days", "one year: the longest common stay (a community order) settles",
                           ge=0)
    tick_days: float = P(7, "days", "a week: the natural reporting period of supervision", gt=0)


class RatePeriod(Strict):
    """From ``start_day`` on, arrivals come at ``rate_per_day``."""

    start_day: float = P(..., "day", "scenario input", ge=0)
    rate_per_day: float = P(..., "cases per day", "scenario input", ge=0)


class Arrivals(Strict):
    """New cases (people coming to court for sentence): a Poisson process and their attributes."""

    rate_per_day: float = P(9.0, "cases per day", "assumption: a mid-sized probation area (about 1/40 of "
                            "England & Wales)", ge=0)
    periods: list[RatePeriod] = P(list, "list", "optional: piecewise-constant rate changes over time")
    risk_mix: ByRisk = P(lambda: ByRisk(LOW=0.35, MEDIUM=0.45, HIGH=0.20), "share",
                         "assumption, close to the risk-of-serious-harm mix of E&W probation caseloads")
    offence_mix: dict[str, float] = P(lambda: {"general": 0.5, "violent": 0.25, "drug": 0.15,
                                               "sexual": 0.10}, "share", ASSUMPTION)
    needs_prevalence: dict[str, ByRisk] = P(lambda: {
        "substance_misuse": ByRisk(LOW=0.25, MEDIUM=0.40, HIGH=0.50),
        "mental_health": ByRisk(LOW=0.25, MEDIUM=0.35, HIGH=0.45),
        "accommodation": ByRisk(LOW=0.10, MEDIUM=0.20, HIGH=0.35),
        "employment": ByRisk(LOW=0.30, MEDIUM=0.45, HIGH=0.55),
        "education": ByRisk(LOW=0.20, MEDIUM=0.30, HIGH=0.40),
    }, "probability per need and risk level", "assumption: criminogenic needs are common and rise with risk")
    propensity_sd: float = P(1.0, "logit units", "assumption: spread of individual compliance propensity "
                             "(standard normal on the logit scale)", ge=0)
    motivation_mean: float = P(0.5, "0..1", ASSUMPTION, gt=0, lt=1)
    motivation_concentration: float = P(4.0, "beta a+b", "assumption: a broad beta distribution", gt=0)

    @field_validator("periods")
    @classmethod
    def _sorted(cls, periods: list[RatePeriod]) -> list[RatePeriod]:
        starts = [p.start_day for p in periods]
        if starts != sorted(starts):
            raise ValueError("periods must be in increasing start_day order")
        return periods


class InitialPopulation(Strict):
    """Cases already in the system at day 0, by stage (each with a residual stay)."""

    by_stage: dict[str, Annotated[int, Field(ge=0, strict=True)]] = P(
        dict, "cases", "scenario input; warm-up absorbs the approximation")


class StaffGroup(Strict):
    """A group of case managers alike in setting, capacity and skills."""

    name: str = P("staff", "label", "scenario input")
    setting: Literal["community", "custody"] = P(..., "setting", "scenario input")
    count: int = P(..., "staff", "scenario input", ge=0, strict=True)
    patches: list[str] = P(list, "patch names", "spread round-robin over these; empty = covers every patch")
    capacity: float = P(40.0, "weighted cases", "assumption: with the default mode weights a manager at 100% "
                        "holds about 35-40 mixed cases, the E&W average caseload (parliamentary answer 11 "
                        "Sep 2024: 35.2-37.1)", ge=0)
    modes: list[str] = P(lambda: list(MODES), "modes", "assumption: generic staff are skilled in every mode")
    specialisms: list[str] = P(list, "labels", "stages, tasks, risk levels, offence types or needs")
    role: str = P("", "key of costs.roles", "empty = costs.default_role of the group's setting; team chairs and "
                  "members are staff of their groups and are costed with them")

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, modes: list[str]) -> list[str]:
        reject_unknown(modes, MODES, "mode")
        return modes


class ModeSpec(Strict):
    """What a supervision mode asks of staff and case."""

    contact_interval_days: float = P(..., "days", "see modes defaults", gt=0)
    workload_weight: float = P(..., "weighted cases", "see modes defaults", ge=0)
    cost_per_contact: float = P(..., "currency per contact", "see modes defaults", ge=0,
                                description="non-staff expenses of a contact (drug tests, materials, "
                                "monitoring, travel); staff time is costed through workload hours")
    intensity: float = P(..., "0..1", "see modes defaults", ge=0, le=1)


_MODE_SOURCE = ("intervals: assumption (monthly to weekly as intrusiveness rises); weights: APPA workload "
                "standard of 1/2/4 hours per low/moderate/intensive case a month, relative to brokerage; "
                "non-staff cost per contact: assumption, none for administrative contacts rising to testing "
                "and monitoring in comprehensive mode")


def _default_modes() -> dict[str, ModeSpec]:
    return {
        "ADMINISTRATIVE": ModeSpec(contact_interval_days=28, workload_weight=0.5, cost_per_contact=0,
                                   intensity=0.0),
        "BROKERAGE": ModeSpec(contact_interval_days=14, workload_weight=1.0, cost_per_contact=2,
                              intensity=0.33),
        "THERAPEUTIC": ModeSpec(contact_interval_days=7, workload_weight=1.5, cost_per_contact=10,
                                intensity=0.67),
        "COMPREHENSIVE": ModeSpec(contact_interval_days=7, workload_weight=2.0, cost_per_contact=20,
                                  intensity=1.0),
    }


class Management(Strict):
    """The case-management model of one setting."""

    cover: models.params_type("cover") = P(lambda: {"name": "temporary"}, "policy",
                                            "assumption: absent managers' cases go to a colleague for the "
                                            "absence and come back")
    approach: models.params_type("approach") = P(lambda: {"name": "individual"}, "policy",
                                                  "DOMICE: individual-based in the community")
    segmentation: models.params_type("segmentation") = P(lambda: {"name": "patch"}, "policy",
                                                          "DOMICE: locality (patch) working")


def _default_management() -> dict[str, Management]:
    return {"community": Management.model_validate({}),
            "custody": Management.model_validate({"approach": {"name": "team"},
                                                  "segmentation": {"name": "patch", "match_patch": False}})}


class RiskReview(Strict):
    """How a formal review re-scores risk."""

    compliant_threshold: float = P(0.75, "share of contacts kept", ASSUMPTION, ge=0, le=1)
    p_down_if_compliant: float = P(0.15, "probability per review", "assumption: engagement lowers assessed "
                                   "risk over time", ge=0, le=1)
    p_up_if_noncompliant: float = P(0.1, "probability per review", "assumption: disengagement raises "
                                    "assessed risk", ge=0, le=1)


class Process(Strict):
    """Timing and rules of the ASSESS -> PLAN -> IMPLEMENT -> REVIEW cycle."""

    first_contact_days: float = P(5, "days", "E&W practice: first appointment within five working days of "
                                  "sentence or release", ge=0)
    plan_days: float = P(7, "days", "assumption: a plan follows the assessment within a week", ge=0)
    review_interval_days: float = P(120, "days", "assumption: formal review about every four months", gt=0)
    mandatory_share: float = P(0.3, "share of identified needs", "assumption: share of needs the court makes "
                               "a requirement (e.g. drug or mental-health treatment requirements)", ge=0, le=1)
    discretionary_uptake: float = P(0.5, "probability", "assumption: discretionary referrals taken up, "
                                    "scaled by motivation/0.5", ge=0, le=1)
    risk_review: RiskReview = P(RiskReview, "section", "see fields")
    contact_settlement: Literal["each", "aggregate"] = P(
        "each", "choice", "model grain, not behaviour: `each` decides every required contact at its own time; "
        "`aggregate` decides the contacts due in a window at once (each kept stretch as one row, each miss at "
        "its own time), for national runs; see README: contacts in aggregate")
    contact_window_days: float = P(56, "days", "with contact_settlement: aggregate, the longest window; it also "
                                   "ends at the case's next assessment, plan, review, offence or end of stay and "
                                   "at the next leave, absence or return of anyone its contacts rest on (it runs "
                                   "across the manager's absence when no cover policy acts on it). 56: the "
                                   "longest window the prototype measured without a bias beyond seed noise", gt=0)


class Compliance(Strict):
    """Coefficients of the logistic model of keeping a contact (see README: compliance model)."""

    intercept: float = P(3.2, "logit", "calibrated so the baseline keeps about 90% of contacts and completes "
                         "about 70-74% of orders (E&W parliamentary answer, Dec 2023)")
    propensity: float = P(1.0, "logit per sd", "scale of the case's latent propensity")
    motivation: float = P(1.0, "logit per unit above 0.5", ASSUMPTION)
    risk: ByRisk = P(lambda: ByRisk(LOW=0.0, MEDIUM=-0.4, HIGH=-0.8), "logit",
                     "assumption: higher-risk people miss more appointments")
    intensity: float = P(-0.3, "logit at intensity 1", "assumption from intensive-supervision trials "
                         "(Petersilia & Turner 1993): more demands, more technical violations")
    continuity: float = P(0.5, "logit at saturation", "assumption: a stable relationship with one case "
                          "manager supports engagement (DOMICE continuity)")
    continuity_saturation_days: float = P(180, "days", ASSUMPTION, gt=0)
    pressure: float = P(-1.5, "logit per unit of pressure above the threshold", "assumption: quality falls "
                        "as caseloads rise (HMI Probation 2021: at 50 or more cases)")
    pressure_threshold: float = P(1.0, "pressure", "assumption: effects start above 100% of capacity", ge=0)
    unmet_need: float = P(-0.15, "logit per unmet identified need", ASSUMPTION)


class ProviderDuration(Strict):
    """Length of an intervention."""

    dist: Literal["fixed", "exponential", "lognormal", "uniform"] = P("exponential", "distribution",
                                                                     ASSUMPTION)
    mean_days: float = P(..., "days", "scenario input", gt=0)
    cv: float = P(0.5, "coefficient of variation", "ignored for fixed and exponential", ge=0)


class ProviderSpec(Strict):
    """A service that addresses one need, with places and a waiting list."""

    name: str = P(..., "label", "scenario input")
    setting: Literal["community", "custody"] = P(..., "setting", "scenario input")
    need: str = P(..., "need", "scenario input")
    route: Literal["in_house", "contracted", "universal"] = P("contracted", "route", "DOMICE: in-house, "
                                                              "funded external, or universal citizen service")
    relationship: Literal["statutory_duty", "protocol", "none"] = P("protocol", "relationship",
                                                                   "DOMICE: statutory duty to co-operate, "
                                                                   "inter-agency protocol, or none")
    places: int = P(..., "places", "scenario input", ge=0, strict=True)
    duration: ProviderDuration = P(..., "section", "scenario input")
    completion_probability: float = P(0.6, "probability", ASSUMPTION, ge=0, le=1)
    acceptance_probability: float = P(0.85, "probability", ASSUMPTION, ge=0, le=1)
    acceptance_delay_days: float = P(7, "days", ASSUMPTION, ge=0)
    cost_per_place_day: float = P(15, "currency per occupied place-day", ASSUMPTION, ge=0)
    priority_by_risk: bool = P(False, "flag", "first come first served unless set: then HIGH before MEDIUM "
                               "before LOW")


class RelationshipEffect(Strict):
    """How a provider's relationship with the agency changes referrals to it."""

    acceptance_factor: float = P(1.0, "factor on the acceptance probability (capped at 1)", ASSUMPTION, ge=0)
    delay_factor: float = P(1.0, "factor on the acceptance delay", ASSUMPTION, ge=0)


def _default_relationships() -> dict[str, RelationshipEffect]:
    return {"statutory_duty": RelationshipEffect(acceptance_factor=1.15, delay_factor=0.5),
            "protocol": RelationshipEffect(acceptance_factor=1.0, delay_factor=1.0),
            "none": RelationshipEffect(acceptance_factor=0.8, delay_factor=1.5)}


class RoleCost(Strict):
    """What one full-time post of a role costs and how many hours of casework it gives."""

    annual_cost: float = P(..., "currency per FTE-year, salary plus employer on-costs", "see costs.roles", ge=0)
    productive_hours: float = P(..., "hours of casework per FTE-year", "see costs.roles", gt=0)


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
                          "(OASys-type) takes 2-4 hours with the interview", ge=0)
    reassessment: float = P(1.0, "hours per re-assessment at a review", "assumption: updating an existing "
                            "assessment takes about a third of a new one", ge=0)
    plan: float = P(1.0, "hours per plan", ASSUMPTION, ge=0)
    contact: dict[str, float] = P(lambda: {"ADMINISTRATIVE": 0.5, "BROKERAGE": 0.75, "THERAPEUTIC": 1.0,
                                           "COMPREHENSIVE": 1.25},
                                  "hours per contact (kept or missed), by mode",
                                  "APPA workload standard (1/2/4 case-hours a month for low/moderate/intensive "
                                  "cases) at the modes' monthly/fortnightly/weekly intervals is about 1 hour per "
                                  "contact including all casework; set lower here because assessment, plan, "
                                  "review, reports and enforcement are counted separately (assumption)")
    review: float = P(1.0, "hours per formal review", ASSUMPTION, ge=0)
    team_meeting: float = P(1.0, "hours per member present", "assumption: a one-hour case conference; provider "
                            "representatives present are counted as staff time too", ge=0)
    pre_sentence_report: float = P(4.0, "hours per new case", "assumption: every new case comes to court for "
                                   "sentence; a written pre-sentence report takes about half a day (oral "
                                   "reports less)", ge=0)
    breach_report: float = P(3.0, "hours per return to court", "assumption: breach report and court attendance",
                             ge=0)
    warning: float = P(0.5, "hours per formal warning", "assumption: letter and recording", ge=0)
    breach: float = P(2.0, "hours per breach", "assumption: breach or recall papers and management sign-off",
                      ge=0)
    referral: float = P(1.0, "hours per referral", "assumption: brokering a place (forms, calls, follow-up)", ge=0)


class Costs(Strict):
    """Money per unit, staff roles and the hours each activity takes (see README: costs and staffing).

    Cost categories: ``staff`` (posts paid: FTE in post x annual cost; contacts and all other casework
    are staff time inside it), ``custody`` (prison place-days), ``interventions`` (provider place-days),
    ``courts`` (breach hearings) and ``recalls`` (recall administration and return).
    """

    currency: str = P("GBP", "ISO code", "scenario input")
    custody_per_day: float = P(141.7, "currency per prisoner-day", "MoJ 2022-23: 51,724 GBP per prison place "
                               "a year / 365 (includes prison staff but not the offender managers costed as "
                               "staff here: a small overlap)", ge=0)
    court_hearing: float = P(600, "currency per return to court", "assumption: order of magnitude of a "
                             "breach hearing", ge=0)
    recall: float = P(1000, "currency per recall", "assumption: administration and police return, "
                      "excluding custody days", ge=0)
    roles: dict[str, RoleCost] = P(_default_roles, "role -> cost", _ROLE_SOURCE)
    default_role: dict[str, str] = P(lambda: {"community": "probation_officer",
                                              "custody": "prison_offender_manager"},
                                     "setting -> key of roles", "the role of a staff group without a role, "
                                     "and of work done by teams or brokered for the case")
    workload: Workload = P(Workload, "section", "see fields")
    price_providers_by: Literal["provider", "route"] = P(
        "provider", "choice", "provider: each provider's own cost_per_place_day (the override); route: "
        "costs.place_day_by_route, e.g. to reprice every provider in another currency")
    place_day_by_route: dict[Literal["in_house", "contracted", "universal"], float] = P(
        lambda: {"in_house": 10.0, "contracted": 20.0, "universal": 0.0}, "currency per occupied place-day",
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


class Scenario(Strict):
    """Everything a run needs. Frozen after validation."""

    name: str = P("scenario", "label", "scenario input")
    description: str = P("", "text", "scenario input")
    seed: int = P(20261122, "integer", "any fixed number; --seed overrides", ge=0, strict=True)
    population_scale: float = P(
        1.0, "fraction of the real population simulated", "1 = the service at full size",
        description="simulate a sample of the service: 0.01 is 1 in 100. At load, arrival rates are multiplied "
        "by it, initial population counts too (rounded), staff counts and provider places too (rounded, at "
        "least 1 where the full-size figure is above 0). Intensive figures (caseload per manager, pressure, "
        "shares, rates per case-year) are unchanged apart from noise and rounding; divide extensive ones "
        "(people, events, costs) by it to read them at full size", gt=0, le=1)
    population_scale_applied: bool = P(
        False, "flag", "set by the loader", description="true once the counts in this scenario have been "
        "multiplied by population_scale (a resolved scenario), so loading it again does not scale twice")
    time: TimeSpec = P(TimeSpec, "section", "see fields")
    patches: dict[str, float] = P(lambda: {"North": 1.0, "South": 1.0, "East": 1.0, "West": 1.0,
                                           "Central": 1.0, "Rural": 1.0},
                                  "relative weight of arrivals", "assumption: six equal localities")
    arrivals: Arrivals = P(Arrivals, "section", "see fields")
    initial_population: InitialPopulation = P(InitialPopulation, "section", "see fields")
    journey: Journey = P(Journey.default, "section", "see journey.py")
    staff: list[StaffGroup] = P(lambda: [
        StaffGroup(name="probation", setting="community", count=75, patches=[]),
        StaffGroup(name="offender_management_in_custody", setting="custody", count=25, capacity=40)],
        "list", "assumption: a mid-sized area")
    modes: dict[str, ModeSpec] = P(_default_modes, "section", _MODE_SOURCE)
    management: dict[str, Management] = P(_default_management, "setting -> model",
                                          "DOMICE: individual in the community, team-based in custody")
    mode_assignment: models.params_type("mode_assignment") = P(lambda: {"name": "risk_table"}, "policy",
                                                                "see modes.py")
    enforcement: models.params_type("enforcement") = P(lambda: {"name": "graduated"}, "policy",
                                                        "see enforcement.py")
    process: Process = P(Process, "section", "see fields")
    compliance: Compliance = P(Compliance, "section", "see fields")
    providers: list[ProviderSpec] = P(list, "list", "scenario input")
    relationships: dict[Literal["statutory_duty", "protocol", "none"], RelationshipEffect] = P(
        _default_relationships, "relationship -> effect", "DOMICE: a statutory duty to co-operate or an "
        "inter-agency protocol eases brokering; assumption: a duty accepts more and faster, no relationship "
        "less and slower")
    staffing: Staffing = P(Staffing, "section", "see fields")
    costs: Costs = P(Costs, "section", "see fields")

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

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the scenario (identifies a configuration)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def cross_check(s: Scenario) -> list[tuple[tuple[Any, ...], str]]:
    """Checks across sections, as (path, message) pairs."""
    out: list[tuple[tuple[Any, ...], str]] = list(check_journey(s.journey))
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
        for part in ("approach", "segmentation"):
            check = getattr(models.policy_class(part, getattr(m, part)), "check", None)
            if check is not None:
                out.extend(check(s, setting, ("management", setting, part)))
    for part in ("mode_assignment", "enforcement"):
        check = getattr(models.policy_class(part, getattr(s, part)), "check", None)
        if check is not None:
            out.extend(check(s, (part,)))
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
    for stage in s.initial_population.by_stage:
        if stage not in s.journey.stages:
            out.append((("initial_population", "by_stage", stage),
                        f"unknown stage; valid: {', '.join(s.journey.stages)}"))
    return out


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> tuple[Scenario, LineMap]:
    """Read, merge, override and validate a scenario file; raise ScenarioError on any problem."""
    data, lines = resolve(path, overrides, defaults=_defaults() if overrides else None)
    return validate_data(data, lines)


def _defaults() -> dict[str, Any]:
    """Every default of the schema, as plain data (what an empty scenario file means)."""
    return Scenario.model_validate({}).model_dump(mode="json")


def validate_data(data: dict[str, Any], lines: LineMap) -> tuple[Scenario, LineMap]:
    """Validate already-loaded data, mapping every problem to its file and line."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(problems_from_validation(exc, lines)) from None
    problems = []
    for path, message in cross_check(scenario):
        file, line = lines.locate(path)
        problems.append(Problem(file, line, ".".join(str(p) for p in path), message))
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    return apply_scale(scenario), lines


def _scaled_count(n: int, scale: float) -> int:
    """``n * scale`` rounded half up, and at least 1 when ``n`` is above 0."""
    return max(1, math.floor(n * scale + 0.5)) if n > 0 else 0


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
    data["initial_population"]["by_stage"] = {st: math.floor(n * k + 0.5)
                                              for st, n in s.initial_population.by_stage.items()}
    for group in data["staff"]:
        group["count"] = _scaled_count(group["count"], k)
    for provider in data["providers"]:
        provider["places"] = _scaled_count(provider["places"], k)
    data["population_scale_applied"] = True
    return Scenario.model_validate(data)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a scenario file, with units and sources, for editors."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "casesim scenario"
    schema.setdefault("properties", {})["extends"] = {
        "description": "path(s) of scenario files this one builds on, relative to this file",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return schema


__all__ = ["RISKS", "Scenario", "load_scenario", "validate_data", "apply_scale", "json_schema", "cross_check", "Field"]
