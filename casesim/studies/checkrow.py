"""One row of a check's report (:mod:`casesim.studies.check`, :mod:`casesim.studies.facts`): what theory (or a
control) says, what the simulation gave, the tolerance, the interval and whether it passed."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    """One row of the report."""

    check: str
    name: str
    theory: float
    simulated: float
    tolerance: float
    relative: bool = True             # tolerance on |sim - theory| / |theory|, else on |sim - theory|
    ci_low: float | None = None
    ci_high: float | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def difference(self) -> float:
        diff = self.simulated - self.theory
        if not self.relative:
            return diff
        return diff / abs(self.theory) if self.theory else (0.0 if diff == 0 else math.inf)

    @property
    def passed(self) -> bool:
        ok = math.isfinite(self.difference) and abs(self.difference) <= self.tolerance
        if ok and self.ci_low is not None and self.ci_high is not None and self.relative and self.theory:
            # an interval wider than the tolerance cannot tell a right model from a wrong one
            ok = (self.ci_high - self.ci_low) / 2 <= self.tolerance * abs(self.theory)
        return ok

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["difference"] = self.difference
        out["passed"] = self.passed
        return out


__all__ = ["CheckResult"]
