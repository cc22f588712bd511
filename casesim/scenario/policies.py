"""The parameters of every case-management policy, declared in the scenario layer.

A scenario chooses one policy of each kind by name: per setting (``management.<setting>``) an
``approach``, a ``segmentation`` and a ``cover`` policy; for the whole service a ``mode_assignment``
and an ``enforcement`` policy. Each policy is declared here by a pydantic parameter model whose
``name`` field is a ``Literal`` of the policy's name; :data:`POLICIES` lists them by kind, and the
schema validates each field against the discriminated union of its kind (:func:`params_type`).

A parameter model also carries the static checks of its policy against the rest of the scenario
(``check``): the scenario's cross-validation calls them, so reading and checking a scenario loads
no engine. The engine (``casesim/models/``) implements each policy: its registry maps each
parameter model here to the class that implements it (see docs/policies.md: writing a new policy).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import AfterValidator, Discriminator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from casesim.scenario.params import (
    CENTURY,
    CENTURY_DAYS,
    DECADE,
    DECADE_DAYS,
    FACTOR,
    FACTOR_LIMIT,
    LOGIT,
    LOGIT_LIMIT,
    MODES,
    PROBABILITY,
    RISKS,
    SHARE,
    P,
    Strict,
    reject_unknown,
)

if TYPE_CHECKING:
    from casesim.scenario.schema import Scenario, StaffGroup

KINDS = ("approach", "segmentation", "mode_assignment", "enforcement", "cover")
#: The kinds chosen per setting (under ``management.<setting>``); the others are chosen for the whole service.
SETTING_KINDS = ("approach", "segmentation", "cover")

Problems = list[tuple[tuple[Any, ...], str]]


class SettingPolicyParams(Strict):
    """Parameters of a policy chosen per setting (approach, segmentation, cover)."""

    def check(self, scenario: Scenario, setting: str, path: tuple[Any, ...]) -> Problems:
        """Problems of this policy in ``setting`` of ``scenario``, as (path, message) pairs: what it needs of
        the rest of the scenario (staff labels, stages). ``path`` is where the policy sits in the file."""
        return []


class ServicePolicyParams(Strict):
    """Parameters of a policy chosen for the whole service (mode assignment, enforcement)."""

    def check(self, scenario: Scenario, path: tuple[Any, ...]) -> Problems:
        """Problems of this policy in ``scenario``, as (path, message) pairs (see
        :meth:`SettingPolicyParams.check`)."""
        return []


# --------------------------------------------------------------------------- approach

_HANDOVER_SOURCE = ("DOMICE: what custody case management achieved (needs identified and met, a plan, "
                    "referrals) should carry over to licence")
_HANDOVER_EFFECT = ("when a case moves to the other setting: the chance each open referral is re-made at once "
                    "to the new setting's provider of the need, and the share by which the new setting's "
                    "assessment is shortened when a plan was made in the setting left")

class IndividualParams(SettingPolicyParams):
    """A named case manager holds the case."""

    name: Literal["individual"] = "individual"
    assessment_days: float = P(15, "days", "England & Wales practice: a sentence plan within 15 working days "
                               "of sentence (assumption: calendar days)", gt=0, le=DECADE_DAYS, limit=DECADE)
    detection_probability: float = P(0.8, "probability", "assumption: a single practitioner's structured "
                                     "assessment finds most but not all needs", ge=0, le=1, limit=PROBABILITY)
    keep_from_other_setting: bool = P(False, "flag", "DOMICE: under patch working one manager may hold the "
                                      "case through its whole journey, custody included ('through the gate')",
                                      "a manager from the other setting who holds the case on entry keeps it")
    handover_share: float = P(0.5, "share", _HANDOVER_SOURCE + "; assumption: one practitioner's handover "
                              "passes on about half of it", _HANDOVER_EFFECT, ge=0, le=1, limit=SHARE)


class TeamParams(SettingPolicyParams):
    """A team unique to the case, convened by a chair, holds it."""

    name: Literal["team"] = "team"
    staff_members: int = P(1, "staff", "DOMICE: custody teams draw staff and provider representatives; "
                           "assumption: one key worker besides the chair", ge=0, le=100, strict=True,
                           limit="a hundred: larger than any case conference")
    provider_representatives: bool = P(True, "flag", "DOMICE: team members are, or represent, providers of "
                                       "services")
    assessment_days: float = P(28, "days", "assumption: separate assessments by members, then a meeting to "
                               "agree them, take longer than one practitioner's", gt=0, le=DECADE_DAYS,
                               limit=DECADE)
    detection_probability: float = P(0.9, "probability", "assumption: several professional perspectives find "
                                     "more needs than one", ge=0, le=1, limit=PROBABILITY)
    chair_workload_share: float = P(1.0, "share of the case's workload weight", "assumption: the chair "
                                    "carries the case in the caseload count", ge=0, le=10,
                                    limit="ten times the case's weight: more than any one person carries")
    representative_acceptance_factor: float = P(
        1.1, "factor on the acceptance probability (on top of the relationship's; capped at 1)",
        "DOMICE: team members represent the providers addressing the case's needs; assumption: a provider's own "
        "representative on the team vouches for the referral, a modest 10% (range 1.0-1.3) more accepted",
        "referrals to a provider represented on the case's team", ge=0, le=FACTOR, limit=FACTOR_LIMIT)
    representative_delay_factor: float = P(
        0.7, "factor on the acceptance delay (on top of the relationship's)",
        "DOMICE: team members represent the providers addressing the case's needs; assumption: the "
        "representative takes the referral into the provider's process without the paperwork round, about "
        "30% (range 0.5-1.0) less delay", "referrals to a provider represented on the case's team", ge=0,
        le=FACTOR, limit=FACTOR_LIMIT)
    plan_days_factor: float = P(
        0.5, "factor on process.plan_days", "DOMICE: the team is convened by a chair with more authority; "
        "assumption: a chair who can commit members' services agrees the plan at the team's meeting instead "
        "of a week of follow-up, half the days (range 0.3-1.0)", "days from the assessment to the plan",
        ge=0, le=FACTOR, limit=FACTOR_LIMIT)
    handover_share: float = P(0.7, "share", _HANDOVER_SOURCE + "; assumption: a team whose plan several "
                              "members and the providers' representatives agreed passes on more than one "
                              "practitioner (individual: 0.5; range 0.5-0.9)", _HANDOVER_EFFECT, ge=0, le=1,
                              limit=SHARE)


class HybridParams(TeamParams):
    """A case team plus one member who drives the plan day to day."""

    name: Literal["hybrid"] = "hybrid"  # type: ignore[assignment]
    driver_workload_share: float = P(1.0, "share of the case's workload weight", "assumption: the driver "
                                     "carries the case like an individual case manager would", ge=0, le=10,
                                     limit="ten times the case's weight: more than any one person carries")


# --------------------------------------------------------------------------- segmentation

_PREFER_SOURCE = ("DOMICE continuity: returning a case to the manager who knew it; assumption that a "
                  "service does so only while that manager is under capacity")
_FALLBACK_SOURCE = "assumption: a service reallocates outside the segment rather than leave a case unallocated"

STAGE, TASK = "stage", "task"
ASSESSMENT = "assessment"           # the one task label: an assessment / pre-sentence report unit
TASK_LABELS = (ASSESSMENT,)


def labels(specialisms: Iterable[str], kind: str) -> frozenset[str]:
    """The values of the ``kind:value`` labels among ``specialisms``."""
    prefix = kind + ":"
    return frozenset(s[len(prefix):] for s in specialisms if s.startswith(prefix))


class SegmentationParams(SettingPolicyParams):
    """Parameters every segmentation shares."""

    prefer_previous_manager: bool = P(False, "flag", _PREFER_SOURCE, "allocate to the case's previous manager "
                                      "when eligible and under capacity")
    fallback_any: bool = P(True, "flag", _FALLBACK_SOURCE, "when no eligible staff member can hold the case, "
                           "any staff member of the setting may")
    fallback_unskilled: bool = P(False, "flag", "assumption: a service leaves a case unallocated rather than give "
                                 "it to staff not skilled in its mode", "when nobody skilled in the case's mode "
                                 "is at work to take it (in the segment, or with fallback_any anywhere in the "
                                 "setting), an eligible member (with fallback_any: any member) not skilled in it "
                                 "holds it; its contacts are kept less often (skill.unskilled_mode_compliance)")


class PatchParams(SegmentationParams):
    """Patch (generic) working: a manager holds every case from its locality."""

    name: Literal["patch"] = "patch"
    match_patch: bool = P(True, "flag", "DOMICE: locality or patch working assigns all work from one area "
                          "to its case managers", "only staff of the case's patch (or covering all "
                          "patches) are eligible; false pools the whole setting")


class SpecialisedParams(SegmentationParams):
    """Parameters shared by the segmentations that read staff specialisms."""

    match_patch: bool = P(False, "flag", "assumption: specialist staff usually serve the whole area; DOMICE: "
                          "a segmentation may be combined with locality working", "also apply the patch "
                          "rule: only staff of the case's patch (or covering all patches) are eligible")


def _groups(scenario: Scenario, setting: str) -> list[tuple[int, StaffGroup]]:
    """Staff groups of ``setting`` with their index in ``scenario.staff``."""
    return [(i, g) for i, g in enumerate(scenario.staff) if g.setting == setting]


def _unknown_labels(groups: list[tuple[int, StaffGroup]], kind: str, valid: Iterable[str],
                    explain: dict[str, str] | None = None) -> Problems:
    """Errors for ``kind:value`` labels whose value is not in ``valid`` (``explain`` may say why)."""
    valid = list(valid)
    prefix = kind + ":"
    out: Problems = []
    for i, g in groups:
        for j, label in enumerate(g.specialisms):
            value = label[len(prefix):]
            if label.startswith(prefix) and value not in valid:
                why = (explain or {}).get(value, f"unknown {kind} '{value}'")
                out.append((("staff", i, "specialisms", j),
                            f"{why}; valid: {', '.join(prefix + v for v in valid)}"))
    return out


def _covered(groups: list[tuple[int, StaffGroup]], kind: str, value: str) -> bool:
    """Whether a staffed group carries ``kind:value`` or no label of ``kind`` (generic)."""
    for _, g in groups:
        mine = labels(g.specialisms, kind)
        if g.count > 0 and (not mine or value in mine):
            return True
    return False


class TaskParams(SpecialisedParams):
    """Vertical (task) segmentation: the journey's work is divided among staff."""

    name: Literal["task"] = "task"
    by: Literal["stage", "process"] = P(
        "stage", "choice", "DOMICE: vertical segmentation gives the stages of the journey, or the tasks of the "
        "case-management process, to different staff", "stage: staff labelled stage:<STAGE> hold cases in that "
        "stage (staff without stage labels hold any); process: staff labelled task:assessment hold a case "
        "until its plan is made, the other staff after")

    def check(self, scenario: Scenario, setting: str, path: tuple[Any, ...]) -> Problems:
        """Labels name stages of this setting (or tasks); every stage or task has staff."""
        params = self
        groups = _groups(scenario, setting)
        if params.by == STAGE:
            stages = scenario.journey.stages
            here = [s for s, st in stages.items() if st.setting == setting]
            elsewhere = {s: f"stage '{s}' is in setting {st.setting}, not {setting}"
                         for s, st in stages.items() if st.setting != setting}
            out = _unknown_labels(groups, STAGE, here, elsewhere)
            for s in here:
                if stages[s].activities and not _covered(groups, STAGE, s):
                    out.append((path, f"no {setting} staff group is eligible for stage {s}: label a group "
                                      f"'stage:{s}' or leave one without stage labels"))
            return out
        out = _unknown_labels(groups, TASK, TASK_LABELS)
        unit = [g for _, g in groups if g.count > 0 and ASSESSMENT in labels(g.specialisms, TASK)]
        rest = [g for _, g in groups if g.count > 0 and ASSESSMENT not in labels(g.specialisms, TASK)]
        if not unit:
            out.append((path, f"by: process needs a {setting} staff group labelled 'task:assessment' "
                              "(the assessment unit)"))
        if not rest:
            out.append((path, f"by: process needs a {setting} staff group without 'task:assessment' "
                              "(to hold cases after the plan)"))
        return out


