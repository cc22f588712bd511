"""Parameter sweeps on Dask: every run of an experiment, resumable, with per-variant summaries.

The driver (:func:`run_sweep`) validates the experiment and every variant, then sends each
pending run to a Dask cluster as plain data (scenario path, overrides, seed, output path). The
worker runs it and writes one Parquet part, atomically, under ``parts/``; a part that exists is
a finished run, so running the same sweep again skips it. The driver keeps only run ids and
statuses, writes ``manifest.json`` as it goes, and at the end reads the one-row parts to write
``summary.parquet``, ``summary.csv`` and ``sweep.html``.

Part columns: ``run_id``, ``variant``, ``replication``, ``seed``, one column per factor (its
dotted scenario key), then every numeric KPI of ``Result.summary`` as a float. Dict KPIs are
flattened to ``<kpi>.<key>`` (``continuity_breaks_by_cause.staff_turnover``,
``compliance_by_stage.CUSTODY``, ``cost_by_category.contacts`` ...). Left out: the texts
``scenario`` and ``currency``, the list ``unpriced_contact_modes``, and the run settings
``seed`` (a column already), ``warmup_days``, ``horizon_days`` and ``window_days``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from casesim.metrics.kpis import NOT_KPIS
from casesim.outputs.temporaries import atomic_write
from casesim.scenario.yamlio import Problem, ScenarioError
from casesim.studies.experiment import Design, RunSpec, build_design, load_experiment, variant_table

ID_COLUMNS = ("run_id", "variant", "replication", "seed")
#: Dict KPIs of counts or sums, listing only the keys that occurred: a missing key means 0 (a cause that
#: never happened). In the other dict KPIs (rates by stage, mode or setting) a missing key is undefined.
COUNT_DICTS = ("continuity_breaks_by_cause", "workload_hours_by_activity", "cost_by_category", "cost_by_setting")
PARTS = "parts"
MANIFEST = "manifest.json"
OUTPUTS = ("summary.parquet", "summary.csv", "sweep.html")
CONFIDENCE = 0.95
PENDING, DONE, FAILED = "pending", "done", "failed"


# --------------------------------------------------------------------------- files


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n"))


def part_path(out: Path, run_id: str) -> Path:
    """Where a run's one-row Parquet part lives."""
    return out / PARTS / f"{run_id}.parquet"


def part_problem(path: Path, run_id: str) -> str | None:
    """What is wrong with the part at ``path`` (None if it is one readable row of run ``run_id``). Parts are
    written atomically, but a disk that filled or a copy cut short can still leave a damaged one."""
    import pyarrow.parquet as pq

    try:
        ids = pq.read_table(path, columns=["run_id"]).column("run_id").to_pylist()
    except Exception as exc:   # (any failure to read it is the part's problem, reported)
        text = str(exc).strip().splitlines()
        return f"unreadable part ({text[0] if text else type(exc).__name__})"
    if ids != [run_id]:
        return f"holds {len(ids)} rows of runs {sorted(set(map(str, ids)))[:3]}, not the one row of run {run_id}"
    return None


# --------------------------------------------------------------------------- the worker side


def kpi_columns(summary: dict[str, Any]) -> dict[str, float]:
    """The numeric KPIs of a run's summary as floats, dict KPIs flattened to ``<kpi>.<key>``."""
    out: dict[str, float] = {}

    def add(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                add(f"{name}.{key}", item)
        elif value is None:
            out[name] = math.nan
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
        # strings and lists are not KPIs

    for key, value in summary.items():
        if key not in NOT_KPIS:
            add(key, value)
    return out


def run_part(task: dict[str, Any]) -> dict[str, Any]:
    """Run one simulation and write its part (on a Dask worker). Idempotent: an existing part is kept.

    ``task`` holds only plain data: ``id``, ``variant``, ``replication``, ``seed``, ``factors``,
    ``scenario`` (path), ``overrides`` and ``out`` (the part's path).
    """
    out = Path(task["out"])
    if out.exists():
        return {"id": task["id"], "skipped": True, "seconds": 0.0}
    from casesim.outputs.collector import collector_off
    from casesim.outputs.results import run

    started = time.perf_counter()
    with collector_off():   # a task of casesim's own on its worker; the collector is restored after
        result = run(task["scenario"], seed=task["seed"], overrides=task["overrides"])
    row: dict[str, Any] = {"run_id": task["id"], "variant": task["variant"],
                           "replication": int(task["replication"]), "seed": int(task["seed"])}
    row.update(task["factors"])
    row.update(kpi_columns(result.summary))
    frame = pd.DataFrame([row])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: frame.to_parquet(tmp, index=False))
    return {"id": task["id"], "skipped": False, "seconds": round(time.perf_counter() - started, 3)}


