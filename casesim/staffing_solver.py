"""The fewest case managers in a staff group that meet a KPI target, with confidence.

Every candidate staff count is run with the same seeds (replication k uses seed base + k: common
random numbers), so candidates differ by their staffing only. A candidate *meets* ``KPI<=V`` when the
one-sided 95% upper bound of the KPI's mean (Student t over the replications) is at most V, and ``KPI>=V``
when the lower bound is at least V. Assuming the KPI responds monotonically to the count, the search
brackets the answer (halving or doubling from the scenario's count) and then bisects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from casesim.results import run
from casesim.scenario import load_scenario

#: Student t quantiles (0.95 and 0.975) for 1..30 degrees of freedom; the normal's beyond.
_T95 = (6.3138, 2.92, 2.3534, 2.1318, 2.015, 1.9432, 1.8946, 1.8595, 1.8331, 1.8125,
        1.7959, 1.7823, 1.7709, 1.7613, 1.7531, 1.7459, 1.7396, 1.7341, 1.7291, 1.7247,
        1.7207, 1.7171, 1.7139, 1.7109, 1.7081, 1.7056, 1.7033, 1.7011, 1.6991, 1.6973)
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281,
         2.201, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.093, 2.086,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)


def t_quantile(p: float, df: int) -> float:
    """Student t quantile for p = 0.95 or 0.975 (tabulated; normal above 30 degrees of freedom)."""
    table = _T95 if p == 0.95 else _T975
    return table[df - 1] if df <= len(table) else NormalDist().inv_cdf(p)


_TARGET = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Target:
    """``kpi <= value`` or ``kpi >= value`` on a summary key (dotted for nested keys)."""

    kpi: str
    op: str
    value: float

    @staticmethod
    def parse(text: str) -> Target:
        """Read ``"KPI<=VALUE"`` or ``"KPI>=VALUE"``."""
        m = _TARGET.match(text)
        if not m:
            raise ValueError(f"target {text!r}: write KPI<=VALUE or KPI>=VALUE, e.g. mean_caseload<=40")
        return Target(m.group(1), m.group(2), float(m.group(3)))

    def read(self, summary: dict) -> float:
        """The KPI's value in one run's summary (NaN when undefined)."""
        x: object = summary
        for part in self.kpi.split("."):
            if not isinstance(x, dict) or part not in x:
                raise KeyError(f"target: no KPI {self.kpi!r} in summary.json")
            x = x[part]
        return float("nan") if x is None else float(x)  # type: ignore[arg-type]


@dataclass
class Candidate:
    """One staff count, its replications and whether it meets the target."""

    staff: int
    values: list[float]
    costs: list[float]
    mean: float = 0.0
    low: float = 0.0      # two-sided 95% interval of the mean
    high: float = 0.0
    bound: float = 0.0    # the one-sided 95% bound the target is judged on
    meets: bool = False
    cost_mean: float = 0.0


@dataclass
class Solution:
    """The answer (None if no count up to the limit met the target) and every candidate tried."""

    target: Target
    group: str
    answer: int | None
    curve: list[Candidate] = field(default_factory=list)
    currency: str = "GBP"

    def table(self) -> pd.DataFrame:
        """The staffing curve: staff -> KPI mean with 95% interval, bound, meets, mean cost."""
        return pd.DataFrame([{"staff": c.staff, "kpi": self.target.kpi, "mean": c.mean, "ci95_low": c.low,
                              "ci95_high": c.high, "one_sided_bound": c.bound, "target": self.target.value,
                              "meets": c.meets, "replications": len(c.values), "cost_total_mean": c.cost_mean,
                              "currency": self.currency}
                             for c in sorted(self.curve, key=lambda c: c.staff)])


def judge(target: Target, staff: int, values: list[float], costs: list[float]) -> Candidate:
    """Mean, 95% interval and the one-sided verdict over the replications."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    t1 = t_quantile(0.95, n - 1) if n > 1 else 0.0
    t2 = t_quantile(0.975, n - 1) if n > 1 else 0.0
    bound = mean + t1 * se if target.op == "<=" else mean - t1 * se
    ok = not math.isnan(bound) and (bound <= target.value if target.op == "<=" else bound >= target.value)
    return Candidate(staff, list(values), list(costs), mean, mean - t2 * se, mean + t2 * se, bound, ok,
                     float(np.mean(costs)))