class TypeParams(SpecialisedParams):
    """Type segmentation: staff specialise in a kind of case."""

    name: Literal["type"] = "type"
    by: Literal["risk", "offence", "need"] = P(
        "risk", "choice", "DOMICE: type segmentation by risk level, offence type or need", "risk: staff "
        "labelled risk:<LEVEL> hold cases at that current risk level; offence: offence:<type> by offence type; "
        "need: need:<need> hold cases with that need identified and not yet met. Staff without a label of "
        "the kind are generic and hold any case (under need: the only ones for cases with no unmet need)")

    def check(self, scenario: Scenario, setting: str, path: tuple[Any, ...]) -> Problems:
        """Labels name known risk levels, offences or needs; every risk level (offence type with a
        positive share) has staff; under need, a generic group serves cases without unmet needs."""
        by = self.by
        groups = _groups(scenario, setting)
        a = scenario.arrivals
        valid = {"risk": list(RISKS), "offence": list(a.offence_mix), "need": list(a.needs_prevalence)}[by]
        out = _unknown_labels(groups, by, valid)
        if by == "risk":
            must = valid
        elif by == "offence":
            must = [o for o in valid if a.offence_mix[o] > 0]
        else:
            must = []
            if not any(g.count > 0 and not labels(g.specialisms, by) for _, g in groups):
                out.append((path, f"by: need needs a {setting} staff group without need labels, to hold "
                                  "cases with no identified unmet need"))
        for value in must:
            if not _covered(groups, by, value):
                out.append((path, f"no {setting} staff group is eligible for {by} {value}: label a group "
                                  f"'{by}:{value}' or leave one without {by} labels"))
        return out


