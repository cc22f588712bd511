"""Compare scenarios under common random numbers: ``casesim compare A.yaml B.yaml [C.yaml ...]``.

Every scenario runs the same ``R`` replications; replication ``r`` uses the seed the sweeps use,
:func:`casesim.studies.experiment.replication_seed` of the master seed (``--seed``, default the first scenario's
seed) and ``r``, in every scenario. With ``cohort`` (``--cohort COHORT.yaml``) every scenario is a jurisdiction profile
run with the cohort's people in place of its own (:func:`casesim.studies.jurisdictions.load_profile`). With
common random numbers the same people arrive at the same
times with the same luck in each scenario, so the differences between scenarios are measured on
paired runs: for each KPI and scenario the table gives the mean over the replications with its 95%
Student t interval, and the mean of the paired differences from the FIRST scenario with its own 95%
t interval (:func:`casesim.studies.sweep.mean_ci`). A scenario compared with itself differs by exactly 0.

Outputs (written to a temporary folder renamed into place, so nothing is half-written):

* ``compare.csv``: one row per KPI and scenario: ``scenario, kpi, mean, ci_low, ci_high,
  diff_from_first, diff_ci_low, diff_ci_high, n`` (every numeric KPI of ``summary.json``, dict KPIs
  flattened to ``<kpi>.<key>`` as in sweeps);
* ``compare.html``: self-contained page (plotly.js inline): headline KPIs as bars with 95% error bars
  beside the differences from the first scenario, time series of the replication means overlaid, and the
  cost per further offence avoided against the first scenario (:func:`cost_per_offence_avoided`; also a block
  of the console table), and the map of choices: each scenario's case-management choices beside its results
  (:func:`choices_html`; :mod:`casesim.studies.jurisdictions`);
* ``manifest.json``: kind ``compare``, the scenario files, labels, overrides, the cohort (if any), seeds and
  casesim version
  (what tells a later ``compare --out`` whether it may replace the folder: see :mod:`casesim.outputs.guard`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from casesim.metrics.kpis import BY_KEY, Kpi, format_value, headline
from casesim.scenario.schema import Scenario, load_scenario
from casesim.scenario.yamlio import Problem, ScenarioError
from casesim.studies.experiment import replication_seed
from casesim.studies.jurisdictions import (
    CHOICE_COLUMNS,
    SIDE_BY_SIDE,
    choice_cells,
    choices,
    is_cohort_file,
    load_profile,
    same_file,
)
from casesim.studies.sweep import COUNT_DICTS, kpi_columns, mean_ci

#: Replications per scenario when ``--replications`` is not given.
DEFAULT_REPLICATIONS = 5
#: Time-series columns overlaid in ``compare.html``: column, title, y-axis label, factor (1 or 100 for %).
SERIES: tuple[tuple[str, str, str, float], ...] = (
    ("mean_pressure", "Mean caseload pressure", "weighted caseload / capacity (%)", 100.0),
    ("share_over_capacity", "Staff above 100% of capacity", "% of staff at work", 100.0),
    ("continuity_breaks", "Continuity breaks per time step", "changes of responsible manager", 1.0),
    ("compliance_rate_of_offered", "Contacts kept per time step", "% of contacts required", 100.0),
)
CSV_COLUMNS = ["scenario", "kpi", "mean", "ci_low", "ci_high", "diff_from_first", "diff_ci_low", "diff_ci_high",
               "n"]
OUTPUTS = ("compare.csv", "compare.html", "manifest.json")


@dataclass(frozen=True)
class Entry:
    """One scenario of a comparison: its label (unique), file and validated scenario."""

    label: str
    path: str
    scenario: Scenario


@dataclass
class Comparison:
    """What a comparison produced."""

    entries: list[Entry]
    seeds: list[int]
    master_seed: int
    overrides: list[str]
    runs: pd.DataFrame     # one row per scenario x replication: scenario, replication, seed, every KPI
    series: pd.DataFrame   # replication means per scenario and time: scenario, time, SERIES columns
    table: pd.DataFrame    # compare.csv
    cohort: str | None = None   # the cohort file every scenario was run with (--cohort), if any

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.entries]

    @property
    def cost_per_offence_avoided(self) -> dict[str, float | None]:
        """Each scenario after the first: :func:`cost_per_offence_avoided` of its runs against the first's."""
        return cost_per_offence_avoided(self.runs, self.labels)


