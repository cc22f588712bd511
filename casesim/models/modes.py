"""Mode assignment: which supervision mode (administrative, brokerage, therapeutic,
comprehensive) a case gets. The modes themselves (contact interval, workload weight, cost,
intensity) are defined in the scenario's ``modes`` section; a rule maps a case to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import field_validator

from casesim.models.registry import policy
from casesim.params import MODES, RISKS, P, Strict

if TYPE_CHECKING:
    from casesim.agents.case import Case


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
        extra = [r for r in table if r not in RISKS]
        if extra:
            raise ValueError(f"unknown risk level(s) {', '.join(extra)}; valid: {', '.join(RISKS)}")
        bad = [m for m in table.values() if m not in MODES]
        if bad:
            raise ValueError(f"unknown mode(s) {', '.join(bad)}; valid: {', '.join(MODES)}")
        return table


@policy("mode_assignment", RiskTableParams)
class RiskTable:
    """The mode is looked up from the case's current risk level."""

    def __init__(self, params: RiskTableParams) -> None:
        self.table = dict(params.table)

    def mode_for(self, case: Case) -> str:
        return self.table[case.risk]