# --------------------------------------------------------------------------- mode assignment

def _known(kind: str, valid: tuple[str, ...]) -> AfterValidator:
    """Validator of one text value against a fixed vocabulary, with a message naming the valid ones."""
    def check(value: str) -> str:
        if value not in valid:
            raise PydanticCustomError(f"unknown_{kind.replace(' ', '_')}",
                                      "unknown {kind} '{value}'; valid: {valid}",
                                      {"kind": kind, "value": value, "valid": ", ".join(valid)})
        return value
    return AfterValidator(check)


RiskLevel = Annotated[str, _known("risk level", RISKS), Field(json_schema_extra={"enum": list(RISKS)})]
ModeName = Annotated[str, _known("mode", MODES), Field(json_schema_extra={"enum": list(MODES)})]


def _skill_problems(s: Scenario, path: tuple[Any, ...], modes: Iterable[str]) -> Problems:
    """One problem per (mode, setting of the journey) for which no staff group has the skill.

    A setting with no staff group at all is left alone: nobody can hold any case there, whatever
    its mode, which is a staffing choice rather than a mode-assignment one.
    """
    staffed = {g.setting for g in s.staff}
    settings = sorted({st.setting for st in s.journey.stages.values()} & staffed)
    out: Problems = []
    for mode in sorted(set(modes), key=MODES.index):
        for setting in settings:
            if not any(g.setting == setting and mode in g.modes for g in s.staff):
                out.append((path, f"can assign {mode}, but no staff group in the {setting} setting has that "
                                  f"mode in its 'modes': such cases could not be held there"))
    return out


