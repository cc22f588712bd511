"""The case manager: a staff member who holds cases."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from casesim.simulation import Simulation


class CaseManager(mesa.Agent):
    """A staff member in one setting, with a patch, specialisms, mode skills and a capacity.

    ``load`` is the weighted caseload (sum of the workload weights of the cases it carries) and
    ``capacity`` the weighted caseload it can carry at 100%; ``pressure`` is their ratio.
    """

    def __init__(self, model: Simulation, setting: str, patch: str | None, capacity: float,
                 modes: frozenset[str], specialisms: frozenset[str], group: str) -> None:
        super().__init__(model)
        self.setting = setting
        self.patch = patch                # None: covers every patch
        self.capacity = capacity          # weighted points at 100%
        self.base_capacity = capacity
        self.modes = modes
        self.specialisms = specialisms
        self.group = group
        self.available = True
        self.load = 0.0
        self.count = 0

    @property
    def pressure(self) -> float:
        """Weighted caseload over capacity (inf when unavailable with cases)."""
        if self.capacity > 0:
            return self.load / self.capacity
        return float("inf") if self.load > 0 else 0.0

    @property
    def load_bearer(self) -> CaseManager:
        """The staff member whose caseload carries a case held by this holder: itself."""
        return self

    def can_hold(self, mode: str | None) -> bool:
        """Available and skilled in ``mode``."""
        return self.available and (mode is None or mode in self.modes)
