"""Enforcement: what a missed contact leads to.

The engine asks ``on_missed(case, now, u)`` with a uniform number ``u`` from the case's luck and
gets back ``"none"`` (an acceptable absence, or no action), ``"warning"`` or ``"breach"``.
What a breach leads to (return to court, recall) is a property of the journey stage. The parameters
are declared in the scenario layer (``casesim/scenario/policies.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from casesim.models.registry import policy
from casesim.scenario.policies import GraduatedParams, StrictParams

if TYPE_CHECKING:
    from casesim.agents.case import Case

__all__ = ["Graduated", "GraduatedParams", "StrictBreach", "StrictParams"]


@policy("enforcement", GraduatedParams)
class Graduated:
    """Warn on each unacceptable absence until the warning limit, then breach."""

    def __init__(self, params: GraduatedParams) -> None:
        self.acceptable = params.acceptable_absence_share
        self.limit = params.warnings_before_breach
        self.window = params.window_days

    def on_missed(self, case: Case, now: float, u: float) -> str:
        if u < self.acceptable:
            return "none"
        recent = [t for t in case.warning_times if now - t <= self.window]
        case.warning_times = tuple(recent)
        if len(recent) >= self.limit:
            return "breach"
        return "warning"


@policy("enforcement", StrictParams)
class StrictBreach:
    """No warnings: the first unacceptable absence is a breach."""

    def __init__(self, params: StrictParams) -> None:
        self.acceptable = params.acceptable_absence_share

    def on_missed(self, case: Case, now: float, u: float) -> str:
        return "none" if u < self.acceptable else "breach"