# --------------------------------------------------------------------------- statistics


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (``p`` in (0, 1)), by bisection on the exact CDF to double precision."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError("need 0 < p < 1 and df > 0")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if mid in (low, high):
            break
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Interval:
    """Mean, standard deviation and a t confidence interval of a sample."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean, sample standard deviation and the t-based confidence interval of the non-missing values."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, math.nan)
    sd = statistics.stdev(xs)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half)


def read_parts(paths: Iterable[Path]) -> pd.DataFrame:
    """The one-row parts as one frame (columns in first-seen order; a KPI a run lacks is NaN)."""
    frames = [pd.read_parquet(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    runs = pd.concat(frames, ignore_index=True, sort=False)
    for column in runs.columns:
        if column.split(".", 1)[0] in COUNT_DICTS and "." in column:
            runs[column] = runs[column].fillna(0.0)
    return runs.sort_values("run_id", kind="stable").reset_index(drop=True)


def summarize_runs(runs: pd.DataFrame, factor_columns: list[str]) -> pd.DataFrame:
    """Per variant and KPI: n, mean, sd and the 95% t interval, in long format (one row per pair)."""
    kpis = [c for c in runs.columns if c not in ID_COLUMNS and c not in factor_columns]
    rows: list[dict[str, Any]] = []
    for variant, group in runs.groupby("variant", sort=True):
        first = group.iloc[0]
        for kpi in kpis:
            ci = mean_ci(group[kpi].tolist())
            rows.append({"variant": variant, **{f: first[f] for f in factor_columns}, "kpi": kpi, "n": ci.n,
                         "mean": ci.mean, "sd": ci.sd, "ci_low": ci.ci_low, "ci_high": ci.ci_high})
    columns = ["variant", *factor_columns, "kpi", "n", "mean", "sd", "ci_low", "ci_high"]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"n": "int64", "mean": "float64", "sd": "float64", "ci_low": "float64",
                         "ci_high": "float64"})


# --------------------------------------------------------------------------- the page


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kpi_figure(table: pd.DataFrame, kpi: str, factors: list[str], sampled: bool, title: str) -> dict[str, Any]:
    """One KPI against each factor (one panel each) as a plotly figure dict: variant means with 95%
    interval bands for numeric factors of a factorial design, error bars otherwise."""
    from plotly.colors import qualitative

    rows = table[table["kpi"] == kpi]
    palette = qualitative.Plotly
    gap = 0.06
    width = (1.0 - gap * (len(factors) - 1)) / len(factors)
    layout: dict[str, Any] = {"title": {"text": title}, "height": 380, "margin": {"t": 80, "b": 40},
                              "annotations": [], "legend": {"orientation": "h", "y": -0.2}}
    data: list[dict[str, Any]] = []
    shown: set[str] = set()
    for col, factor in enumerate(factors):
        suffix = "" if col == 0 else str(col + 1)
        left = col * (width + gap)
        layout[f"xaxis{suffix}"] = {"domain": [left, left + width], "anchor": f"y{suffix}", "title": {"text": factor}}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", **({"matches": "y", "showticklabels": False}
                                                                if col else {"title": {"text": kpi}})}
        others = [f for f in factors if f != factor]
        numeric = all(_is_number(v) for v in rows[factor])
        grouped = bool(not sampled and others and rows.groupby(others, sort=True).ngroups <= len(palette))
        groups = list(rows.groupby(others, sort=True)) if grouped else [((), rows)]
        for g, (key, sub) in enumerate(groups):
            key = key if isinstance(key, tuple) else (key,)
            name = ", ".join(f"{f}={v}" for f, v in zip(others, key, strict=True)) if grouped else "mean"
            color = palette[g % len(palette)]
            sub = sub.sort_values(factor) if numeric else sub
            x = sub[factor].tolist()
            axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
            error = None
            if numeric and not sampled:
                if sub["ci_low"].notna().any():
                    data.append({"type": "scatter", **axes, "x": x + x[::-1],
                                 "y": sub["ci_high"].tolist() + sub["ci_low"].tolist()[::-1], "fill": "toself",
                                 "fillcolor": color, "opacity": 0.2, "line": {"width": 0}, "hoverinfo": "skip",
                                 "showlegend": False, "legendgroup": name})
            else:
                error = {"type": "data", "array": (sub["ci_high"] - sub["mean"]).tolist(),
                         "arrayminus": (sub["mean"] - sub["ci_low"]).tolist(), "visible": True}
            data.append({"type": "scatter", **axes, "x": x, "y": sub["mean"].tolist(),
                         "mode": "markers" if sampled else "lines+markers", "name": name, "legendgroup": name,
                         "showlegend": name not in shown and grouped, "line": {"color": color},
                         "marker": {"color": color}, **({"error_y": error} if error else {}),
                         "customdata": sub[["variant", "n", "ci_low", "ci_high"]].values.tolist(),
                         "hovertemplate": "%{customdata[0]}: %{y:.4g} (95% CI %{customdata[2]:.4g} to "
                                          "%{customdata[3]:.4g}, n=%{customdata[1]})<extra></extra>"})
            shown.add(name)
    return {"data": data, "layout": layout}


def write_page(path: Path, table: pd.DataFrame, design: Design, counts: dict[str, int]) -> None:
    """``sweep.html``: every top-level KPI against every factor, plotly.js embedded (works offline)."""
    from html import escape

    import plotly.io as pio

    from casesim.metrics.kpis import console

    labels = {kpi.key: kpi.short for kpi in console()}   # the console summary's labels
    factors = design.factor_columns
    kpis = [k for k in dict.fromkeys(table["kpi"]) if "." not in k]
    exp = design.loaded.experiment
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{escape(design.loaded.name)}: sweep</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1400px}</style></head><body>",
        f"<h1>{escape(design.loaded.name)}</h1><p>{escape(exp.description)}</p>",
        f"<p>Base scenario <code>{escape(exp.scenario)}</code>; {len(design.variants)} variants &times; "
        f"{exp.replications} replications; runs done {counts[DONE]}, failed {counts[FAILED]}, "
        f"pending {counts[PENDING]}. Lines are variant means; bands (or bars) are 95% confidence intervals "
        "(Student t over the replications, which share seeds across variants). Every KPI, including the "
        "by-cause, by-stage and by-category ones, is in <code>summary.csv</code>.</p>",
    ]
    for i, kpi in enumerate(kpis):
        title = f"{labels[kpi]} ({kpi})" if kpi in labels else kpi
        fig = kpi_figure(table, kpi, factors, exp.sample is not None, title)
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=i == 0, validate=False,
                                 default_width="100%"))
    parts.append("</body></html>")
    text = "\n".join(parts)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------- the driver


@dataclass
class SweepOutcome:
    """What a sweep did. ``redone``: the parts of an earlier sweep that could not be read, by path, with
    their problem (they were run again)."""

    out: Path
    total: int
    done: int
    failed: int
    skipped: int
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    redone: dict[str, str] = field(default_factory=dict)


class ProgressHooks:
    """Callbacks the driver reports to (the CLI draws a rich progress bar with them)."""

    def start(self, total: int, done: int) -> None: ...

    def update(self, done: int, failed: int, remaining: int) -> None: ...


def _input_error(where: Path | str, message: str) -> ScenarioError:
    return ScenarioError([Problem(str(where), None, "", message)])


def _tasks(design: Design, out: Path, runs: Iterable[RunSpec]) -> list[dict[str, Any]]:
    """Each run as the plain data a worker needs (absolute paths, override strings, the seed)."""
    scenario = str(design.loaded.scenario_path)
    base = list(design.loaded.experiment.set)
    out = out.resolve()   # workers have their own working directories
    out_tasks = []
    for r in runs:
        v = design.variant(r.variant)
        out_tasks.append({"id": r.id, "variant": r.variant, "replication": r.replication, "seed": r.seed,
                          "factors": dict(v.factors), "scenario": v.scenario or scenario,
                          "overrides": [*base, *v.overrides], "out": str(part_path(out, r.id))})
    return out_tasks


class Manifest:
    """``manifest.json``: the experiment, its SHA-256, the casesim version and every run's status."""

    def __init__(self, path: Path, design: Design) -> None:
        from casesim.version import __version__

        loaded = design.loaded
        self.path = path
        self.status = {r.id: PENDING for r in design.runs}
        self.errors: dict[str, str] = {}
        self.head = {
            "experiment": {"file": str(loaded.path.resolve()), "name": loaded.name,
                           "definition": loaded.experiment.model_dump(mode="json")},
            "experiment_sha256": loaded.sha256,
            "scenario": {"file": str(loaded.scenario_path), "sha256": design.scenario_sha256},
            "kind": "sweep", "casesim_version": __version__,
            "created": _now(),
        }
        self.design = design
        self._written = 0.0

    def counts(self) -> dict[str, int]:
        out = {PENDING: 0, DONE: 0, FAILED: 0}
        for status in self.status.values():
            out[status] += 1
        return out

    def set(self, run_id: str, status: str, error: str | None = None) -> None:
        self.status[run_id] = status
        if error is None:
            self.errors.pop(run_id, None)
        else:
            self.errors[run_id] = error

    def write(self, force: bool = True, state: str = "running") -> None:
        """Write atomically (at most once a second unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._written < 1.0:
            return
        self._written = now
        runs = [{"id": r.id, "variant": r.variant, "replication": r.replication, "seed": r.seed,
                 "status": self.status[r.id], **({"error": self.errors[r.id]} if r.id in self.errors else {})}
                for r in self.design.runs]
        write_json(self.path, {**self.head, "updated": _now(), "state": state, "counts": self.counts(),
                               "variants": variant_table(self.design), "runs": runs})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sweep_files_only(out: Path) -> bool:
    """Whether ``out`` holds nothing but what a sweep writes there before its first manifest (its parts and
    temporary files): a sweep killed that early, which ``--fresh`` may clear. A summary, a page or a manifest
    without casesim's manifest beside it is somebody else's file of the same name, never a sweep's."""
    def temporary(p: Path) -> bool:
        return p.is_file() and p.name.startswith(".") and ".tmp-" in p.name

    parts = out / PARTS
    return (all(p.name == PARTS or temporary(p) for p in out.iterdir())
            and (not parts.exists() or (parts.is_dir() and all(
                (p.is_file() and p.suffix == ".parquet") or temporary(p) for p in parts.iterdir()))))