def load_entries(paths: Sequence[str | Path], overrides: Sequence[str] = (), allow_large: bool = True,
                 cohort: str | Path | None = None) -> list[Entry]:
    """Validate every scenario file (with ``overrides``) before anything runs; ``allow_large=False`` refuses
    those over the size ceilings too (:func:`casesim.scenario.schema.load_scenario`). With ``cohort``, each file
    is a jurisdiction profile read with the cohort's people (:func:`casesim.studies.jurisdictions.load_profile`),
    and the cohort file itself, if among ``paths`` (``scenarios/jurisdictions/*.yaml``), is left out.

    Raises:
        ScenarioError: with the problems of every file at once (``file:line: field: problem``); a problem the
            cohort's sections have is given once, not once per profile.
    """
    problems: list[Problem] = []
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    if cohort is not None:
        paths = [p for p in paths if not same_file(p, cohort)]
    if len(paths) < 2:
        problems.append(Problem("compare", None, "scenarios", f"need at least two scenario files (got {len(paths)})"))
    for path in paths:
        try:
            if cohort is None:
                scenario, _ = load_scenario(path, overrides, allow_large=allow_large)
            else:
                scenario, _ = load_profile(path, cohort, overrides, allow_large=allow_large)
        except ScenarioError as err:
            if cohort is None and is_cohort_file(path):
                problems.append(Problem(str(path), 1, "cohort", "a cohort file, not a scenario: pass it with "
                                        "--cohort (see docs/jurisdictions.md)"))
                continue
            problems.extend(p for p in err.problems if p not in problems)
            continue
        seen[scenario.name] = seen.get(scenario.name, 0) + 1
        label = scenario.name if seen[scenario.name] == 1 else f"{scenario.name} ({seen[scenario.name]})"
        entries.append(Entry(label, str(path), scenario))
    if problems:
        raise ScenarioError(problems)
    return entries


def default_out(labels: Sequence[str]) -> Path:
    """``results/compare-<names>``, each name reduced to letters, digits, ``_``, ``.`` and ``-``."""
    names = [re.sub(r"[^A-Za-z0-9_.-]+", "_", lab).strip("._") or "scenario" for lab in labels]
    return Path("results") / ("compare-" + "-".join(names))[:120]


def run_task(task: tuple[int, int, Scenario, int]) -> dict[str, Any]:
    """Run one scenario for one replication (in this process or a worker): its KPIs and time series."""
    from casesim.outputs.results import run

    index, replication, scenario, seed = task
    result = run(scenario, seed=seed)
    cols = ["time", *(c for c, *_ in SERIES if c in result.timeseries.columns)]
    return {"index": index, "replication": replication, "seed": seed, "kpis": kpi_columns(result.summary),
            "series": result.timeseries[cols].to_dict(orient="list")}


def _execute(tasks: list[tuple[int, int, Scenario, int]], workers: int,
             on_done: Callable[[], None] | None) -> list[dict[str, Any]]:
    """Run the tasks in this process (``workers == 1``) or a process pool; results in task order."""
    out: list[dict[str, Any]] = []
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            out.append(run_task(task))
            if on_done is not None:
                on_done()
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    got: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_task_collector_off, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            got[futures[future]] = future.result()
            if on_done is not None:
                on_done()
    return [got[i] for i in range(len(tasks))]


def _run_task_collector_off(task: Any) -> dict[str, Any]:
    """:func:`run_task` in a worker process casesim started, with the collector off while it runs
    (:mod:`casesim.outputs.collector`); on again between tasks, so each finished simulation is freed."""
    from casesim.outputs.collector import collector_off

    with collector_off():
        return run_task(task)