def _default_table() -> dict[str, str]:
    return {"LOW": "ADMINISTRATIVE", "MEDIUM": "BROKERAGE", "HIGH": "COMPREHENSIVE"}


class RiskTableParams(ServicePolicyParams):
    """A mode per risk level."""

    name: Literal["risk_table"] = "risk_table"
    table: dict[str, str] = P(_default_table, "risk level -> mode",
                              "DOMICE modes: administrative is the least intrusive and comprehensive is "
                              "reserved for the most dangerous; the risk principle matches intensity to risk")

    @field_validator("table")
    @classmethod
    def _complete(cls, table: dict[str, str]) -> dict[str, str]:
        missing = [r for r in RISKS if r not in table]
        if missing:
            raise ValueError(f"needs a mode for every risk level; missing: {', '.join(missing)}")
        reject_unknown(table, RISKS, "risk level")
        reject_unknown(table.values(), MODES, "mode")
        return table

    def check(self, s: Scenario, path: tuple[Any, ...]) -> Problems:
        """Every mode in the table must be held by some staff group in each setting of the journey."""
        return _skill_problems(s, path, self.table.values())


_RULE_SOURCE = "scenario input: the service's own mode-assignment rules"
_CONDITIONS = ("risk", "offence", "needs_any", "min_needs", "max_needs")
_MAX_NEEDS = 1000
_NEEDS_LIMIT = "a thousand: more needs than any scenario names"


