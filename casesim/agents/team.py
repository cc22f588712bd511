"""A case team: the custody arrangement where a team unique to the case holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

if TYPE_CHECKING:
    from casesim.agents.case_manager import CaseManager
    from casesim.engine.simulation import Simulation


class Team(mesa.Agent):
    """A team convened for one case: a chair (a staff member with more authority), staff
    members, and representatives of the providers addressing the case's needs.

    The chair carries the case in its weighted caseload; members carry the tasks of the plan. Under case
    teams every case has one, so the attributes live in ``__slots__`` and the provider representatives
    start as a shared empty tuple.
    """

    __slots__ = ("model", "unique_id", "pos",   # (Mesa's own three, set by mesa.Agent.__init__)
                 "case", "case_no", "chair", "staff", "driver", "providers", "formed", "meetings")

    def __init__(self, model: Simulation, case: Any, chair: CaseManager,
                 staff: list[CaseManager], driver: CaseManager | None = None) -> None:
        super().__init__(model)
        self.case = case
        self.case_no = case.no
        self.chair = chair
        self.staff = staff
        self.driver = driver              # hybrid: the member who drives the plan day to day
        for m in (chair, *staff):   # (distinct staff; a new team is on nobody's roster yet)
            m.teams.append(self)
            model.seat_change(m, self, +1)
        self.providers: tuple[Any, ...] = ()
        self.formed = model.env.now
        self.meetings = 0

    @property
    def members(self) -> list[Any]:
        """Chair, staff members and provider representatives."""
        return [self.chair, *self.staff, *self.providers]

    @property
    def setting(self) -> str:
        return self.chair.setting

    @property
    def load_bearer(self) -> CaseManager:
        return self.driver if self.driver is not None else self.chair

    @property
    def pressure(self) -> float:
        return self.load_bearer.pressure

    def on_duty(self) -> CaseManager | None:
        """The driver if at work, else the first staff member at work, else the chair."""
        for m in (self.driver, *self.staff, self.chair):
            if m is not None and m.available:
                return m
        return None

    def people(self) -> tuple[CaseManager, ...]:
        """The staff whose availability decides who delivers the team's contacts: in ``on_duty``'s order,
        up to the first at work (those after it matter only once it is away), or all when none is."""
        out = []
        for m in (self.driver, *self.staff, self.chair):
            if m is not None:
                out.append(m)
                if m.available:
                    break
        return tuple(out)

    def can_hold(self, mode: str | None) -> bool:
        """The chair is in post and skilled in ``mode``."""
        return self.chair.in_post and (mode is None or mode in self.chair.modes)

    def replace_member(self, old: CaseManager, new: CaseManager) -> None:
        """``old`` has left: ``new`` takes its seat. When ``old`` drove the plan, the person who sees the case
        day to day changes, so the case's tenure with whoever sees it (``holder_since``, which the continuity
        term of compliance reads) starts again; a team without a driver keeps its tenure."""
        if self.chair is old:
            self.chair = new
        if self.driver is old:
            self.driver = new
            if self.case.holder is self:
                self.case.holder_since = self.model.env.now
        self.staff = [new if m is old else m for m in self.staff]
        old.teams.discard(self)
        self.model.seat_change(old, self, -1)
        if self not in new.teams:
            new.teams.append(self)
            self.model.seat_change(new, self, +1)

    def dissolve(self) -> None:
        for m in (self.chair, *self.staff):
            if self in m.teams:
                m.teams.discard(self)
                self.model.seat_change(m, self, -1)
        if self.case.last_holder is self:   # (the case keeps what it needs of its former holder: the id)
            self.case.last_holder = FormerTeam(self.unique_id)
        self.remove()


class FormerTeam:
    """What a case keeps of a disbanded team that held it, as its ``last_holder``: the team's id, which the
    next change of holder records. A disbanded team never holds a case again, so nothing else of it is
    read, and a case that kept the whole team would keep its staff list and Mesa's bookkeeping alive."""

    __slots__ = ("unique_id",)

    def __init__(self, unique_id: int) -> None:
        self.unique_id = unique_id