def compare_table(runs: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Per KPI and scenario: mean and 95% t interval over the replications, and the mean paired
    difference from the first scenario (same replication, same seed) with its 95% t interval.

    ``runs`` has one row per scenario and replication (columns ``scenario``, ``replication``, ``seed``
    and one per KPI). A replication where either value is missing (an undefined ratio) is left out of
    that difference; ``n`` counts the replications behind the mean.
    """
    kpis = [c for c in runs.columns if c not in ("scenario", "replication", "seed")]
    wide = {lab: runs[runs["scenario"] == lab].set_index("replication").sort_index() for lab in labels}
    first = wide[labels[0]]
    rows = []
    for kpi in kpis:
        for lab in labels:
            values = wide[lab][kpi]
            ci = mean_ci(values.tolist())
            diffs = (values - first[kpi].reindex(values.index)).dropna()
            dci = mean_ci(diffs.tolist())
            rows.append({"scenario": lab, "kpi": kpi, "mean": ci.mean, "ci_low": ci.ci_low, "ci_high": ci.ci_high,
                         "diff_from_first": dci.mean, "diff_ci_low": dci.ci_low, "diff_ci_high": dci.ci_high,
                         "n": ci.n})
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    return table.astype({"n": "int64"})


#: The KPIs behind "cost per further offence avoided": total cost and further offences in the window.
COST, OFFENCES = "cost_total", "further_offences"


def cost_per_offence_avoided(runs: pd.DataFrame, labels: Sequence[str]) -> dict[str, float | None]:
    """For each scenario after the first, the cost of each further offence it avoids against the first: the
    mean paired difference in ``cost_total`` (it minus the first, same replication and seed) divided by the mean
    paired number of further offences avoided (``further_offences`` of the first minus its own), as the
    comparison's differences are paired. None when it avoids no offence (that mean is 0 or below), or the runs
    lack either KPI. A negative figure is a scenario that costs less and avoids offences.

    Args:
        runs: One row per scenario and replication (``scenario``, ``replication`` and the KPI columns).
        labels: The scenarios, the first being the one the others are set against.
    """
    out: dict[str, float | None] = {}
    if not labels or COST not in runs.columns or OFFENCES not in runs.columns:
        return dict.fromkeys(labels[1:])
    wide = {lab: runs[runs["scenario"] == lab].set_index("replication")[[COST, OFFENCES]] for lab in labels}
    first = wide[labels[0]]
    for lab in labels[1:]:
        diff = (wide[lab] - first.reindex(wide[lab].index)).dropna()
        avoided = -float(diff[OFFENCES].mean()) if len(diff) else math.nan
        out[lab] = float(diff[COST].mean()) / avoided if avoided > 0 else None
    return out


def compare(paths: Sequence[str | Path] | Sequence[Entry], replications: int = DEFAULT_REPLICATIONS,
            seed: int | None = None, overrides: Sequence[str] = (), workers: int = 1,
            on_done: Callable[[], None] | None = None, cohort: str | Path | None = None) -> Comparison:
    """Run every scenario ``replications`` times with common random numbers and compare them.

    Args:
        paths: Scenario files (validated first: bad input raises :class:`ScenarioError` before any
            run), or entries from :func:`load_entries`.
        replications: Runs per scenario (at least 2 for an interval).
        seed: Master seed (default: the first scenario's seed); replication ``r`` runs with
            ``replication_seed(seed, r)`` in every scenario.
        overrides: ``dotted.key=value`` strings applied to every scenario.
        workers: Processes; 1 runs everything in this process.
        on_done: Called after each finished run (a progress bar).
        cohort: A cohort file: every scenario is a jurisdiction profile run with its people
            (:func:`casesim.studies.jurisdictions.load_profile`); with ``paths`` given as entries, the file
            they were loaded with (:func:`load_entries`), recorded in the manifest.
    """
    if replications < 2:
        raise ValueError(f"--replications: need at least 2 for a confidence interval (got {replications})")
    if workers < 1:
        raise ValueError(f"--workers: must be at least 1 (got {workers})")
    if seed is not None and seed < 0:
        raise ValueError(f"--seed: must be a non-negative integer (got {seed})")
    entries = list(paths) if paths and all(isinstance(p, Entry) for p in paths) else load_entries(
        [str(p) for p in paths], overrides, cohort=cohort)  # type: ignore[arg-type]
    master = entries[0].scenario.seed if seed is None else int(seed)
    seeds = [replication_seed(master, r) for r in range(replications)]
    tasks = [(i, r, e.scenario, seeds[r]) for r in range(replications) for i, e in enumerate(entries)]
    done = _execute(tasks, workers, on_done)
    labels = [e.label for e in entries]
    runs = pd.DataFrame([{"scenario": labels[d["index"]], "replication": d["replication"], "seed": d["seed"],
                          **d["kpis"]} for d in done])
    for column in runs.columns:  # a count that never happened in a run is 0 there (as in sweeps)
        if "." in column and column.split(".", 1)[0] in COUNT_DICTS:
            runs[column] = runs[column].fillna(0.0)
    frames = [pd.DataFrame(d["series"]).assign(scenario=labels[d["index"]], replication=d["replication"])
              for d in done]
    series = (pd.concat(frames, ignore_index=True).groupby(["scenario", "time"], sort=False)
              .mean(numeric_only=True).drop(columns="replication").reset_index())
    return Comparison(entries=entries, seeds=seeds, master_seed=master, overrides=list(overrides), runs=runs,
                      series=series, table=compare_table(runs, labels),
                      cohort=None if cohort is None else str(cohort))


# --------------------------------------------------------------------------- outputs


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def kpi_figure(table: pd.DataFrame, kpi: str, title: str, unit: str, scale: float,
               labels: Sequence[str]) -> dict[str, Any]:
    """Two panels: each scenario's mean with its 95% interval, and its difference from the first."""
    rows = table[table["kpi"] == kpi].set_index("scenario").reindex(labels)
    m, lo, hi = (rows[c].to_numpy(dtype=float) * scale for c in ("mean", "ci_low", "ci_high"))
    d, dlo, dhi = (rows[c].to_numpy(dtype=float)[1:] * scale for c in ("diff_from_first", "diff_ci_low",
                                                                        "diff_ci_high"))

    def bars(y: Any, low: Any, high: Any, x: list[str], axis: str, colour: str, name: str) -> dict[str, Any]:
        return {"type": "bar", "x": x, "y": [_num(v) for v in y], "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                "marker": {"color": colour}, "name": name, "showlegend": False,
                "error_y": {"type": "data", "symmetric": False, "visible": True,
                            "array": [_num(h - v) for v, h in zip(y, high, strict=True)],
                            "arrayminus": [_num(v - lo_) for v, lo_ in zip(y, low, strict=True)]},
                "customdata": [[_num(a), _num(b)] for a, b in zip(low, high, strict=True)],
                "hovertemplate": "%{x}: %{y:.4g} (95% CI %{customdata[0]:.4g} to %{customdata[1]:.4g})"
                                 "<extra>" + escape(name) + "</extra>"}

    data = [bars(m, lo, hi, list(labels), "", "#636efa", "mean"),
            bars(d, dlo, dhi, list(labels[1:]), "2", "#00cc96", f"difference from {labels[0]}")]
    layout = {"title": {"text": title}, "height": 340, "margin": {"t": 60, "b": 40},
              "xaxis": {"domain": [0, 0.46], "anchor": "y"},
              "yaxis": {"anchor": "x", "title": {"text": unit}},
              "xaxis2": {"domain": [0.54, 1], "anchor": "y2"},
              "yaxis2": {"anchor": "x2", "title": {"text": f"difference from {labels[0]}"}, "zeroline": True},
              "annotations": [{"text": "mean over replications (95% CI)", "xref": "paper", "yref": "paper",
                               "x": 0.23, "y": 1.0, "showarrow": False, "yanchor": "bottom"},
                              {"text": f"paired difference from {labels[0]} (95% CI)", "xref": "paper",
                               "yref": "paper", "x": 0.77, "y": 1.0, "showarrow": False, "yanchor": "bottom"}]}
    return {"data": data, "layout": layout}


def series_figure(series: pd.DataFrame, column: str, title: str, unit: str, scale: float,
                  labels: Sequence[str], warmup: float) -> dict[str, Any]:
    """One time series per scenario (mean over the replications at each time step)."""
    data = []
    for lab in labels:
        sub = series[series["scenario"] == lab]
        data.append({"type": "scatter", "mode": "lines", "name": lab, "x": [float(t) for t in sub["time"]],
                     "y": [_num(v * scale) for v in sub[column].to_numpy(dtype=float)],
                     "hovertemplate": "day %{x:,.0f}: %{y:.3g}<extra>" + escape(lab) + "</extra>"})
    shapes = ([{"type": "rect", "xref": "x", "yref": "paper", "x0": 0, "x1": warmup, "y0": 0, "y1": 1,
                "fillcolor": "rgba(128,128,128,0.12)", "line": {"width": 0}, "layer": "below"}] if warmup > 0 else [])
    return {"data": data, "layout": {"title": {"text": f"{title} (mean over replications; shaded: warm-up)"},
                                     "height": 380, "xaxis": {"title": {"text": "day of the run"}},
                                     "yaxis": {"title": {"text": unit}}, "shapes": shapes,
                                     "legend": {"orientation": "h", "y": -0.2}, "margin": {"t": 60, "b": 40}}}


def page_html(comp: Comparison) -> str:
    """``compare.html``: headline KPI bars with intervals and overlaid time series (plotly.js inline)."""
    import plotly.io as pio

    from casesim.version import __version__

    labels = comp.labels
    cur = str(comp.entries[0].scenario.costs.currency)
    warmup = float(comp.entries[0].scenario.time.warmup_days)
    present = set(comp.table["kpi"])
    rows = "".join(f"<li><b>{escape(e.label)}</b>: <code>{escape(e.path)}</code></li>" for e in comp.entries)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Comparison: {escape(' vs '.join(labels))}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222}"
        "p.note{color:#555;max-width:60em}</style></head><body>",
        f"<h1>Comparison: {escape(' vs '.join(labels))}</h1><ul>{rows}</ul>",
        f"<p class='note'>{len(comp.seeds)} replications per scenario with common random numbers: replication r "
        f"uses the same seed in every scenario (derived from master seed {comp.master_seed}). Bars are means over "
        "the replications with 95% Student t intervals; the right-hand panels show the paired differences from "
        f"<b>{escape(labels[0])}</b> (same seed, same people) with their 95% intervals: an interval that excludes "
        f"0 is a difference the replications support. casesim {escape(__version__)}; every KPI, including the "
        "breakdowns by cause, stage and category, is in <code>compare.csv</code>.</p>",
    ]
    parts.append(choices_html(comp))
    parts.append("<h2>Headline figures</h2>")
    figs: list[tuple[str, dict[str, Any]]] = []
    for kpi in headline():
        if kpi.key in present:
            unit = kpi.unit.format(cur=cur)
            figs.append((f"kpi-{kpi.key}", kpi_figure(comp.table, kpi.key, f"{kpi.label} ({unit})", unit,
                                                      100.0 if kpi.percent else 1.0, labels)))
    n_kpi = len(figs)
    for column, title, unit, scale in SERIES:
        if column in comp.series.columns:
            figs.append((f"series-{column}", series_figure(comp.series, column, title, unit, scale, labels, warmup)))
    for i, (div_id, fig) in enumerate(figs):
        if i == n_kpi:
            parts.append("<h2>Over time</h2>")
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=i == 0, validate=False, div_id=div_id,
                                 default_width="100%", config={"displaylogo": False}))
    per_offence = comp.cost_per_offence_avoided
    if OFFENCES in comp.runs.columns:   # (n/a for a scenario that avoids no offence: the reader sees it does not)
        cells = "".join(f"<tr><td>{escape(lab)}</td><td class='num'>{escape(format_value(v, '{:,.0f}'))}</td></tr>"
                        for lab, v in per_offence.items())
        parts.append(f"<h2>Cost per further offence avoided</h2><p class='note'>Against <b>{escape(labels[0])}</b>: "
                     "the mean paired difference in total cost divided by the mean paired number of further "
                     f"offences avoided ({escape(cur)} per offence avoided; n/a where no offence is avoided; "
                     f"negative: cheaper and fewer offences).</p><table><thead><tr><th>scenario</th><th>{escape(cur)} "
                     f"per offence avoided</th></tr></thead><tbody>{cells}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def side_by_side(comp: Comparison) -> list[tuple[str, list[str]]]:
    """The side-by-side view: for each scenario, the mean over the replications of each KPI of
    :data:`casesim.studies.jurisdictions.SIDE_BY_SIDE` present in the runs, formatted as the catalogue says;
    returned as (label, cells) with the KPIs in :func:`side_by_side_kpis` order."""
    by = comp.table.set_index(["kpi", "scenario"])
    kpis = side_by_side_kpis(comp)
    return [(lab, [k.shown(_num(by.loc[(k.key, lab), "mean"])) for k in kpis]) for lab in comp.labels]


def side_by_side_kpis(comp: Comparison) -> list[Kpi]:
    """The catalogue's entries of the side-by-side KPIs the comparison has."""
    present = set(comp.table["kpi"])
    return [BY_KEY[key] for key in SIDE_BY_SIDE if key in present]


def choices_html(comp: Comparison) -> str:
    """The map of choices: one row per scenario, its choices read from the scenario
    (:func:`casesim.studies.jurisdictions.choices`) beside its side-by-side results (:func:`side_by_side`)."""
    cur = str(comp.entries[0].scenario.costs.currency)
    kpis = side_by_side_kpis(comp)
    heads = [h for _, h in CHOICE_COLUMNS] + [f"{k.label} ({k.unit.format(cur=cur)})" for k in kpis]
    results = dict(side_by_side(comp))
    body = "".join(
        "<tr><th>" + escape(e.label) + "</th>"
        + "".join(f"<td class='choice'>{escape(c)}</td>" for c in choice_cells(choices(e.scenario)))
        + "".join(f"<td class='num'>{escape(c)}</td>" for c in results[e.label]) + "</tr>"
        for e in comp.entries)
    cohort = (f" Every scenario was run with the people of the cohort <code>{escape(comp.cohort)}</code>: the same "
              "arrivals, initial population, attributes and luck, so the differences are the organisations'."
              if comp.cohort else "")
    return ("<h2>Choices and results</h2><p class='note'>Each scenario's case-management choices, read from the "
            "scenario (approach and segmentation per setting, the rule of modes, enforcement, the review interval, "
            "and the staffing ratio: cases at the start per member of staff in post at the start), beside the mean "
            f"of its results over the replications.{cohort}</p>"
            "<style>table.choices{border-collapse:collapse;font-size:0.85em}table.choices td,table.choices th"
            "{border:1px solid #ccc;padding:0.3em;vertical-align:top}td.num{text-align:right;white-space:nowrap}"
            "td.choice{min-width:8em}</style><div style='overflow-x:auto'><table class='choices'><thead><tr>"
            "<th>scenario</th>" + "".join(f"<th>{escape(h)}</th>" for h in heads)
            + f"</tr></thead><tbody>{body}</tbody></table></div>")


def _file_digest(path: str | Path) -> str:
    import hashlib

    from casesim.scenario.yamlio import read_input

    return hashlib.sha256(read_input(path)).hexdigest()


def write_outputs(comp: Comparison, out: str | Path, expect: tuple[str, ...] | None = None) -> Path:
    """Write ``compare.csv``, ``compare.html`` and ``manifest.json`` to ``out`` atomically; ``expect``: what
    ``out`` held when it was checked (see :class:`casesim.outputs.results.OutputDirectory`)."""
    from casesim.outputs.results import write_directory
    from casesim.version import __version__

    def fill(tmp: Path) -> None:
        comp.table.to_csv(tmp / "compare.csv", index=False)
        (tmp / "compare.html").write_text(page_html(comp), encoding="utf-8")
        manifest = {"kind": "compare", "casesim_version": __version__, "master_seed": comp.master_seed,
                    "seeds": comp.seeds,
                    "replications": len(comp.seeds), "overrides": comp.overrides,
                    "scenarios": [{"label": e.label, "file": e.path, "scenario_sha256": e.scenario.digest()}
                                  for e in comp.entries], "outputs": list(OUTPUTS)}
        if comp.cohort is not None:
            manifest["cohort"] = {"file": comp.cohort, "sha256": _file_digest(comp.cohort)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    return write_directory(out, fill, expect)


def format_diff(value: Any, pattern: str) -> str:
    """A difference with its sign; shares in percentage points."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if pattern == "%":
        return f"{100.0 * value:+.1f} pp"
    return pattern.replace("{:", "{:+", 1).format(value)


#: Layout of the console table: the gap between columns, and the indent of the scenario rows under a KPI.
GAP, INDENT = 2, 2
#: Narrowest the scenario column is folded to before each scenario's figures go below its name instead.
MIN_NAME_WIDTH = 10


@dataclass(frozen=True)
class ConsoleTable:
    """The comparison for a terminal or a pipe, laid out to the width it is printed at (``rich`` renderable).

    A wide grid (one column per scenario and per difference) cannot hold large figures with their intervals
    in 80 columns, so each KPI is a block instead: its label and unit on a line of their own (wrapped at
    spaces when longer than the width, so never cut), then one row per scenario with four columns: the
    scenario, its mean, its paired difference from the first scenario and that difference's 95% interval.
    The width needed does not grow with the number of scenarios. Figures are never wrapped or cut: when they
    and the longest scenario name do not fit, the names are folded onto a second line (no narrower than
    :data:`MIN_NAME_WIDTH`); on a console too narrow even for that, each scenario's figures go on the lines
    below its name.
    """

    title: str
    header: tuple[str, str, str, str]
    blocks: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...]   # (heading, rows)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        width = options.max_width
        rows = [r for _, block in self.blocks for r in block]
        num = [max([len(self.header[i]), *(len(r[i]) for r in rows)]) for i in (1, 2, 3)]
        figures = sum(num) + GAP * len(num)
        needed, room = max([len(self.header[0]), *(INDENT + len(r[0]) for r in rows)]), width - figures
        beside = needed <= room or room >= MIN_NAME_WIDTH   # the figures beside the names (folded if need be)
        name = min(needed, room)
        yield Text(self.title, style="bold")
        if beside:
            yield Text(self._line(self.header, name, num), style="bold")
            yield Text("─" * (name + figures))
        for heading, block in self.blocks:
            yield Text(heading, style="bold")
            for row in block:
                if beside:
                    yield from (Text(line) for line in self._row(row, name, num))
                else:   # too narrow for the figures beside the names: below them, one to a line
                    yield Text(" " * INDENT + row[0], overflow="fold")
                    yield from (Text(f"{' ' * 2 * INDENT}{h}: {v}", overflow="fold")
                                for h, v in zip(self.header[1:], row[1:], strict=True) if v)

    @staticmethod
    def _line(cells: Sequence[str], name: int, num: Sequence[int]) -> str:
        return (cells[0].ljust(name) + "".join(" " * GAP + c.rjust(w) for c, w in zip(cells[1:], num, strict=True))
                ).rstrip()

    def _row(self, row: Sequence[str], name: int, num: Sequence[int]) -> list[str]:
        parts = _fold(row[0], name - INDENT)
        first = self._line([" " * INDENT + parts[0], *row[1:]], name, num)
        return [first, *(" " * INDENT + p for p in parts[1:])]


def _fold(text: str, room: int) -> list[str]:
    """``text`` in pieces of at most ``room`` characters, each broken after a space, ``_``, ``-`` or ``.`` in
    its second half if there is one (``small_strict_`` / ``enforcement`` rather than ``small_strict_enforcem``)."""
    parts, room = [], max(1, room)
    while len(text) > room:
        cut = max(text.rfind(c, room // 2, room) for c in " _-.") + 1 or room
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text]


def console_table(comp: Comparison) -> ConsoleTable:
    """The headline KPIs for the console (see :class:`ConsoleTable`): for each KPI and scenario, the mean over
    the replications, and beside every scenario after the first its paired difference from the first with the
    95% interval. Figures are formatted as in the HTML report (shares in %, their differences in percentage
    points). Then the cost per further offence avoided of each scenario after the first
    (:func:`cost_per_offence_avoided`; n/a where it avoids none) in the difference column."""
    labels = comp.labels
    cur = str(comp.entries[0].scenario.costs.currency)
    by = comp.table.set_index(["kpi", "scenario"])
    blocks = []
    for kpi in headline():
        key, pattern = kpi.key, kpi.fmt
        if (key, labels[0]) not in by.index:
            continue
        rows = []
        for i, lab in enumerate(labels):
            row = by.loc[(key, lab)]
            mean = kpi.shown(_num(row["mean"]))
            if i == 0:
                rows.append((lab, mean, "", ""))
                continue
            low, high = (format_diff(_num(row[c]), pattern) for c in ("diff_ci_low", "diff_ci_high"))
            rows.append((lab, mean, format_diff(_num(row["diff_from_first"]), pattern), f"[{low}, {high}]"))
        blocks.append((f"{kpi.label} ({kpi.unit.format(cur=cur)})", tuple(rows)))
    per_offence = comp.cost_per_offence_avoided
    if OFFENCES in comp.runs.columns:   # (n/a for a scenario that avoids no offence)
        rows = [(labels[0], "", "", "")]
        rows += [(lab, "", format_value(v, "{:,.0f}"), "") for lab, v in per_offence.items()]
        blocks.append((f"Cost per further offence avoided ({cur} per offence avoided)", tuple(rows)))
    title = (f"{' vs '.join(labels)}: mean of {len(comp.seeds)} replications (common random numbers); "
             f"difference from {labels[0]} on the same seeds, with its 95% CI")
    return ConsoleTable(title, ("Scenario", "Mean", "Difference", "95% CI"), tuple(blocks))


def side_by_side_console(comp: Comparison) -> Any:
    """The map of choices for a terminal (``rich`` renderables): each scenario's choices, one to a line under its
    name, then the side-by-side results (:func:`side_by_side`) with the scenarios as columns and one KPI a row
    (the KPI catalogue's short label, or its label and unit)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cur = str(comp.entries[0].scenario.costs.currency)
    lines: list[Any] = [Text("Choices (read from each scenario)", style="bold")]
    for e in comp.entries:
        lines.append(Text(e.label, style="bold"))
        lines += [Text(f"  {head}: {cell}", overflow="fold")
                  for (_, head), cell in zip(CHOICE_COLUMNS, choice_cells(choices(e.scenario)), strict=True)]
    results = Table(title="Side by side (means over the replications)", title_justify="left", title_style="bold")
    results.add_column("", overflow="fold")
    for lab in comp.labels:
        results.add_column(lab, justify="right", overflow="fold")
    cells = dict(side_by_side(comp))
    for j, k in enumerate(side_by_side_kpis(comp)):
        head = k.short or f"{k.label} ({k.unit.format(cur=cur)})"   # (the short label carries its unit)
        results.add_row(head, *(cells[lab][j] for lab in comp.labels))
    return Group(*lines, results)
