"""Enforcement: what a missed contact leads to.

The engine asks ``on_missed(case, now, u)`` with a uniform number ``u`` from the case's luck and
gets back ``"none"`` (an acceptable absence, or no action), ``"warning"`` or ``"breach"``.
What a breach leads to (return to court, recall) is a property of the journey stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from casesim.engine.models.registry import policy
from casesim.scenario.params import CENTURY, CENTURY_DAYS, SHARE, P, Strict

if TYPE_CHECKING:
    from casesim.engine.agents.case import Case

_ACCEPTABLE_SOURCE = ("calibrated: with the default compliance model the baseline completes about 70-74% "
                      "of community orders (E&W parliamentary answer, Dec 2023); most absences are "
                      "excused or not pursued")


class GraduatedParams(Strict):
    """Graduated enforcement: unacceptable absences bring warnings, then breach."""

    name: Literal["graduated"] = "graduated"
    acceptable_absence_share: float = P(0.7, "share of missed contacts", _ACCEPTABLE_SOURCE, ge=0, le=1,
                                        limit=SHARE)
    warnings_before_breach: int = P(1, "warnings", "England & Wales national standards: one formal warning "
                                    "within 12 months, breach on the next unacceptable failure", ge=0,
                                    le=1000, strict=True, limit="a thousand: more warnings than contacts in "
                                    "any stay")
    window_days: float = P(365, "days", "England & Wales national standards: warnings count for 12 months",
                           gt=0, le=CENTURY_DAYS, limit=CENTURY)


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


class StrictParams(Strict):
    """Strict enforcement: every unacceptable absence is a breach."""

    name: Literal["strict"] = "strict"
    acceptable_absence_share: float = P(0.7, "share of missed contacts", _ACCEPTABLE_SOURCE, ge=0, le=1,
                                        limit=SHARE)


@policy("enforcement", StrictParams)
class StrictBreach:
    """No warnings: the first unacceptable absence is a breach."""

    def __init__(self, params: StrictParams) -> None:
        self.acceptable = params.acceptable_absence_share

    def on_missed(self, case: Case, now: float, u: float) -> str:
        return "none" if u < self.acceptable else "breach"