def solve(scenario: str | Path, target: Target | str, replications: int = 5, setting: str = "community",
          group: str | None = None, overrides: Sequence[str] = (), max_staff: int = 2000,
          on_candidate: Callable[[Candidate], None] | None = None) -> Solution:
    """The fewest staff in ``group`` (default: the first group of ``setting``) meeting ``target``."""
    if replications < 2:
        raise ValueError("--replications: need at least 2 for a confidence bound")
    target = Target.parse(target) if isinstance(target, str) else target
    base, _ = load_scenario(scenario, overrides)
    index = next((i for i, g in enumerate(base.staff)
                  if (g.name == group if group else g.setting == setting)), None)
    if index is None:
        raise ValueError(f"--group/--setting: no staff group {group or 'in setting ' + repr(setting)}; "
                         f"groups: {', '.join(g.name for g in base.staff)}")
    seen: dict[int, Candidate] = {}

    def evaluate(n: int) -> Candidate:
        if n not in seen:
            sets = [*overrides, f"staff.{index}.count={n}"]
            results = [run(scenario, seed=base.seed + k, overrides=sets).summary for k in range(replications)]
            seen[n] = judge(target, n, [target.read(s) for s in results], [s["cost_total"] for s in results])
            if on_candidate is not None:
                on_candidate(seen[n])
        return seen[n]

    start = max(1, base.staff[index].count)
    lo, hi = 0, None                     # lo fails (0 = nobody, never run), hi meets
    if evaluate(start).meets:
        hi, n = start, start // 2
        while n >= 1 and evaluate(n).meets:
            hi, n = n, n // 2
        lo = n if n >= 1 else 0
    else:
        lo, n = start, start * 2
        while n <= max_staff and not evaluate(n).meets:
            lo, n = n, n * 2
        hi = n if n <= max_staff else None
    if hi is None:
        return Solution(target, base.staff[index].name, None, list(seen.values()), base.costs.currency)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if evaluate(mid).meets:
            hi = mid
        else:
            lo = mid
    if lo >= 1:
        evaluate(lo)
    return Solution(target, base.staff[index].name, hi, list(seen.values()), base.costs.currency)


def write_outputs(sol: Solution, out: str | Path) -> tuple[Path, Path]:
    """The staffing curve as ``staffing_curve.csv`` and a self-contained ``staffing_curve.html``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = sol.table()
    csv = out / "staffing_curve.csv"
    table.to_csv(csv, index=False)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=table["staff"], y=table["mean"], mode="lines+markers", name=f"{sol.target.kpi} mean",
                             error_y={"type": "data", "symmetric": False,
                                      "array": table["ci95_high"] - table["mean"],
                                      "arrayminus": table["mean"] - table["ci95_low"]}))
    fig.add_hline(y=sol.target.value, line_dash="dash", annotation_text=f"target {sol.target.op} {sol.target.value:g}")
    fig.add_trace(go.Scatter(x=table["staff"], y=table["cost_total_mean"], mode="lines+markers",
                             name=f"total cost ({sol.currency})", line={"dash": "dot"}), secondary_y=True)
    if sol.answer is not None:
        fig.add_vline(x=sol.answer, line_color="green", annotation_text=f"answer: {sol.answer}")
    fig.update_layout(title=f"Staffing curve: {sol.group}, target {sol.target.kpi} {sol.target.op} "
                      f"{sol.target.value:g} (mean and 95% interval)", xaxis_title="staff in the group")
    fig.update_yaxes(title_text=sol.target.kpi, secondary_y=False)
    fig.update_yaxes(title_text=f"total cost ({sol.currency})", secondary_y=True)
    html = out / "staffing_curve.html"
    fig.write_html(html, include_plotlyjs=True)
    return csv, html
