"""Mode assignment: which supervision mode (administrative, brokerage, therapeutic,
comprehensive) a case gets. The modes themselves (contact interval, workload weight, cost,
intensity) are defined in the scenario's ``modes`` section; a policy maps a case to one.

Two policies:

* ``risk_table``: one mode per risk level;
* ``rules``: an ordered table of rules on risk, offence and identified unmet needs; the first
  rule whose conditions all hold gives the mode, else ``default``.

Both have a ``check(scenario, path)`` that the scenario's cross-validation calls: the offences and
needs a rule names must exist in ``arrivals``, and staff in every setting of the journey must be
skilled in every mode the policy can assign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from casesim.engine.models.registry import policy
from casesim.scenario.params import MODES, RISKS, P, Strict, reject_unknown

if TYPE_CHECKING:
    from casesim.engine.agents.case import Case
    from casesim.scenario.schema import Scenario

Problems = list[tuple[tuple[Any, ...], str]]


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


# --------------------------------------------------------------------------- risk_table


def _default_table() -> dict[str, str]:
    return {"LOW": "ADMINISTRATIVE", "MEDIUM": "BROKERAGE", "HIGH": "COMPREHENSIVE"}


class RiskTableParams(Strict):
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


@policy("mode_assignment", RiskTableParams)
class RiskTable:
    """The mode is looked up from the case's current risk level."""

    def __init__(self, params: RiskTableParams) -> None:
        self.table = dict(params.table)

    def mode_for(self, case: Case) -> str:
        return self.table[case.risk]

    @staticmethod
    def check(s: Scenario, path: tuple[Any, ...]) -> Problems:
        """Every mode in the table must be held by some staff group in each setting of the journey."""
        params: RiskTableParams = s.mode_assignment  # type: ignore[assignment]
        return _skill_problems(s, path, params.table.values())


# --------------------------------------------------------------------------- rules

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


class RulesParams(Strict):
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


@dataclass(frozen=True, slots=True)
class _Rule:
    """A rule compiled for matching: condition sets (None: any) and need-count bounds."""

    mode: str
    risk: frozenset[str] | None
    offence: frozenset[str] | None
    needs_any: frozenset[str] | None
    min_needs: int
    max_needs: float

    @classmethod
    def of(cls, r: ModeRule) -> _Rule:
        def as_set(values: list[str] | None) -> frozenset[str] | None:
            return None if values is None else frozenset(values)
        return cls(r.mode, as_set(r.risk), as_set(r.offence), as_set(r.needs_any),
                   r.min_needs or 0, float("inf") if r.max_needs is None else r.max_needs)

    def matches(self, risk: str, offence: str, open_needs: set[str]) -> bool:
        return ((self.risk is None or risk in self.risk)
                and (self.offence is None or offence in self.offence)
                and (self.needs_any is None or not self.needs_any.isdisjoint(open_needs))
                and self.min_needs <= len(open_needs) <= self.max_needs)


@policy("mode_assignment", RulesParams)
class Rules:
    """First matching rule wins; conditions on current risk, offence and identified, unmet needs."""

    def __init__(self, params: RulesParams) -> None:
        self.rules = [_Rule.of(r) for r in params.rules]
        self.default = params.default

    def mode_for(self, case: Case) -> str:
        open_needs = case.open_needs
        for rule in self.rules:
            if rule.matches(case.risk, case.offence, open_needs):
                return rule.mode
        return self.default

    @staticmethod
    def check(s: Scenario, path: tuple[Any, ...]) -> Problems:
        """Offences and needs named by rules exist; no rule is hidden behind an unconditional one; every
        assignable mode can be held in every setting of the journey."""
        params: RulesParams = s.mode_assignment  # type: ignore[assignment]
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
