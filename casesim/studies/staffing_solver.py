"""The fewest case managers in a staff group that meet a KPI target, with confidence.

Every candidate staff count is run with the same seeds (replication k uses seed base + k: common
random numbers), so candidates differ by their staffing only. A candidate *meets* ``KPI<=V`` when the
one-sided 95% upper bound of the KPI's mean over the replications is at most V, and ``KPI>=V`` when the
lower bound is at least V. The bounds and intervals are Student t intervals, except for a KPI that is a
share (:func:`is_share`), whose intervals stay within [0, 1] (:func:`share_interval`). Assuming the KPI
responds monotonically to the count, the search brackets the answer (halving or doubling from the
scenario's count) and then bisects.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casesim.metrics.kpis import SHARE, kind_of
from casesim.outputs.results import run
from casesim.scenario.schema import load_scenario
from casesim.studies.sweep import kpi_columns, t_quantile


def is_share(kpi: str) -> bool:
    """Whether ``kpi`` (a summary key, dotted for nested ones: ``compliance_by_stage.CUSTODY``) is a share, a
    proportion between 0 and 1 by construction: its kind in the catalogue (:mod:`casesim.metrics.kpis`) says so.
    Ratios that can exceed 1, such as ``mean_caseload_pressure``, are not shares; nor is a name the catalogue
    does not hold."""
    return kind_of(kpi) == SHARE


def share_interval(values: Sequence[float], level: float) -> tuple[float, float, float]:
    """Mean of replicate shares and its confidence interval, within [0, 1]: ``(mean, low, high)``.

    Each replication gives one share (a KPI between 0 and 1); ``level`` is the two-sided coverage (0.95
    for the 95% interval; 0.90 gives the one-sided 95% bounds). Mean +/- t.s/sqrt(n) can leave [0, 1]
    near the edges (0.99, 1.0 and 0.97 give an upper end of 1.025), and clipping it would claim a
    certainty the replications do not have. A t interval on the logit scale stays inside but fails when a
    replication is exactly 0 or 1, which is common (no manager over capacity in any run). So this is the
    Wilson score interval with an effective sample size, as survey statistics use for a proportion whose
    variance is estimated (e.g. Stata's ``proportion, citype(wilson)``): with p the mean and se = s/sqrt(n)
    its standard error, n_eff = p(1-p)/se^2 is the number of independent yes/no cases that would give the
    same standard error, and the interval is every share q with (p - q)^2 <= t^2 q(1 - q)/n_eff, where t
    is Student's quantile with n - 1 degrees of freedom. It always contains the mean, lies within [0, 1],
    is asymmetric near 0 and 1, and comes close to the t interval for shares away from the edges. All
    replications equal (se = 0) give the point; a missing value makes everything NaN, as for other KPIs.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2 or math.isnan(mean):
        return mean, mean, mean
    se = float(x.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        return mean, mean, mean
    t = t_quantile(0.5 + level / 2.0, n - 1)
    n_eff = mean * (1.0 - mean) / se**2
    k = t * t / n_eff
    centre = (mean + k / 2.0) / (1.0 + k)
    half = t / (1.0 + k) * math.sqrt(se**2 + k / (4.0 * n_eff))
    return mean, max(0.0, centre - half), min(1.0, centre + half)   # (max/min: round-off only)


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

    def check(self, summary: dict) -> None:
        """Raise ``ValueError`` (one line) when the KPI is not a number in ``summary``: it names the nearest
        KPI (difflib) and lists every valid one, dict KPIs as ``key.{a,b}``."""
        names = list(kpi_columns(summary))
        if self.kpi in names:
            return
        close = difflib.get_close_matches(self.kpi, names, n=1)
        groups: dict[str, list[str]] = {}
        for name in names:
            head, _, tail = name.partition(".")
            groups.setdefault(head, []).append(tail)
        listed = ", ".join(head if tails == [""] else f"{head}.{{{','.join(tails)}}}" for head, tails in groups.items())
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"--target: no KPI {self.kpi!r} in summary.json{hint}; KPIs: {listed}")


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
        """The staffing curve: staff -> KPI mean with 95% interval, bound, meets, mean cost, and how the
        interval was made (``interval``: ``t`` for Student t, ``wilson`` for a share, see :func:`interval`)."""
        return pd.DataFrame([{"staff": c.staff, "kpi": self.target.kpi, "mean": c.mean, "ci95_low": c.low,
                              "ci95_high": c.high, "one_sided_bound": c.bound, "target": self.target.value,
                              "meets": c.meets, "replications": len(c.values), "cost_total_mean": c.cost_mean,
                              "currency": self.currency, "interval": _method(self.target.kpi)}
                             for c in sorted(self.curve, key=lambda c: c.staff)])

    def console_table(self) -> Any:
        """The staffing curve as a ``rich`` table for the console: per staff count the KPI's mean with its
        95% interval and one-sided bound (:func:`format_value`: shares in %), whether the target is met,
        and the mean total cost. No figure is wrapped, and without vertical rules it needs about 70 columns
        even with costs in billions, so it fits 80; the KPI's name, which can be long, is in the title
        (wrapped), never a column."""
        from rich import box
        from rich.table import Table

        kpi, op = self.target.kpi, self.target.op
        runs = len(self.curve[0].values) if self.curve else 0
        table = Table(title=f"{self.group}: {kpi} {op} {format_value(kpi, self.target.value)}; {runs} replications "
                      f"per count, 95% intervals ({INTERVAL_NAMES[_method(kpi)]})", title_justify="left",
                      caption_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                      collapse_padding=True)
        for head in ("Staff", "Mean", "95% CI", f"One-sided\n{'upper' if op == '<=' else 'lower'} bound"):
            table.add_column(head, justify="right", no_wrap=True)
        table.add_column("Target", no_wrap=True)
        table.add_column(f"Mean total\ncost ({self.currency})", justify="right", no_wrap=True)
        for c in sorted(self.curve, key=lambda c: c.staff):
            table.add_row(f"{c.staff:,}", format_value(kpi, c.mean),
                          f"[{format_value(kpi, c.low)}, {format_value(kpi, c.high)}]", format_value(kpi, c.bound),
                          ("met" if c.meets else "missed") + (" *" if c.staff == self.answer else ""),
                          f"{c.cost_mean:,.0f}")
        if self.answer is not None:
            table.caption = "* the answer: the fewest staff meeting the target"
        return table


#: How the intervals of a KPI are made: the CSV's ``interval`` column, and words for the titles.
INTERVAL_NAMES = {"wilson": "Wilson, with an effective n, for a share", "t": "Student t"}


def _method(kpi: str) -> str:
    """How the intervals of ``kpi`` are made: a key of :data:`INTERVAL_NAMES`."""
    return "wilson" if is_share(kpi) else "t"


def format_value(kpi: str, value: float | None) -> str:
    """A value of ``kpi`` as people read it, never in scientific notation, with enough digits to compare it
    with a target: a share (:func:`is_share`) in % with two decimals, any other value with three decimals
    below 10, two below 1,000 and none above (with thousands separators); ``n/a`` when undefined."""
    if value is None or math.isnan(value):
        return "n/a"
    if is_share(kpi):
        return f"{100.0 * value:.2f}%"
    return ("{:.3f}" if abs(value) < 10 else "{:.2f}" if abs(value) < 1000 else "{:,.0f}").format(value)


def interval(kpi: str, values: Sequence[float], level: float) -> tuple[float, float, float]:
    """``(mean, low, high)``: the two-sided ``level`` confidence interval of the mean of ``values``, the
    replications of ``kpi``: :func:`share_interval` for a share (:func:`is_share`) whose values are all
    within [0, 1], else Student's t, mean +/- t.s/sqrt(n) with n - 1 degrees of freedom (the exact
    quantile, :func:`casesim.studies.sweep.t_quantile`). Fewer than two values give the mean as its own bounds."""
    if is_share(kpi) and all(0.0 <= v <= 1.0 for v in values if not math.isnan(v)):
        return share_interval(values, level)
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return mean, mean, mean
    half = t_quantile(0.5 + level / 2.0, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def judge(target: Target, staff: int, values: list[float], costs: list[float]) -> Candidate:
    """Mean, 95% interval and the one-sided verdict over the replications: the one-sided 95% bound is the
    end of the two-sided 90% interval (:func:`interval`), so a share's bound stays within [0, 1] too."""
    mean, low, high = interval(target.kpi, values, 0.95)
    _, low90, high90 = interval(target.kpi, values, 0.90)
    bound = high90 if target.op == "<=" else low90
    ok = not math.isnan(bound) and (bound <= target.value if target.op == "<=" else bound >= target.value)
    return Candidate(staff, list(values), list(costs), mean, low, high, bound, ok, float(np.mean(costs)))


def solve(scenario: str | Path, target: Target | str, replications: int = 5, setting: str = "community",
          group: str | None = None, overrides: Sequence[str] = (), max_staff: int = 2000,
          on_candidate: Callable[[Candidate], None] | None = None) -> Solution:
    """The fewest staff in ``group`` (default: the first group of ``setting``) meeting ``target``.

    Raises:
        ValueError: bad settings, or (after the first run) a target KPI that is not in ``summary.json``
            (:meth:`Target.check`).
    """
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
            results = []
            for k in range(replications):
                results.append(run(scenario, seed=base.seed + k, overrides=sets).summary)
                if not seen and k == 0:
                    target.check(results[0])   # a misspelt KPI fails after one run, not a whole candidate
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


def write_outputs(sol: Solution, out: str | Path, inputs: dict[str, Any] | None = None,
                  expect: tuple[str, ...] | None = None) -> tuple[Path, Path]:
    """The staffing curve as ``staffing_curve.csv`` and a self-contained ``staffing_curve.html``, with a
    ``manifest.json`` (kind ``staffing``, the casesim version, ``inputs``: what the search was asked, see
    :mod:`casesim.outputs.guard`, and its answer), written to a temporary folder that then replaces ``out`` whole."""
    from casesim.outputs.results import write_directory
    from casesim.version import __version__

    def fill(tmp: Path) -> None:
        _write_curve(sol, tmp)
        manifest = {"kind": "staffing", "casesim_version": __version__, **(inputs or {}), "staff_group": sol.group,
                    "answer": sol.answer, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "outputs": ["staffing_curve.csv", "staffing_curve.html", "manifest.json"]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    out = write_directory(out, fill, expect)
    return out / "staffing_curve.csv", out / "staffing_curve.html"


def _write_curve(sol: Solution, out: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    table = sol.table()
    csv = out / "staffing_curve.csv"
    table.to_csv(csv, index=False)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=table["staff"].tolist(), y=table["mean"].tolist(), mode="lines+markers",
                             name=f"{sol.target.kpi} mean",
                             error_y={"type": "data", "symmetric": False,
                                      "array": (table["ci95_high"] - table["mean"]).tolist(),
                                      "arrayminus": (table["mean"] - table["ci95_low"]).tolist()}))
    fig.add_hline(y=sol.target.value, line_dash="dash", annotation_text=f"target {sol.target.op} {sol.target.value:g}")
    fig.add_trace(go.Scatter(x=table["staff"], y=table["cost_total_mean"], mode="lines+markers",
                             name=f"total cost ({sol.currency})", line={"dash": "dot"}), secondary_y=True)
    if sol.answer is not None:
        fig.add_vline(x=sol.answer, line_color="green", annotation_text=f"answer: {sol.answer}")
    fig.update_layout(title=f"Staffing curve: {sol.group}, target {sol.target.kpi} {sol.target.op} "
                      f"{sol.target.value:g} (mean and 95% interval, {INTERVAL_NAMES[_method(sol.target.kpi)]})",
                      xaxis_title="staff in the group")
    fig.update_yaxes(title_text=sol.target.kpi, secondary_y=False)
    if is_share(sol.target.kpi):   # a share's interval (share_interval) stays within 0-100%
        fig.update_yaxes(tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text=f"total cost ({sol.currency})", secondary_y=True)
    fig.write_html(out / "staffing_curve.html", include_plotlyjs=True)
