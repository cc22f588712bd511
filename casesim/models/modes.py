"""Mode assignment: which supervision mode (administrative, brokerage, therapeutic,
comprehensive) a case gets. The modes themselves (contact interval, workload weight, cost,
intensity) are defined in the scenario's ``modes`` section; a policy maps a case to one.

Two policies:

* ``risk_table``: one mode per risk level;
* ``rules``: an ordered table of rules on risk, offence and identified unmet needs; the first
  rule whose conditions all hold gives the mode, else ``default``.

Their parameters are declared in the scenario layer (``casesim/scenario/policies.py``), with the
``check(scenario, path)`` the scenario's cross-validation calls: the offences and needs a rule names
must exist in ``arrivals``, and staff in every setting of the journey must be skilled in every mode
the policy can assign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from casesim.models.registry import policy
from casesim.scenario.policies import ModeName, ModeRule, RiskLevel, RiskTableParams, RulesParams

if TYPE_CHECKING:
    from casesim.agents.case import Case

__all__ = ["ModeName", "ModeRule", "RiskLevel", "RiskTable", "RiskTableParams", "Rules", "RulesParams"]


# --------------------------------------------------------------------------- risk_table


@policy("mode_assignment", RiskTableParams)
class RiskTable:
    """The mode is looked up from the case's current risk level."""

    def __init__(self, params: RiskTableParams) -> None:
        self.table = dict(params.table)

    def mode_for(self, case: Case) -> str:
        return self.table[case.risk]


# --------------------------------------------------------------------------- rules


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
