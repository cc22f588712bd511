"""Segmentation of the caseload: which staff are eligible to hold a case, and when a holder
may keep it.

The engine (through the approach) asks a segmentation:

* ``candidates(sim, case, stage)``: the eligible staff of the case's current setting who can
  hold its mode, right now;
* ``keeps(sim, case, stage, holder)``: may the current holder go on holding it;
* ``choose(sim, case, stage)``: the staff member to allocate (least weighted load among the
  candidates, optionally preferring the previous manager);
* ``handoff_cause(sim, case, stage, holder)``: why the holder changes when it is not kept.

A new segmentation subclasses :class:`Segmentation` and overrides ``eligible`` (and, where it
has its own reasons for a hand-over, ``handoff_cause``).
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

_PREFER_SOURCE = ("DOMICE continuity: returning a case to the manager who knew it; assumption that a "
                  "service does so only while that manager is under capacity")
_FALLBACK_SOURCE = "assumption: a service reallocates outside the segment rather than leave a case unallocated"


def least_loaded(staff: Iterable[CaseManager]) -> CaseManager | None:
    """The staff member with the lowest pressure (ties: lowest load, then lowest id)."""
    best = None
    best_key: tuple[float, float, int] | None = None
    for m in staff:
        key = (m.pressure, m.load, m.unique_id)
        if best_key is None or key < best_key:
            best, best_key = m, key
    return best


class SegmentationParams(Strict):
    """Parameters every segmentation shares."""

    prefer_previous_manager: bool = P(False, "flag", _PREFER_SOURCE, "allocate to the case's previous manager "
                                      "when eligible and under capacity")
    fallback_any: bool = P(True, "flag", _FALLBACK_SOURCE, "when no eligible staff member can hold the case, "
                           "any staff member of the setting may")


class Segmentation:
    """Shared behaviour: eligibility filter, fallback, least-load choice, hand-over cause."""

    default_cause = "reallocation"

    def __init__(self, params: Any) -> None:
        self.params = params

    def eligible(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        """Whether ``m`` belongs to the case's segment (skill and availability are checked apart)."""
        return True

    def candidates(self, sim: Simulation, case: Case, stage: str) -> list[CaseManager]:
        pool = [m for m in sim.staff[sim.journey.setting[stage]] if m.can_hold(case.mode)]
        chosen = [m for m in pool if self.eligible(sim, case, stage, m)]
        return chosen or (pool if self.params.fallback_any else [])

    def keeps(self, sim: Simulation, case: Case, stage: str, holder: Any) -> bool:
        return (isinstance(holder, CaseManager) and holder.setting == sim.journey.setting[stage]
                and holder.can_hold(case.mode) and self.eligible(sim, case, stage, holder))

    def choose(self, sim: Simulation, case: Case, stage: str) -> CaseManager | None:
        candidates = self.candidates(sim, case, stage)
        previous = case.last_manager
        if (self.params.prefer_previous_manager and previous is not None and previous in candidates
                and previous.pressure < 1.0):
            return previous
        return least_loaded(candidates)

    def handoff_cause(self, sim: Simulation, case: Case, stage: str, holder: Any) -> str:
        """Why ``holder`` does not keep the case (called only when ``keeps`` said no)."""
        return self.default_cause


class PatchParams(SegmentationParams):
    """Patch (generic) working: a manager holds every case from its locality."""

    name: Literal["patch"] = "patch"
    match_patch: bool = P(True, "flag", "DOMICE: locality or patch working assigns all work from one area "
                          "to its case managers", "only staff of the case's patch (or covering all "
                          "patches) are eligible; false pools the whole setting")


@policy("segmentation", PatchParams)
class Patch(Segmentation):
    """One manager holds the case through its journey within the area (generic working)."""

    def eligible(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        return not self.params.match_patch or m.patch is None or m.patch == case.patch
