"""Segmentation of the caseload: which staff are eligible to hold a case, and when a holder
may keep it.

The approach, the cover policy and the reallocation of a leaver's cases ask the segmentation of the
stage's setting (through ``Simulation.segmentation_for``) what
:class:`~casesim.models.protocols.Segmentation` lists:

* ``ranked(sim, case, stage, k)``: the ``k`` least-pressed eligible staff of the stage's setting
  who can hold the case's mode, right now (with ``fallback_any``: else anyone who can; with
  ``fallback_unskilled``: else eligible staff not skilled in the mode, then, with ``fallback_any``, anyone);
* ``keeps(sim, case, stage, holder)``: may the current holder go on holding it;
* ``choose(sim, case, stage)``: the staff member to allocate (the least-pressed candidate,
  optionally preferring the previous manager);
* ``handoff_cause(sim, case, stage, holder)``: why the holder changes when it is not kept.

A new segmentation subclasses :class:`EligibilitySegmentation` and overrides ``eligible`` (and, where it
has its own reasons for a hand-over, ``handoff_cause``). ``eligible`` may read the case freely but
only the static attributes of the staff member (setting, patch, specialisms, modes, group): the
staff index (``casesim/engine/staff_index.py``) asks it once per class of interchangeable staff.

The policies:

* ``patch``: generic working; a manager holds every case of its locality (or, with
  ``match_patch: false``, of the whole setting).
* ``task`` (vertical segmentation): ``by: stage`` gives each journey stage its own staff
  (specialism labels ``stage:<STAGE>``), so the case is handed on at every stage boundary;
  ``by: process`` gives the assessment to an assessment unit (label ``task:assessment``) that
  holds the case until its plan is made, after which the other staff hold it.
* ``type``: staff serve one kind of case, ``by: risk`` (labels ``risk:<LEVEL>``), ``offence``
  (``offence:<type>``) or ``need`` (``need:<need>``); a case whose risk or needs change at a
  review may have to move.

Labels are a staff group's ``specialisms``, written ``kind:value``. A staff member with no
label of the kind a policy reads is generic: eligible for every case under that policy (except
task by process, which splits all staff in two). ``task`` and ``type`` can add the patch rule
with ``match_patch: true``.

Their parameters, and the static checks of the labels against the scenario, are declared in the
scenario layer (``casesim/scenario/policies.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from casesim.agents.case_manager import CaseManager
from casesim.engine.staff_index import StaffClass
from casesim.models.registry import policy
from casesim.scenario.policies import (
    ASSESSMENT,
    STAGE,
    TASK,
    TASK_LABELS,
    PatchParams,
    SegmentationParams,
    SpecialisedParams,
    TaskParams,
    TypeParams,
    labels,
)

if TYPE_CHECKING:
    from casesim.agents.case import Case
    from casesim.engine.simulation import Simulation

__all__ = ["ASSESSMENT", "STAGE", "TASK", "TASK_LABELS", "CaseType", "Patch", "PatchParams", "EligibilitySegmentation",
           "SegmentationParams", "Specialised", "SpecialisedParams", "Task", "TaskParams", "TypeParams", "labels",
           "least_loaded", "patch_matches", "staff_labels"]


def least_loaded(staff: Iterable[CaseManager]) -> CaseManager | None:
    """The staff member with the lowest pressure (ties: lowest load, then lowest id)."""
    best = None
    best_key: tuple[float, float, int] | None = None
    for m in staff:
        key = (m.pressure, m.load, m.unique_id)
        if best_key is None or key < best_key:
            best, best_key = m, key
    return best


def patch_matches(case: Case, m: CaseManager) -> bool:
    """The patch rule: ``m`` covers every patch, or the case's own."""
    return m.patch is None or m.patch == case.patch


@cache
def staff_labels(specialisms: frozenset[str], kind: str) -> frozenset[str]:
    """:func:`labels` of a staff member's (frozen) specialisms, remembered: eligibility asks often."""
    return labels(specialisms, kind)