def _check_out_is_a_sweep(out: Path, fresh: bool) -> None:
    """Refuse an ``out`` that holds something else than a sweep: a folder that is not a casesim result,
    always (it is left as it is); another kind of casesim result unless ``fresh``, which then removes it."""
    from casesim.outputs.guard import survey

    if out.exists() and not out.is_dir():
        raise _input_error(out, "--out: exists and is not a directory")
    found = survey(out)
    if found.state in ("missing", "empty") or found.kind == "sweep" or (
            found.state == "foreign" and _sweep_files_only(out)):
        return
    if found.state == "foreign":
        raise _input_error(out, f"--out: exists and is not a casesim result (no {MANIFEST} written by casesim); "
                           "it was left as it is: give another --out, a new or an empty folder")
    if not fresh:
        raise _input_error(out, f"--out: holds a casesim {found.kind} result, not a sweep; give --fresh to "
                           "replace it, or another --out to keep it")
    shutil.rmtree(out)


def prepare_out(out: Path, design: Design, fresh: bool) -> None:
    """Create ``out``; refuse a changed experiment unless ``fresh`` (which clears the old sweep's files), and
    anything that is not a sweep's results (see :func:`_check_out_is_a_sweep`)."""
    manifest = out / MANIFEST
    try:
        _check_out_is_a_sweep(out, fresh)
        _prepare_out(out, design, fresh, manifest)
    except OSError as exc:
        raise _input_error(exc.filename or out, f"--out: cannot write: {exc.strerror or exc}") from None


