"""The case manager: a staff member who holds cases."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import mesa

if TYPE_CHECKING:
    from casesim.engine.simulation import Simulation


class Roster(list):
    """A staff member's cases or case teams: a set kept as a list (``add`` if absent, ``discard`` if present).

    A case is on its holder's roster (and on its stand-in's while covered), a team on its members'; a member
    has dozens at once, and a set is several times the size of what it holds where a list is not much
    larger (one pointer an item). Nothing depends on a roster's order: where one is walked to act on
    its items it is sorted first, by case number or team id (the one walk unsorted only clears a field of
    each case). ``add`` looks before it appends, as a set would; where the item
    cannot be on the roster yet (a case given to a new holder, a newly formed team) the engine appends
    without the look. ``discard`` scans, which is cheap for a caseload of dozens.
    """

    __slots__ = ()

    def add(self, item: Any) -> None:
        if item not in self:
            self.append(item)

    def discard(self, item: Any) -> None:
        try:   # noqa: SIM105 - (a try costs nothing when the item is there; suppress() is a call)
            self.remove(item)
        except ValueError:   # (not on it: as a set's discard)
            pass


class CaseManager(mesa.Agent):
    """A staff member in one setting, with a patch, specialisms, mode skills and a capacity.

    ``load`` is the hours a week its cases ask of it (the sum of the weekly hours of the cases it carries:
    :meth:`casesim.engine.simulation.Simulation.case_weight`) and ``capacity`` the casework hours a week it
    gives (its FTE times its role's productive hours); ``pressure`` is their ratio.
    """

    def __init__(self, model: Simulation, setting: str, patch: str | None, capacity: float,
                 modes: frozenset[str], specialisms: frozenset[str], group: str, post: int = 0,
                 generation: int = 0) -> None:
        super().__init__(model)
        self.post = post                  # the staff post (stable across scenarios sharing a seed)
        self.generation = generation      # 0 for the first holder of the post, +1 per replacement
        self.in_post = True               # False once the person has left the service
        self.absent = False               # on leave or sick
        self.starter_until = 0.0          # reduced capacity until this day
        self.pod: int | None = None
        self.held = Roster()              # cases this manager is responsible for
        self.covering_for = Roster()      # cases lent to others during this manager's absence
        self.teams = Roster()             # case teams this manager chairs or sits on
        self.covers = Roster()            # cases this manager covers for an absent pod colleague
        self.saved_capacity = 0.0
        self.setting = setting
        self.patch = patch                # None: covers every patch
        self.capacity = capacity          # casework hours a week (0 while absent)
        self.base_capacity = capacity
        self.modes = modes
        self.specialisms = specialisms
        # The specialisms as what a case is matched against (:meth:`matches`), parsed once: a contact's
        # match is then a few set lookups, and none for generic staff (``specialist`` False).
        values: dict[str, set[str]] = {}
        for label in specialisms:
            kind, _, value = label.partition(":")
            values.setdefault(kind, set()).add(value)
        self.sk_risk = frozenset(values.get("risk", ()))
        self.sk_offence = frozenset(values.get("offence", ()))
        self.sk_stage = frozenset(values.get("stage", ()))
        need_index = getattr(model, "need_index", {})
        self.sk_needs = sum(1 << need_index[n] for n in values.get("need", ()) if n in need_index)
        self.sk_assess = "assessment" in values.get("task", ())
        self.specialist = bool(self.sk_risk or self.sk_offence or self.sk_stage or self.sk_needs or self.sk_assess)
        self.group = group
        self.load = 0.0
        self.count = 0
        self.index_version = 0            # bumped on every change the staff index must see
        self.recent: deque[tuple[float, float]] = deque()   # (when, hours) of work counted as it happened
        self.recent_hours = 0.0           # their sum

    @property
    def pressure(self) -> float:
        """Caseload pressure: the hours a week its cases and seats ask over the hours a week it gives (inf when
        away with cases). What allocation ranks staff by (the staff index keeps it in order)."""
        if self.capacity > 0:
            return self.load / self.capacity
        return float("inf") if self.load > 0 else 0.0

    def did(self, now: float, hours: float) -> None:
        """Work counted as it happens (an assessment, a plan, a report, enforcement, a referral): ``hours`` at
        ``now``, part of its workload for the window :meth:`workload_pressure` looks back over."""
        self.recent.append((now, hours))
        self.recent_hours += hours

    def workload_pressure(self, now: float, window: float) -> float:
        """Workload pressure: its caseload's hours a week plus the work it did in the last ``window`` days
        (as hours a week), over the hours a week it gives; the same hours as the reported
        ``workload_pressure`` (inf when away with work). What practice under pressure reads."""
        recent = self.recent
        while recent and recent[0][0] <= now - window:
            self.recent_hours -= recent.popleft()[1]
        if not recent:
            self.recent_hours = 0.0   # (no drift from the running sum once the window is empty)
        load = self.load + self.recent_hours * 7.0 / window
        if self.capacity > 0:
            return load / self.capacity
        return float("inf") if load > 0 else 0.0

    @property
    def available(self) -> bool:
        """In post and at work."""
        return self.in_post and not self.absent

    @property
    def load_bearer(self) -> CaseManager:
        """The staff member whose caseload carries a case held by this holder: itself."""
        return self

    def on_duty(self) -> CaseManager | None:
        """Who delivers this holder's contacts right now."""
        return self if self.available else None

    def people(self) -> tuple[CaseManager, ...]:
        """The staff whose availability decides who delivers this holder's contacts."""
        return (self,)

    def matches(self, case: Any) -> bool:
        """Whether one of its specialisms names ``case`` now: its risk level, offence type, stage, one of its
        needs identified and not met, or the assessment while the case is being assessed and planned
        (``casesim.scenario.schema.Skill``). Generic staff match nothing."""
        return self.specialist and (
            case.risk in self.sk_risk or case.offence in self.sk_offence or case.stage in self.sk_stage
            or bool(self.sk_needs & case.found & ~case.done) or (self.sk_assess and case.phase == "assess"))

    def can_hold(self, mode: str | None) -> bool:
        """At work and skilled in ``mode`` (may take a new case)."""
        return self.available and (mode is None or mode in self.modes)

    def can_keep(self, mode: str | None) -> bool:
        """In post and skilled in ``mode`` (may go on holding a case, absences covered apart)."""
        return self.in_post and (mode is None or mode in self.modes)