class EligibilitySegmentation:
    """Shared behaviour: eligibility filter, fallback, least-load choice, hand-over cause."""

    default_cause = "reallocation"

    def __init__(self, params: Any) -> None:
        self.params = params

    def eligible(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        """Whether ``m`` belongs to the case's segment (skill and availability are checked apart)."""
        return True

    def keeps(self, sim: Simulation, case: Case, stage: str, holder: Any) -> bool:
        """The holder keeps the case while it is in the segment and skilled in its mode; a holder found by a
        fallback keeps it while nobody the fallbacks put before it could take it (no hand-over from one
        outsider to another): an outsider while nobody in the segment skilled in the mode is at work, a member
        not skilled in the mode (``fallback_unskilled``) while nobody skilled is (with ``fallback_any``,
        nobody anywhere in the setting), nor, for an unskilled outsider, any unskilled member of the segment."""
        setting = sim.journey.setting[stage]
        if not (isinstance(holder, CaseManager) and holder.setting == setting and holder.in_post):
            return False   # (a temporary absence does not count: the cover policy deals with it)
        params = self.params
        skilled = holder.can_keep(case.mode)
        if not skilled and not params.fallback_unskilled:
            return False
        inside = self.eligible(sim, case, stage, holder)
        if skilled and inside:
            return True
        if not inside and not params.fallback_any:
            return False
        index = sim.staff_index[setting]
        eligible, holds = self._classes(sim, case, stage)
        if index.any_at_work(eligible):
            return False
        if skilled:
            return True
        if params.fallback_any and index.any_at_work(holds):
            return False
        return inside or not index.any_at_work(self._unskilled(sim, case, stage)[0])

    def _unskilled(self, sim: Simulation, case: Case, stage: str) -> tuple[list[StaffClass], list[StaffClass]]:
        """Staff classes of the stage's setting not skilled in the case's mode: (eligible ones, all of them),
        the candidates of ``fallback_unskilled``."""
        rest = [c for c in sim.staff_index[sim.journey.setting[stage]].classes if not c.holds(case.mode)]
        return [c for c in rest if self.eligible(sim, case, stage, c.rep)], rest

    def _classes(self, sim: Simulation, case: Case, stage: str) -> tuple[list[StaffClass], list[StaffClass]]:
        """Staff classes of the stage's setting skilled in the case's mode: (eligible ones, all of them).
        ``eligible`` is asked of one member per class: it may read only static attributes (setting,
        patch, specialisms, modes, group), which every member of a class shares."""
        holds = [c for c in sim.staff_index[sim.journey.setting[stage]].classes if c.holds(case.mode)]
        return [c for c in holds if self.eligible(sim, case, stage, c.rep)], holds

    def ranked(self, sim: Simulation, case: Case, stage: str, k: int = 1,
               exclude: CaseManager | None = None) -> list[CaseManager]:
        """The ``k`` least-pressed candidates in order, ``exclude`` left out: the eligible staff at work
        who can hold the case's mode (or, with ``fallback_any`` and none of those, anyone at work who can)
        sorted by ``(pressure, load, id)``, found through the staff index instead of a scan."""
        index = sim.staff_index[sim.journey.setting[stage]]
        eligible, holds = self._classes(sim, case, stage)
        n = k + (exclude is not None)
        top = index.smallest(eligible, n)
        if not top and self.params.fallback_any:
            top = index.smallest(holds, n)
        if not top and self.params.fallback_unskilled:   # nobody skilled in the mode at work
            inside, rest = self._unskilled(sim, case, stage)
            top = index.smallest(inside, n)
            if not top and self.params.fallback_any:
                top = index.smallest(rest, n)
        return [m for m in top if m is not exclude][:k]

    def choose(self, sim: Simulation, case: Case, stage: str) -> CaseManager | None:
        """The least-pressed candidate, or the previous manager if preferred, a candidate and under capacity."""
        index = sim.staff_index[sim.journey.setting[stage]]
        eligible, holds = self._classes(sim, case, stage)
        best = index.least(eligible)
        in_segment = best is not None
        if best is None and self.params.fallback_any:
            best = index.least(holds)
        if best is None and self.params.fallback_unskilled:   # nobody skilled in the mode at work
            inside, rest = self._unskilled(sim, case, stage)
            best = index.least(inside)
            if best is None and self.params.fallback_any:
                best = index.least(rest)
        previous = case.last_manager
        if (self.params.prefer_previous_manager and previous is not None and previous.pressure < 1.0
                and previous.in_post and previous.setting == sim.journey.setting[stage]
                and previous.can_hold(case.mode)
                and (self.eligible(sim, case, stage, previous) if in_segment else self.params.fallback_any)):
            return previous
        return best

    def handoff_cause(self, sim: Simulation, case: Case, stage: str, holder: Any) -> str:
        """Why ``holder`` does not keep the case (called only when ``keeps`` said no)."""
        return self.default_cause


@policy("segmentation", PatchParams)
class Patch(EligibilitySegmentation):
    """One manager holds the case through its journey within the area (generic working)."""

    def eligible(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        return not self.params.match_patch or patch_matches(case, m)


# --- segmentations by specialism label ----------------------------------------------------------

class Specialised(EligibilitySegmentation):
    """A segmentation by specialism labels, optionally within the case's patch.

    Subclasses say whether a staff member's labels suit the case now (``fits``) and name the
    hand-over when a holder stops fitting (``handoff``).
    """

    handoff = "reallocation"

    def fits(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        """Whether ``m``'s specialisms suit the case now (the patch rule apart)."""
        raise NotImplementedError

    def eligible(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        return self.fits(sim, case, stage, m) and (not self.params.match_patch or patch_matches(case, m))

    def handoff_cause(self, sim: Simulation, case: Case, stage: str, holder: Any) -> str:
        """The policy's own cause when the holder's specialism no longer suits the case."""
        if (isinstance(holder, CaseManager) and holder.setting == sim.journey.setting[stage]
                and not self.fits(sim, case, stage, holder)):
            return self.handoff
        return self.default_cause


@policy("segmentation", TaskParams)
class Task(Specialised):
    """Each stage (or each part of the process) has its own staff; the case is handed on between them."""

    def __init__(self, params: TaskParams) -> None:
        super().__init__(params)
        self.handoff = "stage_handoff" if params.by == STAGE else "task_handoff"

    def fits(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        if self.params.by == STAGE:
            stages = staff_labels(m.specialisms, STAGE)
            return not stages or stage in stages
        return (ASSESSMENT in staff_labels(m.specialisms, TASK)) == (case.phase == "assess")

@policy("segmentation", TypeParams)
class CaseType(Specialised):
    """Staff hold the cases of their type; a case reclassified at review moves to staff of its new type."""

    handoff = "reclassification"

    def fits(self, sim: Simulation, case: Case, stage: str, m: CaseManager) -> bool:
        by = self.params.by
        mine = staff_labels(m.specialisms, by)
        if not mine:
            return True
        if by == "risk":
            return case.risk in mine
        if by == "offence":
            return case.offence in mine
        return not mine.isdisjoint(case.open_needs)