def _prepare_out(out: Path, design: Design, fresh: bool, manifest: Path) -> None:
    if fresh:
        shutil.rmtree(out / PARTS, ignore_errors=True)
        for name in (MANIFEST, *OUTPUTS):
            (out / name).unlink(missing_ok=True)
    elif manifest.exists():
        try:
            old = json.loads(manifest.read_text())
            old_sha, old_scenario = old["experiment_sha256"], old["scenario"]["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _input_error(manifest, f"cannot read the manifest of the earlier sweep ({exc}); "
                               "give --fresh to start over") from None
        if old_sha != design.loaded.sha256:
            raise _input_error(design.loaded.path, f"the experiment file changed since the sweep in {out} started "
                               f"(SHA-256 {old_sha[:12]}... then, {design.loaded.sha256[:12]}... now); "
                               "give --fresh to discard its results and start over, or choose another --out")
        if old_scenario != design.scenario_sha256:
            raise _input_error(design.loaded.scenario_path, f"the base scenario changed since the sweep in {out} "
                               "started; give --fresh to discard its results and start over, or choose "
                               "another --out")
    elif (out / PARTS).is_dir() and any((out / PARTS).glob("*.parquet")):
        raise _input_error(out, "holds run results but no manifest.json; give --fresh to discard them, "
                           "or choose another --out")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)


