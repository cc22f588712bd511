"""Segmentation of the caseload: which staff are eligible to hold a case, and when a holder
may keep it.

The engine asks a segmentation two questions: ``candidates(sim, case, stage)`` (the eligible
staff in the case's current setting who can hold its mode) and ``keeps(sim, case, stage,
holder)`` (may the current holder go on holding it). ``handoff_cause`` names the continuity
break when a holder is not kept within a setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from casesim.agents.case_manager import CaseManager
from casesim.models.registry import policy
from casesim.params import P, Strict

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.simulation import Simulation


def least_loaded(staff: Iterable[CaseManager]) -> CaseManager | None:
    """The staff member with the lowest pressure (ties: lowest load, then lowest id)."""
    best = None
    best_key: tuple[float, float, int] | None = None
    for m in staff:
        key = (m.pressure, m.load, m.unique_id)
        if best_key is None or key < best_key:
            best, best_key = m, key
    return best


class PatchParams(Strict):
    """Patch (generic) working: a manager holds every case from its locality."""

    name: Literal["patch"] = "patch"
    match_patch: bool = P(True, "flag", "DOMICE: locality or patch working assigns all work from one area "
                          "to its case managers", "only staff of the case's patch (or covering all "
                          "patches) are eligible; false pools the whole setting")
    fallback_any: bool = P(True, "flag", "assumption: a service reallocates across patches rather than "
                           "leave a case unallocated", "when no eligible staff member can hold the case, "
                           "any staff member of the setting may")


@policy("segmentation", PatchParams)
class Patch:
    """One manager holds the case through its journey within the area (generic working)."""

    handoff_cause = "reallocation"

    def __init__(self, params: PatchParams) -> None:
        self.params = params

    def _eligible(self, m: CaseManager, case: Case) -> bool:
        return not self.params.match_patch or m.patch is None or m.patch == case.patch

    def candidates(self, sim: Simulation, case: Case, stage: str) -> list[CaseManager]:
        setting = sim.journey.setting[stage]
        pool = [m for m in sim.staff[setting] if m.can_hold(case.mode)]
        chosen = [m for m in pool if self._eligible(m, case)]
        return chosen or (pool if self.params.fallback_any else [])

    def keeps(self, sim: Simulation, case: Case, stage: str, holder: Any) -> bool:
        return (isinstance(holder, CaseManager) and holder.setting == sim.journey.setting[stage]
                and holder.can_hold(case.mode))