class ModeRule(Strict):
    """One row of a rules table: a mode and the conditions (all must hold) under which a case gets it.

    A condition left out places no restriction; a rule without conditions matches every case.
    Needs are counted among the case's identified needs not yet met by a completed intervention.
    """

    mode: ModeName = P(..., "mode", _RULE_SOURCE, "the mode a case matching this rule gets")
    risk: list[RiskLevel] | None = P(None, "risk levels", _RULE_SOURCE,
                                     "the case's current risk level is one of these")
    offence: list[str] | None = P(None, "offence types", _RULE_SOURCE,
                                  "the case's offence type is one of these (names from arrivals.offence_mix)")
    needs_any: list[str] | None = P(None, "needs", _RULE_SOURCE,
                                    "at least one of these needs is identified and unmet (names from "
                                    "arrivals.needs_prevalence)")
    min_needs: int | None = P(None, "needs", _RULE_SOURCE, "at least this many identified, unmet needs",
                              strict=True, ge=0, le=_MAX_NEEDS, limit=_NEEDS_LIMIT)
    max_needs: int | None = P(None, "needs", _RULE_SOURCE, "at most this many identified, unmet needs",
                              strict=True, ge=0, le=_MAX_NEEDS, limit=_NEEDS_LIMIT)

    @field_validator("risk", "offence", "needs_any")
    @classmethod
    def _not_empty(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and not values:
            raise PydanticCustomError("empty_condition", "an empty list matches no case; leave the condition "
                                                         "out to match every case")
        return values

    @field_validator("min_needs", "max_needs", mode="before")
    @classmethod
    def _not_negative(cls, count: Any) -> Any:
        # (before the schema's own bound, which would say less: "greater than or equal to 0")
        if isinstance(count, int) and not isinstance(count, bool) and count < 0:
            raise PydanticCustomError("negative_count", "a number of needs cannot be negative (got {count})",
                                      {"count": count})
        return count

    @model_validator(mode="after")
    def _consistent_counts(self) -> ModeRule:
        lo, hi = self.min_needs, self.max_needs
        if lo is not None and hi is not None and lo > hi:
            raise PydanticCustomError("min_above_max", "min_needs ({lo}) is greater than max_needs ({hi}): "
                                                       "the rule can never match", {"lo": lo, "hi": hi})
        return self

    def unconditional(self) -> bool:
        """True when the rule has no condition and so matches every case."""
        return all(getattr(self, c) is None for c in _CONDITIONS)


class RulesParams(ServicePolicyParams):
    """An ordered table of rules; the first whose conditions all hold gives the mode, else ``default``."""

    name: Literal["rules"] = "rules"
    rules: list[ModeRule] = P(list, "list of rules", _RULE_SOURCE,
                              "tried in order; the first rule whose conditions all hold gives the mode")
    default: ModeName = P(..., "mode", _RULE_SOURCE, "the mode of a case no rule matches")

    def reachable(self) -> list[ModeRule]:
        """The rules that can fire: those up to and including the first unconditional one."""
        out: list[ModeRule] = []
        for rule in self.rules:
            out.append(rule)
            if rule.unconditional():
                break
        return out

    def assignable_modes(self) -> set[str]:
        """Every mode this table can give a case."""
        reach = self.reachable()
        modes = {r.mode for r in reach}
        if not reach or not reach[-1].unconditional():
            modes.add(self.default)
        return modes

    def check(self, s: Scenario, path: tuple[Any, ...]) -> Problems:
        """Offences and needs named by rules exist; no rule is hidden behind an unconditional one; every
        assignable mode can be held in every setting of the journey."""
        params = self
        offences = list(s.arrivals.offence_mix)
        needs = list(s.arrivals.needs_prevalence)
        out: Problems = []
        first_catch_all: int | None = None
        for i, rule in enumerate(params.rules):
            at = (*path, "rules", i)
            for j, o in enumerate(rule.offence or ()):
                if o not in offences:
                    out.append(((*at, "offence", j), f"unknown offence type '{o}'; valid (arrivals.offence_mix): "
                                                     f"{', '.join(offences)}"))
            for j, n in enumerate(rule.needs_any or ()):
                if n not in needs:
                    out.append(((*at, "needs_any", j), f"unknown need '{n}'; valid (arrivals.needs_prevalence): "
                                                       f"{', '.join(needs)}"))
            if rule.min_needs is not None and rule.min_needs > len(needs):
                out.append(((*at, "min_needs"), f"only {len(needs)} needs exist (arrivals.needs_prevalence): "
                                                f"the rule can never match"))
            if first_catch_all is not None:
                out.append((at, f"can never match: rule {first_catch_all} before it has no conditions and "
                                f"matches every case"))
            elif rule.unconditional():
                first_catch_all = i
        out.extend(_skill_problems(s, path, params.assignable_modes()))
        return out


# --------------------------------------------------------------------------- enforcement

class EnforcementParams(ServicePolicyParams):
    """Parameters of an enforcement policy."""

    def misses_can_breach(self) -> bool:
        """Whether a missed contact can lead to breach (the journey's checks of instant breach cycles ask)."""
        return True


_ACCEPTABLE_SOURCE = ("calibrated with the compliance intercept, before the organisation mechanisms of "
                      "December 2026, so the baseline completed 70-74% of community orders (E&W parliamentary "
                      "answer, Dec 2023); with them it completes about 76% (not yet recalibrated); most absences "
                      "are excused or not pursued")


class _JudgedParams(EnforcementParams):
    """What shapes the holder's judgement of a missed contact, under either enforcement policy."""

    acceptable_absence_share: float = P(0.7, "share of missed contacts", _ACCEPTABLE_SOURCE, ge=0, le=1,
                                        limit=SHARE)
    familiarity: float = P(0.2, "share of otherwise unacceptable absences", "assumption: a holder who has known "
                           "the case for familiarity_days or more judges this share of the absences a stranger "
                           "would treat as unacceptable to be acceptable (knows whether the reason is genuine); "
                           "direction from firm, fair and caring officer relationships, which protect against "
                           "supervision failure (Kennealy et al. 2012, no size); modest so the calibrated "
                           "completion rate barely moves; plausible range 0-0.5", ge=0, le=1, limit=SHARE)
    familiarity_days: float = P(180, "days", "assumption: as compliance.continuity_saturation_days, the time a "
                                "working relationship takes to form", gt=0, le=CENTURY_DAYS, limit=CENTURY)
    inconsistency: float = P(0.5, "share of decisions per unit of workload pressure above pressure.threshold",
                             "assumption: at 50% over the threshold of practice a quarter of the holder's "
                             "decisions on absences are not taken by the rule (HMI Probation 2021: enforcement "
                             "less consistent under high workloads; no figure); plausible range 0-1", ge=0,
                             le=FACTOR, limit=FACTOR_LIMIT)
    inconsistency_max: float = P(0.5, "share of decisions", "assumption: even the most pressed holder decides "
                                 "at least half the absences by the rule", ge=0, le=1, limit=SHARE)
    inconsistent_acceptable_share: float = P(0.9, "share of missed contacts", "direction from inspections: "
                                             "lapses in enforcement are mostly action not taken (HMI Probation "
                                             "thematic on enforcing community penalties, 2000s: some staff took "
                                             "no action despite clear evidence of unacceptable absences; NAO "
                                             "2008, community orders: unacceptable excuses accepted; HMI "
                                             "Probation 2016, unpaid work: a third of the cases that called for "
                                             "action saw it), and enforcement costs the pressed holder hours; "
                                             "the value is an assumption, plausible range 0.7 (as lenient as the "
                                             "rule's default share) to 1; 0.5 makes lapses even-handed", ge=0,
                                             le=1, limit=SHARE)

    def misses_can_breach(self) -> bool:
        return self.acceptable_absence_share < 1 or (self.inconsistency > 0 and self.inconsistency_max > 0
                                                     and self.inconsistent_acceptable_share < 1)


class GraduatedParams(_JudgedParams):
    """Graduated enforcement: unacceptable absences bring warnings, then (optionally) sanctions, then breach."""

    name: Literal["graduated"] = "graduated"
    warnings_before_breach: int = P(1, "warnings", "England & Wales national standards: one formal warning "
                                    "within 12 months, breach on the next unacceptable failure", ge=0,
                                    le=1000, strict=True, limit="a thousand: more warnings than contacts in "
                                    "any stay")
    window_days: float = P(365, "days", "England & Wales national standards: warnings count for 12 months",
                           gt=0, le=CENTURY_DAYS, limit=CENTURY)
    sanctions_before_breach: int = P(0, "sanctions", "England & Wales national standards: no intermediate step "
                                     "between the warning and breach (swift, certain sanctions such as Hawaii's "
                                     "HOPE are a US practice); set 1 or more to try them", ge=0, le=1000,
                                     strict=True, limit="a thousand: more sanctions than contacts in any stay")
    sanction_days: float = P(28, "days", "assumption: a month of closer reporting, short and swift as HOPE's "
                             "sanctions are meant to be (Hawken & Kleiman 2009)", gt=0, le=DECADE_DAYS,
                             limit=DECADE)
    sanction_interval_factor: float = P(0.5, "share of the mode's contact interval", "assumption: reporting "
                                        "twice as often while the sanction lasts (the contacts, and their hours, "
                                        "scale by the inverse)", gt=0, le=1, limit="1: a sanction never makes "
                                        "reporting less frequent")
    sanction_deterrent: float = P(0.0, "logit", "Lattimore et al. 2016 (HOPE four-site replication, over 1,500 "
                                  "probationers): no effect on arrests; Hawken & Kleiman 2009 (Hawaii's HOPE "
                                  "RCT): arrests halved, about +0.7 logit (ln 2) if read as the odds of a miss "
                                  "halved while the sanction lasts; plausible range 0-0.7", ge=-LOGIT, le=LOGIT,
                                  limit=LOGIT_LIMIT)


class StrictParams(_JudgedParams):
    """Strict enforcement: every unacceptable absence is a breach."""

    name: Literal["strict"] = "strict"


# --------------------------------------------------------------------------- cover

class _CoverParams(SettingPolicyParams):
    cover_after_days: float = P(14, "days", "assumption: only absences of two weeks or more (long sickness) "
                                "are covered by moving cases; shorter ones wait or go to a duty officer", ge=0,
                                le=DECADE_DAYS, limit=DECADE)


class NoCoverParams(SettingPolicyParams):
    """Nobody covers: contacts due while the manager is away are not offered."""

    name: Literal["none"] = "none"


class PodParams(_CoverParams):
    """Managers work in pods that cover each other's absences."""

    name: Literal["pod"] = "pod"
    cover_after_days: float = P(3, "days", "assumption: a pod covers anything longer than a couple of days",
                                ge=0, le=DECADE_DAYS, limit=DECADE)
    size: int = P(4, "case managers", "DOMICE: small groups of case managers and support workers covering "
                  "for one another; assumption: four", ge=2, le=100, strict=True,
                  limit="a hundred: a pod is a small group, not an office")


class TemporaryParams(_CoverParams):
    """Cases move to another manager for the absence and come back after."""

    name: Literal["temporary"] = "temporary"


class PermanentParams(_CoverParams):
    """Cases move to another manager for good when their manager is away long enough."""

    name: Literal["permanent"] = "permanent"
    cover_after_days: float = P(28, "days", "assumption: reallocate for good only for absences of four weeks "
                                "or more", ge=0, le=DECADE_DAYS, limit=DECADE)


# --------------------------------------------------------------------------- the declarations

#: Every policy's parameter model, by kind (in the order the schema lists them). A new policy adds its model here.
POLICIES: dict[str, tuple[type[Strict], ...]] = {
    "approach": (IndividualParams, TeamParams, HybridParams),
    "segmentation": (PatchParams, TaskParams, TypeParams),
    "mode_assignment": (RiskTableParams, RulesParams),
    "enforcement": (GraduatedParams, StrictParams),
    "cover": (NoCoverParams, PodParams, TemporaryParams, PermanentParams),
}


def name_of(params: type[Strict]) -> str:
    """The policy name a parameter model declares (the default of its ``name`` field)."""
    field = params.model_fields.get("name")
    name = None if field is None else field.default
    if not isinstance(name, str):
        raise TypeError(f"{params.__name__}.name needs a string default (the policy's name)")
    return name


def _check_declarations() -> None:
    """Each kind's models name distinct policies and have the base of their kind."""
    for kind, declared in POLICIES.items():
        base = (EnforcementParams if kind == "enforcement"   # (the schema asks it misses_can_breach)
                else SettingPolicyParams if kind in SETTING_KINDS else ServicePolicyParams)
        seen: set[str] = set()
        for params in declared:
            name = name_of(params)
            if name in seen:
                raise TypeError(f"two {kind} policies are named {name!r}")
            if not issubclass(params, base):
                raise TypeError(f"{params.__name__} must subclass {base.__name__} (a {kind} policy)")
            seen.add(name)


_check_declarations()


def names(kind: str) -> list[str]:
    """Declared policy names of one kind."""
    return sorted(name_of(p) for p in POLICIES[kind])


def params_type(kind: str) -> Any:
    """A discriminated union (on ``name``) of every declared parameter model of ``kind``."""
    models = POLICIES[kind]
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Discriminator("name")]  # noqa: UP007