def _remove_stale_temporaries(out: Path) -> None:
    """Delete temporary part files left by runs killed while writing (call only when no run is writing)."""
    for stale in (out / PARTS).glob(".*.tmp-*"):
        stale.unlink(missing_ok=True)


def _task_key(out: Path, design: Design, run_id: str) -> str:
    token = hashlib.sha256(f"{out.resolve()}\0{design.loaded.sha256}".encode()).hexdigest()[:12]
    return f"casesim-run-{token}-{run_id}"


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "failed (no error reported)"
    if isinstance(exc, ScenarioError):
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def default_out(design: Design) -> Path:
    """``results/sweeps/<experiment name>``."""
    return Path("results") / "sweeps" / design.loaded.name


def run_sweep(experiment: str | Path, out: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, fresh: bool = False, progress: ProgressHooks | None = None) -> SweepOutcome:
    """Run (or resume) every run of an experiment on Dask and summarize.

    Args:
        experiment: The experiment YAML file.
        out: Output directory (default ``results/sweeps/<name>``).
        workers: Workers of the local cluster (default: the number of cores).
        scheduler: Address of an existing Dask scheduler (``tcp://host:port``) instead of a local cluster.
        fresh: Discard an earlier sweep's results in ``out`` and start over.
        progress: Receives the counts as runs finish.

    Raises:
        ScenarioError: invalid experiment or variant, changed experiment without ``fresh``, unusable ``out``.
    """
    started = time.perf_counter()
    design = build_design(load_experiment(experiment))
    if out is None:
        check_folder_name(design.loaded.name, design.loaded.lines)
    out_dir = Path(out) if out is not None else default_out(design)
    prepare_out(out_dir, design, fresh)
    manifest = Manifest(out_dir / MANIFEST, design)
    skipped, redone = run_pending(design, out_dir, manifest, workers, scheduler, progress)
    counts = manifest.counts()
    manifest.write(state="complete" if counts[DONE] == len(design.runs) else "incomplete")
    summarize_sweep(out_dir, design, manifest)
    return SweepOutcome(out=out_dir, total=len(design.runs), done=counts[DONE], failed=counts[FAILED],
                        skipped=skipped, errors=dict(manifest.errors), seconds=time.perf_counter() - started,
                        redone=redone)


