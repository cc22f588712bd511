"""Published England & Wales figures and their simulated counterparts (the backcast).

``TARGETS`` lists the published figures the backcast compares with: value, unit, source, date, the relative
tolerance, and whether the figure was *fitted* (a parameter of ``scenarios/england_wales.yaml`` was chosen to
match it; the calibration test holds it within its tolerance) or *held out* (nothing was tuned to it: an
out-of-sample check whose PASS or FAIL is reported as a finding). :func:`simulated` computes the simulated
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
    fitted: bool = True       # False: held out (an out-of-sample check)


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
    Target("proven_reoffending_all", "proven reoffending within a year, adults", 0.292, "share of the cohort",
           "MoJ proven reoffending, adult cohort Apr-Jun 2017 (28-31% in the years around it); the published "
           "cohort also holds cautions and fines, which the model does not supervise", 0.10, False),
    Target("proven_reoffending_short_custody", "proven reoffending within a year, released from custody "
           "after under 12 months", 0.644, "share of the cohort",
           "MoJ proven reoffending, adults released from sentences under 12 months, Apr-Jun 2017 cohort; "
           "simulated: releases after under half a year served", 0.15, False, fitted=False),
    Target("reoffences_per_reoffender", "proven reoffences per reoffender", 2.9, "offences per reoffender",
           "MoJ proven reoffending, Jul 2011-Jun 2012 cohort (adults and juveniles)", 0.25, False, fitted=False),
    Target("recalls_further_offence_share", "licence recalls for a further offence", 2795 / 7515,
           "share of recalls", "OMSQ fixed-term recalls 2016-17: 2,795 of 7,515 with a further charge among their "
           "reasons (more than one reason can apply); simulated: recalls whose cause is a further offence, of all "
           "recalls", 0.25, False, fitted=False),
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
    cause = ev["cause"].astype(str).to_numpy()
    ends = in_w & (kind == "stage_exit") & (ev["stage"].astype(str).to_numpy() == COMMUNITY_ORDER_STAGE)
    completed = ends & (cause == "completed")
    recall_rows = in_w & (kind == "recall")
    recalls = int(recall_rows.sum())
    for_offence = int((recall_rows & (cause == "further_offence")).sum())
    proven = result.summary.get("proven_reoffending_1y") or {}
    return {
        "proven_reoffending_all": _number(proven.get("all")),
        "proven_reoffending_short_custody": _number(proven.get("custody_release_short")),
        "reoffences_per_reoffender": _number(result.summary.get("proven_reoffences_per_reoffender")),
        "probation_supervision": sum(days.get(n, 0.0) for n in SUPERVISION_STAGES) / span / scale,
        "custody_population": sum(days.get(n, 0.0) for n in custody) / span / scale,
        "caseload_per_officer": float(result.summary["mean_caseload_by_setting"]["community"]),
        "community_completion": float(completed.sum() / ends.sum()) if ends.any() else float("nan"),
        "recalls_per_year": recalls / (span / DAYS_PER_YEAR) / scale,
        "recalls_further_offence_share": for_offence / recalls if recalls else float("nan"),
    }


def _number(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def backcast(results: Sequence[Result]) -> list[dict[str, float | str]]:
    """One row per target: published value, the mean simulated value over the runs, and their ratio."""
    sims = [simulated(r) for r in results]
    rows: list[dict[str, float | str]] = []
    for tg in TARGETS:
        values = [x[tg.key] for x in sims]
        mean = float(np.mean(values))
        rows.append({"key": tg.key, "target": tg.label, "unit": tg.unit, "published": tg.value,
                     "simulated": mean, "min": float(np.min(values)), "max": float(np.max(values)),
                     "ratio": mean / tg.value, "tolerance": tg.tolerance, "source": tg.source,
                     "role": "fitted" if tg.fitted else "held out",
                     "within": bool(abs(mean / tg.value - 1) <= tg.tolerance)})
    return rows


def _fmt(x: float) -> str:
    return f"{x:.1%}" if abs(x) < 1 else (f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}")


def markdown_table(rows: Sequence[dict[str, float | str]]) -> str:
    """The backcast as a Markdown table (simulated = mean over runs, with the range when several)."""
    lines = ["| target | role | published | simulated (range) | ratio | tolerance | within | source |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sim = _fmt(float(r["simulated"]))
        if r["min"] != r["max"]:
            sim += f" ({_fmt(float(r['min']))} to {_fmt(float(r['max']))})"
        lines.append(f"| {r['target']} ({r['unit']}) | {r['role']} | {_fmt(float(r['published']))} | {sim} | "
                     f"{float(r['ratio']):.3f} | ±{float(r['tolerance']):.0%} | "
                     f"{'yes' if r['within'] else '**no**'} | {r['source']} |")
    return "\n".join(lines)


__all__ = ["TARGETS", "Target", "SUPERVISION_STAGES", "simulated", "backcast", "markdown_table"]
