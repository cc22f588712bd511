"""A case team: the custody arrangement where a team unique to the case holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

if TYPE_CHECKING:
    from casesim.agents.case_manager import CaseManager
    from casesim.simulation import Simulation


class Team(mesa.Agent):
    """A team convened for one case: a chair (a staff member with more authority), staff
    members, and representatives of the providers addressing the case's needs.

    The chair carries the case in its weighted caseload; members carry the tasks of the plan.
    """

    def __init__(self, model: Simulation, case_no: int, chair: CaseManager,
                 staff: list[CaseManager]) -> None:
        super().__init__(model)
        self.case_no = case_no
        self.chair = chair
        self.staff = staff
        self.providers: list[Any] = []
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
        return self.chair

    @property
    def pressure(self) -> float:
        return self.chair.pressure

    def can_hold(self, mode: str | None) -> bool:
        return self.chair.available