def check_folder_name(name: str, lines: Any) -> None:
    """Raise :class:`ScenarioError` at the ``name`` line if ``name`` cannot be the default output folder's name
    ("", ".", ".." or a path)."""
    if name in ("", ".", "..") or any(sep in name for sep in "/\\\0"):
        file, line = lines.locate(("name",))
        raise ScenarioError([Problem(file, line, "name", f"{name!r} cannot be used as the output folder name; "
                                     "choose another name or give --out")])


def run_pending(design: Design, out_dir: Path, manifest: Manifest, workers: int | None, scheduler: str | None,
                progress: ProgressHooks | None) -> tuple[int, dict[str, str]]:
    """Run on Dask every run of ``design`` without a readable part in ``out_dir`` (a damaged part is removed and
    run again); return how many were finished before and the damaged parts' problems by path (``casesim sweep``,
    ``sensitivity`` and ``robustness``)."""
    pending: list[RunSpec] = []
    redone: dict[str, str] = {}
    for r in design.runs:
        path = part_path(out_dir, r.id)
        problem = part_problem(path, r.id) if path.exists() else None
        if problem is not None:
            redone[str(path)] = problem
            path.unlink(missing_ok=True)
        if path.exists():
            manifest.set(r.id, DONE)
        else:
            pending.append(r)
    skipped = len(design.runs) - len(pending)
    manifest.write()
    progress = progress or ProgressHooks()
    progress.start(len(design.runs), skipped)
    if pending:
        try:
            _execute(design, out_dir, pending, manifest, workers, scheduler, progress)
        except KeyboardInterrupt:
            manifest.write(state="interrupted")
            raise
    return skipped, redone


def _execute(design: Design, out: Path, pending: list[RunSpec], manifest: Manifest, workers: int | None,
             scheduler: str | None, progress: ProgressHooks) -> None:
    """Submit the pending runs and record each as it finishes; only ids and statuses are kept."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise _input_error("--scheduler", f"cannot connect to {scheduler}: {exc}") from None
        else:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
        with client:
            run_of: dict[str, str] = {}     # task key -> run id: the only per-run state the driver keeps
            submitted = []
            for task in _tasks(design, out, pending):
                future = client.submit(run_part, task, key=_task_key(out, design, task["id"]), retries=1, pure=False)
                run_of[future.key] = task["id"]
                submitted.append(future)
            queue = as_completed(submitted)
            del submitted
            for future in queue:
                run_id = run_of.pop(future.key)
                if future.status == "finished" and not part_path(out, run_id).exists():
                    manifest.set(run_id, FAILED, f"a worker wrote {part_path(out, run_id)} but the driver cannot see "
                                 "it: the driver and the workers need a shared file system")
                elif future.status == "finished":
                    manifest.set(run_id, DONE)
                else:
                    exc = future.exception() if future.status == "error" else None
                    manifest.set(run_id, FAILED, _error_text(exc) if exc is not None else future.status)
                future.release()
                del future
                counts = manifest.counts()
                progress.update(counts[DONE], counts[FAILED], counts[PENDING])
                manifest.write(force=False)
        _remove_stale_temporaries(out)   # every run has ended: whatever is left, a killed worker left
    finally:
        if cluster is not None:
            cluster.close()


def summarize_sweep(out: Path, design: Design, manifest: Manifest) -> pd.DataFrame:
    """Read the finished runs' parts and write ``summary.parquet``, ``summary.csv`` and ``sweep.html``."""
    done = [part_path(out, r.id) for r in design.runs if manifest.status[r.id] == DONE]
    runs = read_parts(done)
    table = summarize_runs(runs, design.factor_columns) if len(runs) else pd.DataFrame(
        columns=["variant", *design.factor_columns, "kpi", "n", "mean", "sd", "ci_low", "ci_high"])
    atomic_write(out / "summary.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    atomic_write(out / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    write_page(out / "sweep.html", table, design, manifest.counts())
    return table
