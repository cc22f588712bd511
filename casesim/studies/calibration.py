"""Published England & Wales figures and their simulated counterparts (the backcast).

``TARGETS`` lists the figures ``scenarios/england_wales.yaml`` is calibrated to: value, unit, source,
date and the relative tolerance the calibration test allows. :func:`simulated` computes the simulated
counterpart of each from one :class:`~casesim.outputs.results.Result`, over the measured window; extensive figures
(people, recalls) are divided by the scenario's ``population_scale`` so they read at national size.
:func:`backcast` averages several runs and :func:`markdown_table` prints the comparison.

Which journey stages count as what (as OMSQ counts them):

* under probation supervision: court orders (``NON_CUSTODIAL``, ``BREACH_COURT``), pre-release
  (``CUSTODY``: sentenced prisoners) and post-release (``SUPERVISED_RELEASE``, and ``RECALL_CUSTODY``:
  recalled people stay on licence);
* in custody: every stage whose setting is custody (``REMAND``, ``CUSTODY``, ``RECALL_CUSTODY``).

Stocks are time averages over the window (exact integrals of the stage step functions in the event log),
compared with published point-in-time counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from casesim.scenario.params import DAYS_PER_YEAR

if TYPE_CHECKING:
    from casesim.outputs.results import Result

#: Stages counted as "under probation supervision" (OMSQ: court orders + pre-release + post-release).
SUPERVISION_STAGES = ("NON_CUSTODIAL", "BREACH_COURT", "CUSTODY", "SUPERVISED_RELEASE", "RECALL_CUSTODY")
#: The order stage whose stays give the completion share of community sentences.
COMMUNITY_ORDER_STAGE = "NON_CUSTODIAL"


@dataclass(frozen=True)
class Target:
    """One published figure the scenario is calibrated to."""

    key: str
    label: str
    value: float
    unit: str
    source: str
    tolerance: float          # allowed relative difference |simulated / value - 1|
    extensive: bool           # True: scales with the population (divided by population_scale)


TARGETS: tuple[Target, ...] = (
    Target("probation_supervision", "people under probation supervision", 238_646, "people",
           "MoJ Offender Management Statistics Quarterly (OMSQ), Apr-Jun 2024: caseload at 30 Jun 2024", 0.10,
           True),
    Target("custody_population", "people in prison", 87_726, "people",
           "OMSQ Jan-Mar 2024 bulletin: prison population at 30 Jun 2024", 0.10, True),
    Target("caseload_per_officer", "average caseload per probation officer", 35.2, "cases per case manager",
           "Workload Measurement Tool, year to Jun 2024 (parliamentary answer, 11 Sep 2024; 36.0 in 2022, "
           "37.1 in 2023)", 0.10, False),
    Target("community_completion", "community sentences completed successfully", 0.74, "share of orders ended",
           "parliamentary answer, Dec 2023 (70% in 2018 rising to 74%)", 0.10, False),
    Target("recalls_per_year", "licence recalls a year", 37_573, "recalls per year",
           "OMSQ licence recalls, calendar 2024: 7,415 + 9,782 + 9,975 + 10,401", 0.10, True),
)


def _stage_person_days(events: pd.DataFrame, a: float, h: float) -> dict[str, float]:
    """Person-days spent in each stage within ``[a, h)`` (exact, from stage_enter/stage_exit rows)."""
    stage = events["stage"].astype(str).to_numpy()
    kind = events["kind"].astype(str).to_numpy()
    t = events["time"].to_numpy(dtype=np.float64)
    left = h - np.clip(t, a, h)          # time from the event (or the window start) to the horizon
    out: dict[str, float] = {}
    for sign, k in ((1.0, "stage_enter"), (-1.0, "stage_exit")):
        rows = kind == k
        for s, v in pd.Series(left[rows]).groupby(stage[rows]).sum().items():
            out[str(s)] = out.get(str(s), 0.0) + sign * float(v)
    return out


def simulated(result: Result) -> dict[str, float]:
    """The simulated counterpart of every target, from one run (extensive ones at national size)."""
    s = result.scenario
    a, h = s.time.warmup_days, s.time.horizon_days
    span = h - a
    scale = s.population_scale
    days = _stage_person_days(result.events, a, h)
    custody = [n for n, st in s.journey.stages.items() if st.setting == "custody"]
    ev = result.events
    kind = ev["kind"].astype(str).to_numpy()
    t = ev["time"].to_numpy(dtype=np.float64)
    in_w = (t >= a) & (t < h)
    ends = in_w & (kind == "stage_exit") & (ev["stage"].astype(str).to_numpy() == COMMUNITY_ORDER_STAGE)
    completed = ends & (ev["cause"].astype(str).to_numpy() == "completed")
    recalls = int((in_w & (kind == "recall")).sum())
    return {
        "probation_supervision": sum(days.get(n, 0.0) for n in SUPERVISION_STAGES) / span / scale,
        "custody_population": sum(days.get(n, 0.0) for n in custody) / span / scale,
        "caseload_per_officer": float(result.summary["mean_caseload_by_setting"]["community"]),
        "community_completion": float(completed.sum() / ends.sum()) if ends.any() else float("nan"),
        "recalls_per_year": recalls / (span / DAYS_PER_YEAR) / scale,
    }


def backcast(results: Sequence[Result]) -> list[dict[str, float | str]]:
    """One row per target: published value, the mean simulated value over the runs, and their ratio."""
    sims = [simulated(r) for r in results]
    rows: list[dict[str, float | str]] = []
    for tg in TARGETS:
        values = [x[tg.key] for x in sims]
        mean = float(np.mean(values))
        rows.append({"key": tg.key, "target": tg.label, "unit": tg.unit, "published": tg.value,
                     "simulated": mean, "min": float(np.min(values)), "max": float(np.max(values)),
                     "ratio": mean / tg.value, "tolerance": tg.tolerance, "source": tg.source})
    return rows


def _fmt(x: float) -> str:
    return f"{x:.1%}" if abs(x) < 1 else (f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}")


def markdown_table(rows: Sequence[dict[str, float | str]]) -> str:
    """The backcast as a Markdown table (simulated = mean over runs, with the range when several)."""
    lines = ["| target | published | simulated (range) | ratio | source |", "|---|---|---|---|---|"]
    for r in rows:
        sim = _fmt(float(r["simulated"]))
        if r["min"] != r["max"]:
            sim += f" ({_fmt(float(r['min']))} to {_fmt(float(r['max']))})"
        lines.append(f"| {r['target']} ({r['unit']}) | {_fmt(float(r['published']))} | {sim} | "
                     f"{float(r['ratio']):.3f} | {r['source']} |")
    return "\n".join(lines)


__all__ = ["TARGETS", "Target", "SUPERVISION_STAGES", "simulated", "backcast", "markdown_table"]
