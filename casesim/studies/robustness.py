"""Robustness of a comparison (``casesim robustness``): in what share of the plausible worlds does A beat B?

A robustness study is a YAML file read with the same strict loader as scenarios, sweeps and sensitivity
experiments::

    name: robustness_patch_vs_task
    a: ../scenarios/baseline.yaml               # scenario A, relative to this file
    b: ../scenarios/individual_task_stage.yaml  # scenario B
    set: ["time.horizon_days=730"]              # applied to both, at every sample, before the parameters
    parameters:                                 # the uncertain assumptions: dotted keys, each a range
      compliance.intercept: {low: 2.8, high: 3.6}
    kpis:                                       # catalogue keys -> the better direction
      further_offences_per_case_year: lower
    sample: {method: lhs, n: 32, quick: 8}      # Latin hypercube (or sobol: a scrambled Sobol sequence)
    replications: 3
    seed: 20261207

The parameters use the sensitivity experiment's syntax and checks (:mod:`casesim.studies.sensitivity`).
``scipy.stats.qmc`` draws ``n`` points in the ranges (seeded from the master seed); at each point both scenarios
run with the point's values as ``--set`` overrides and with the same replication seeds (common random numbers):
replication ``k`` has one seed at every point and in both arms. Each run is a run of the sweep machinery
(:mod:`casesim.studies.sweep`): sent to Dask as plain data, one Parquet part under ``parts/``, skipped when the
same command runs again.

At each point and for each KPI, the paired differences ``A - B`` over the replications give a mean and a 95% t
interval. The point is a **win** for A when the mean difference is on the KPI's better side (below 0 when lower
is better); a mean difference of exactly 0 (a tie) is not a win. It is **clearly better** when the whole
interval is on the better side, **clearly worse** when it is on the worse side, and **not distinguishable**
otherwise (always with one replication: no interval). A KPI undefined at a point in either arm leaves the point
out of that KPI's shares. The share of wins over the points has a 95% Wilson score interval (binomial, the
points taken as independent draws from the ranges). Same file, same seed: identical outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from casesim.metrics.kpis import BY_KEY
from casesim.outputs.temporaries import atomic_write
from casesim.scenario.params import SEED_LIMIT, SEED_MAX, P, Strict
from casesim.scenario.yamlio import (
    LineMap,
    Problem,
    ScenarioError,
)
from casesim.studies.experiment import (
    RUN_CEILING,
    Design,
    Range,
    RunSpec,
    Variant,
    override_text,
    range_type,
    read_study,
    replication_seed,
    validate_variants,
)
from casesim.studies.sensitivity import (
    POINT_LIMIT,
    _seed,
    fmt,
    kpi_problem,
    parameter_checks,
    point_values,
    prepare_out,
    set_checks,
)
from casesim.studies.sweep import (
    DONE,
    FAILED,
    MANIFEST,
    PARTS,
    Manifest,
    ProgressHooks,
    check_folder_name,
    mean_ci,
    part_path,
    read_parts,
    run_pending,
    write_json,
)

ROBUSTNESS_INPUT = "robustness study input"
KIND = "robustness"
OUTPUTS = ("robustness.json", "robustness.csv", "samples.csv", "robustness.html")
CONFIDENCE = 0.95
#: The standard normal quantile of a two-sided 95% interval (Wilson score interval).
Z95 = 1.959963984540054
#: Spawn key of the sample under the master seed, disjoint from replications (0), sweep designs (1) and the
#: sensitivity's sample and bootstrap (2, 3).
SEED_KEY_SAMPLE = 4
ARMS = ("a", "b")
Better = Literal["lower", "higher"]


# --------------------------------------------------------------------------- the file


class Sampling(Strict):
    """How the points are drawn from the ranges."""

    method: Literal["lhs", "sobol"] = P("lhs", "method", "lhs: Latin hypercube (each of n equal strata of every "
                                        "range hit once); sobol: a scrambled Sobol sequence (n a power of 2)")
    n: int = P(32, "points", "points of the full study; each runs both scenarios x replications", ge=2,
               le=100_000, strict=True, limit="a hundred thousand: more points than a study can run")
    quick: int = P(8, "points", "points of --quick", ge=2, le=100_000, strict=True,
                   limit="a hundred thousand: more points than a study can run")

    def size(self, quick: bool) -> int:
        return self.quick if quick else self.n


class Robustness(Strict):
    """Two scenarios, the uncertain parameters' ranges, the KPIs with their better direction, the sample."""

    name: str = P("", "label", "default: the file's name without .yaml")
    description: str = P("", "text", ROBUSTNESS_INPUT)
    a: str = P(..., "path", "scenario A, relative to this file")
    b: str = P(..., "path", "scenario B, relative to this file")
    set: list[str] = P(list, "dotted.key=value", "overrides applied to both scenarios at every point before its "
                       "parameters (e.g. a shorter horizon)")
    parameters: dict[str, Range] = P(..., "dotted scenario key -> range", "the uncertain assumptions, each "
                                     "uniform over [low, high], applied to both scenarios", min_length=1)
    kpis: dict[str, Better | None] = P(..., "KPI key -> lower | higher", "keys of the KPI catalogue (docs/kpis.md), "
                                       "each with the side that is better (empty: the catalogue's, if it "
                                       "declares one)", min_length=1)
    sample: Sampling = P(Sampling, "section", "method (lhs or sobol), n, quick")
    replications: int = P(..., "runs per point and scenario", "paired by seed; 2 or more give the intervals",
                          ge=1, le=10_000, strict=True, limit="ten thousand: more replications than a study can run")
    seed: int = P(..., "integer", "master seed: the replication seeds and the sample derive from it",
                  ge=0, le=SEED_MAX, strict=True, limit=SEED_LIMIT)


def catalogue_better(kpi: str) -> str | None:
    """The better direction the KPI catalogue declares for ``kpi`` (``lower``/``higher``), if it declares one."""
    entry = BY_KEY.get(kpi.split(".", 1)[0])
    value = getattr(entry, "better", None)
    return value if value in ("lower", "higher") else None


def robustness_checks(exp: Robustness) -> list[tuple[tuple[Any, ...], str]]:
    """Checks across fields, as (path, message) pairs."""
    out = parameter_checks(exp.parameters)
    for key, better in exp.kpis.items():
        problem = kpi_problem(key)
        declared = catalogue_better(key) if problem is None else None
        if problem is not None:
            out.append((("kpis", key), problem))
        elif better is None and declared is None:
            out.append((("kpis", key), "the KPI catalogue declares no better direction for it: write "
                        f"'{key}: lower' or '{key}: higher'"))
        elif better is not None and declared is not None and better != declared:
            out.append((("kpis", key), f"'{better}' contradicts the catalogue, where {declared} is better"))
    s = exp.sample
    if s.method == "sobol":
        for name in ("n", "quick"):
            value = getattr(s, name)
            if value & (value - 1):
                out.append((("sample", name), f"must be a power of 2 for a Sobol sequence (got {value}; "
                            f"{1 << value.bit_length() - 1} or {1 << value.bit_length()})"))
    return out + set_checks(exp.set)


@dataclass(frozen=True)
class LoadedRobustness:
    """A validated robustness study with where it came from. ``arm`` picks the scenario ``scenario_path`` names
    (``a`` or ``b``): the sweep's validation of variants reads one base scenario at a time."""

    experiment: Robustness
    path: Path
    lines: LineMap
    sha256: str
    arm: str = "a"

    @property
    def name(self) -> str:
        return self.experiment.name or self.path.stem

    def path_of(self, arm: str) -> Path:
        return (self.path.parent / getattr(self.experiment, arm)).resolve()

    @property
    def scenario_path(self) -> Path:
        return self.path_of(self.arm)


def load_robustness(path: str | Path) -> LoadedRobustness:
    """Read and validate a robustness study; raise ScenarioError with ``file:line: path: problem``."""
    exp, lines, sha = read_study(path, Robustness, robustness_checks, ARMS)
    return LoadedRobustness(exp, Path(path), lines, sha)


# --------------------------------------------------------------------------- the design


def sample(exp: Robustness, quick: bool = False) -> np.ndarray:
    """``n`` points in the ranges (one row per point, parameters in file order), seeded from the master seed."""
    import warnings

    from scipy.stats import qmc

    d = len(exp.parameters)
    rng = np.random.default_rng(_seed(exp.seed, SEED_KEY_SAMPLE))
    n = exp.sample.size(quick)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # (sizes are checked when the file is read)
        if exp.sample.method == "sobol":
            u = qmc.Sobol(d, scramble=True, seed=rng).random(n)
        else:
            u = qmc.LatinHypercube(d, seed=rng).random(n)
    lows = np.array([float(r.low) for r in exp.parameters.values()])
    highs = np.array([float(r.high) for r in exp.parameters.values()])
    return lows + u * (highs - lows)


@dataclass
class RobustnessDesign:
    """The sweep design (each distinct point twice: ``<point>-a`` and ``<point>-b``), the sample, and which
    point each sample row runs as."""

    design: Design
    X: np.ndarray
    row_point: list[str]
    points: list[Variant]
    quick: bool
    scenario_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def loaded(self) -> LoadedRobustness:
        return self.design.loaded   # type: ignore[return-value]


def build(loaded: LoadedRobustness, quick: bool = False, validate: bool = True,
          allow_large: bool = True) -> RobustnessDesign:
    """Sample the points, merge equal ones, give replication ``k`` the same seed at every point and in both arms,
    and (with ``validate``) check both scenarios at every point, located at the line that wrote the value."""
    exp = loaded.experiment
    n = exp.sample.size(quick)
    count = n * exp.replications * 2
    if count > (POINT_LIMIT if allow_large else RUN_CEILING):
        where = ("sample", "quick" if quick else "n")
        file, line = loaded.lines.locate(where)
        ceiling = POINT_LIMIT if allow_large else RUN_CEILING
        raise ScenarioError([Problem(file, line, ".".join(where), (
            f"the study would be {count:,} runs ({n:,} points x 2 scenarios x {exp.replications} replications; "
            f"ceiling {ceiling:,})" + ("" if allow_large else "; pass --allow-large to run it anyway")))])
    X = sample(exp, quick)
    keys = list(exp.parameters)
    index: dict[tuple[str, ...], str] = {}
    points: list[Variant] = []
    row_point: list[str] = []
    width = max(3, len(str(max(len(X) - 1, 0))))
    for row in X:
        values = point_values(exp, row)   # type: ignore[arg-type]   (reads .parameters only)
        overrides = tuple(override_text(k, v) for k, v in zip(keys, values, strict=True))
        pid = index.get(overrides)
        if pid is None:
            pid = index[overrides] = f"p{len(points):0{width}d}"
            points.append(Variant(id=pid, factors=dict(zip(keys, values, strict=True)), overrides=overrides,
                                  origins=tuple(("parameters", k) for k in keys)))
        row_point.append(pid)
    digests: dict[str, str] = {}
    if validate:
        for arm in ARMS:
            view = dataclasses.replace(loaded, arm=arm)
            digests[arm] = validate_variants(Design(view, points, [], factor_columns=keys),   # type: ignore[arg-type]
                                             allow_large=allow_large)
    variants = [dataclasses.replace(p, id=f"{p.id}-{arm}", factors={**p.factors, "arm": arm},
                                    scenario=str(loaded.path_of(arm)))
                for p in points for arm in ARMS]
    rw = max(2, len(str(max(exp.replications - 1, 0))))
    seeds = [replication_seed(exp.seed, k) for k in range(exp.replications)]
    runs = [RunSpec(id=f"{v.id}-r{k:0{rw}d}", variant=v.id, replication=k, seed=seeds[k])
            for v in variants for k in range(exp.replications)]
    design = Design(loaded, variants, runs, factor_columns=[*keys, "arm"])   # type: ignore[arg-type]
    if validate:
        design.scenario_sha256 = hashlib.sha256(f"{digests['a']}\0{digests['b']}".encode()).hexdigest()
    return RobustnessDesign(design, X, row_point, points, quick, digests)


# --------------------------------------------------------------------------- analysis


def wilson(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``wins / n`` (Wilson 1927); (nan, nan) when n is 0."""
    if n <= 0:
        return math.nan, math.nan
    p = wins / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    low = 0.0 if wins == 0 else max(0.0, centre - half)   # (exact at the edges, not 0.9999999999999999)
    high = 1.0 if wins == n else min(1.0, centre + half)
    return low, high


def verdict(better: str, mean: float, low: float, high: float) -> str:
    """``clearly better``, ``clearly worse`` or ``not distinguishable`` for A against B at one point."""
    sign = -1.0 if better == "lower" else 1.0
    if math.isfinite(low) and math.isfinite(high):
        if min(sign * low, sign * high) > 0:
            return "clearly better"
        if max(sign * low, sign * high) < 0:
            return "clearly worse"
    return "not distinguishable"


def _rank(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy()


def influence(X: np.ndarray, y: np.ndarray) -> list[float]:
    """|Spearman rank correlation| of each parameter with the difference over the sample (0 when either is
    constant)."""
    out = []
    ry = _rank(y)
    for j in range(X.shape[1]):
        rx = _rank(X[:, j])
        if np.ptp(rx) == 0 or np.ptp(ry) == 0:
            out.append(0.0)
        else:
            out.append(abs(float(np.corrcoef(rx, ry)[0, 1])))
    return out


def differences(rd: RobustnessDesign, runs: pd.DataFrame, kpi: str) -> dict[str, dict[str, float]]:
    """Per point: the mean of the paired differences A - B over the replications and their 95% t interval."""
    out: dict[str, dict[str, float]] = {}
    for p in rd.points:
        values = {}
        for arm in ARMS:
            g = runs[runs["variant"] == f"{p.id}-{arm}"].set_index("replication")
            values[arm] = g[kpi] if kpi in g else pd.Series(dtype=float)
        d = (values["a"] - values["b"]).sort_index()
        ci = mean_ci(d.tolist()) if not d.isna().any() else mean_ci([])
        out[p.id] = {"mean": ci.mean, "ci_low": ci.ci_low, "ci_high": ci.ci_high,
                     "a": float(values["a"].mean()) if len(values["a"]) else math.nan,
                     "b": float(values["b"].mean()) if len(values["b"]) else math.nan}
    return out


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def analyse(rd: RobustnessDesign, runs: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """The result (``robustness.json``) and the per-sample table (``samples.csv``)."""
    exp = rd.loaded.experiment
    keys = list(exp.parameters)
    X = np.array([[float(rd.points[int(pid[1:])].factors[k]) for k in keys] for pid in rd.row_point]) \
        if rd.row_point else np.zeros((0, len(keys)))
    table = pd.DataFrame({"sample": range(len(rd.row_point)), "point": rd.row_point})
    for j, k in enumerate(keys):
        table[k] = X[:, j]
    kpis_out = []
    for kpi, given in exp.kpis.items():
        better = given or catalogue_better(kpi) or "lower"
        entry = BY_KEY[kpi.split(".", 1)[0]]
        per_point = differences(rd, runs, kpi)
        rows = [per_point[pid] for pid in rd.row_point]
        mean = np.array([r["mean"] for r in rows], dtype=float)
        defined = np.isfinite(mean)
        verdicts = [verdict(better, r["mean"], r["ci_low"], r["ci_high"]) if math.isfinite(r["mean"]) else
                    "undefined" for r in rows]
        sign = -1.0 if better == "lower" else 1.0
        n = int(defined.sum())
        wins = int(sum(1 for m in mean[defined] if sign * m > 0))
        ties = int(sum(1 for m in mean[defined] if m == 0))
        low, high = wilson(wins, n)
        tally = {label: sum(v == label for v in verdicts) for label in COLOURS}
        share = {label: (c / n if n else math.nan) for label, c in tally.items()}
        weights = influence(X[defined], mean[defined]) if n > 1 else [0.0] * len(keys)
        top = int(np.argmax(weights)) if keys else 0
        kpis_out.append({
            "kpi": kpi, "label": entry.label, "unit": entry.unit, "kind": entry.kind, "percent": entry.percent,
            "better": better, "better_from": "file" if given else "catalogue",
            "samples": len(rows), "defined": n, "wins": wins, "ties": ties,
            "share_a_better": wins / n if n else math.nan, "share_ci_low": low, "share_ci_high": high,
            "share_clearly_better": share["clearly better"], "share_clearly_worse": share["clearly worse"],
            "share_not_distinguishable": share["not distinguishable"],
            "mean_difference": float(np.mean(mean[defined])) if n else math.nan,
            "min_difference": float(np.min(mean[defined])) if n else math.nan,
            "max_difference": float(np.max(mean[defined])) if n else math.nan,
            "mean_a": float(np.nanmean([r["a"] for r in rows])) if n else math.nan,
            "mean_b": float(np.nanmean([r["b"] for r in rows])) if n else math.nan,
            "most_influential": keys[top] if keys else None, "influence": dict(zip(keys, weights, strict=True)),
        })
        table[f"{kpi}.difference"] = mean
        table[f"{kpi}.ci_low"] = [r["ci_low"] for r in rows]
        table[f"{kpi}.ci_high"] = [r["ci_high"] for r in rows]
        table[f"{kpi}.verdict"] = verdicts
    result = _clean({
        "study": rd.loaded.name, "description": exp.description, "a": exp.a, "b": exp.b, "set": list(exp.set),
        "sample": {**exp.sample.model_dump(mode="json"), "size": exp.sample.size(rd.quick)}, "quick": rd.quick,
        "points": len(rd.points), "replications": exp.replications, "runs": len(rd.design.runs),
        "seed": exp.seed, "confidence": CONFIDENCE, "share_interval": "Wilson score",
        "win_rule": "the mean paired difference A - B over the replications is on the better side (a tie is not "
                    "a win); clearly better/worse: the 95% paired t interval is wholly on that side",
        "parameters": [{"key": k, "low": r.low, "high": r.high, "type": range_type(r)}
                       for k, r in exp.parameters.items()],
        "kpis": kpis_out,
    })
    return result, table


def summary_table(result: dict[str, Any]) -> pd.DataFrame:
    """``robustness.csv``: one row per KPI."""
    cols = ["kpi", "better", "samples", "defined", "wins", "ties", "share_a_better", "share_ci_low",
            "share_ci_high", "share_clearly_better", "share_clearly_worse", "share_not_distinguishable",
            "mean_difference", "min_difference", "max_difference", "mean_a", "mean_b", "most_influential"]
    return pd.DataFrame([{c: k[c] for c in cols} for k in result["kpis"]], columns=cols)


# --------------------------------------------------------------------------- console and page


def pct(x: Any) -> str:
    return "n/a" if x is None else f"{100.0 * x:.0f}%"


def console_table(result: dict[str, Any]) -> Any:
    """One rich table: per KPI the share of points where A beats B (95% Wilson interval) and the clear shares."""
    from rich.table import Table

    t = Table(title=f"A = {result['a']}\nB = {result['b']}\n{result['sample']['size']} points x "
              f"{result['replications']} paired replications", title_justify="left",
              caption="win: mean paired difference on the better side; clearly: its 95% interval is")
    for h, justify in (("KPI", "left"), ("better", "left"), ("A beats B (95% CI)", "right"),
                       ("clearly better", "right"), ("clearly worse", "right"), ("not disting.", "right"),
                       ("mean A - B", "right")):
        t.add_column(h, justify=justify)   # type: ignore[arg-type]
    for k in result["kpis"]:
        t.add_row(k["kpi"], k["better"],
                  f"{pct(k['share_a_better'])} ({pct(k['share_ci_low'])}-{pct(k['share_ci_high'])})",
                  pct(k["share_clearly_better"]), pct(k["share_clearly_worse"]),
                  pct(k["share_not_distinguishable"]), fmt(k["mean_difference"]))
    return t


COLOURS = {"clearly better": "#1a9850", "clearly worse": "#d73027", "not distinguishable": "#7f7f7f",
           "undefined": "#cccccc"}


def kpi_figure(k: dict[str, Any], table: pd.DataFrame) -> dict[str, Any]:
    """The difference A - B at each sample point against the most influential parameter, with its interval."""
    kpi, x_key = k["kpi"], k["most_influential"]
    data = []
    for label, colour in COLOURS.items():
        rows = table[table[f"{kpi}.verdict"] == label]
        if not len(rows):
            continue
        y = rows[f"{kpi}.difference"].to_numpy(dtype=float)
        lo, hi = rows[f"{kpi}.ci_low"].to_numpy(dtype=float), rows[f"{kpi}.ci_high"].to_numpy(dtype=float)
        data.append({"type": "scatter", "mode": "markers", "name": label, "x": rows[x_key].tolist(),
                     "y": [None if not math.isfinite(v) else v for v in y], "marker": {"color": colour, "size": 8},
                     "error_y": {"type": "data", "symmetric": False, "visible": True,
                                 "array": [None if not math.isfinite(v) else v for v in hi - y],
                                 "arrayminus": [None if not math.isfinite(v) else v for v in y - lo]},
                     "text": rows["point"].tolist(),
                     "hovertemplate": "%{text}: " + x_key + " %{x:.4g}, A - B %{y:.4g}<extra></extra>"})
    layout = {"title": {"text": f"{k['label']} ({kpi}): A - B, {k['better']} is better"}, "height": 420,
              "xaxis": {"title": {"text": f"{x_key} (most influential on the difference)"}},
              "yaxis": {"title": {"text": "mean paired difference A - B (95% interval)"}, "zeroline": True,
                        "zerolinewidth": 2},
              "legend": {"orientation": "h", "y": -0.25}, "margin": {"t": 60}}
    return {"data": data, "layout": layout}


def page_html(result: dict[str, Any], table: pd.DataFrame) -> str:
    """``robustness.html``: the summary table and one chart per KPI, in the run report's style."""
    from html import escape

    import plotly.io as pio

    from casesim.outputs.report import STYLE

    name = escape(result["study"])
    s = result["sample"]
    rows = "".join(
        f"<tr><td>{escape(k['label'])} (<code>{escape(k['kpi'])}</code>)</td><td>{k['better']}</td>"
        f"<td class='num'>{pct(k['share_a_better'])} ({pct(k['share_ci_low'])} to {pct(k['share_ci_high'])})</td>"
        f"<td class='num'>{pct(k['share_clearly_better'])}</td><td class='num'>{pct(k['share_clearly_worse'])}</td>"
        f"<td class='num'>{pct(k['share_not_distinguishable'])}</td><td class='num'>{fmt(k['mean_difference'])}"
        "</td></tr>" for k in result["kpis"])
    params = "".join(f"<tr><td><code>{escape(p['key'])}</code></td><td class='num'>{p['low']}</td>"
                     f"<td class='num'>{p['high']}</td><td>{p['type']}</td></tr>" for p in result["parameters"])
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{name}: robustness</title><style>{STYLE}</style></head><body>",
        f"<h1>Robustness: {name}</h1>",
        f"<p class='note'>{escape(result['description'])}</p>" if result["description"] else "",
        f"<p class='note'>A = <code>{escape(result['a'])}</code>, B = <code>{escape(result['b'])}</code>"
        + "".join(f" <code>--set {escape(x)}</code>" for x in result["set"])
        + f"; {s['size']} points ({'Latin hypercube' if s['method'] == 'lhs' else 'scrambled Sobol sequence'}"
        f"{', --quick' if result['quick'] else ''}) x 2 scenarios x {result['replications']} replications = "
        f"{result['runs']} runs, master seed {result['seed']}. Both scenarios run with the point's values and the "
        "same replication seeds (common random numbers).</p>",
        "<p class='note'><b>A beats B</b> at a point when the mean of the paired differences A - B over the "
        "replications is on the KPI's better side (a tie is not a win); the share of points has a 95% Wilson "
        "score interval. <b>Clearly better / worse</b>: the 95% t interval of the paired differences lies wholly "
        "on that side; otherwise <b>not distinguishable</b> (always so with one replication). The shares say how "
        "much of the ranges below favours A, not how likely each world is: every point of the ranges counts "
        "the same.</p>",
        "<table class='kpi'><thead><tr><th>KPI</th><th>Better</th><th>A beats B (95% CI)</th><th>Clearly better"
        "</th><th>Clearly worse</th><th>Not distinguishable</th><th>Mean A - B</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
        "<table class='kpi'><thead><tr><th>Parameter</th><th>Low</th><th>High</th><th>Type</th></tr></thead>"
        f"<tbody>{params}</tbody></table>",
    ]
    for i, k in enumerate(result["kpis"]):
        parts.append(f"<h2>{escape(k['label'])} (<code>{escape(k['kpi'])}</code>)</h2>")
        parts.append(f"<p class='note'>Mean A {fmt(k['mean_a'])}, mean B {fmt(k['mean_b'])}, difference "
                     f"{fmt(k['min_difference'])} to {fmt(k['max_difference'])} over the points; unit: "
                     f"{escape(k['unit'].format(cur=''))}; {k['defined']} of {k['samples']} points defined.</p>")
        parts.append(pio.to_html(kpi_figure(k, table), full_html=False, include_plotlyjs=i == 0, validate=False,
                                 default_width="100%", config={"displaylogo": False}))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


# --------------------------------------------------------------------------- the driver


@dataclass
class RobustnessOutcome:
    """What a study did; ``result`` is the content of ``robustness.json`` (None if runs failed)."""

    out: Path
    total: int
    done: int
    failed: int
    skipped: int
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    redone: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] | None = None


def default_out(loaded: LoadedRobustness, quick: bool) -> Path:
    """``results/robustness/<name>`` (``<name>-quick`` for --quick)."""
    return Path("results") / "robustness" / (loaded.name + ("-quick" if quick else ""))


class StudyManifest(Manifest):
    """The sweep's manifest, of kind ``robustness``, with both scenarios, the sample and the files written."""

    def __init__(self, path: Path, rd: RobustnessDesign) -> None:
        super().__init__(path, rd.design)
        loaded = rd.loaded
        self.head.update({"kind": KIND, "quick": rd.quick, "sample": loaded.experiment.sample.model_dump(mode="json"),
                          "sample_size": loaded.experiment.sample.size(rd.quick), "sample_rows": len(rd.X),
                          "scenarios": {arm: {"file": str(loaded.path_of(arm)), "sha256": rd.scenario_sha256.get(arm)}
                                        for arm in ARMS},
                          "outputs": [PARTS, *OUTPUTS]})


def run_robustness(study: str | Path, out: str | Path | None = None, workers: int | None = None,
                   scheduler: str | None = None, fresh: bool = False, quick: bool = False,
                   allow_large: bool = True, progress: ProgressHooks | None = None) -> RobustnessOutcome:
    """Run (or resume) both scenarios at every point on Dask, then write the shares and the page.

    Raises:
        ScenarioError: invalid study or point, changed study without ``fresh``, unusable ``out``.
    """
    started = time.perf_counter()
    loaded = load_robustness(study)
    if out is None:
        check_folder_name(loaded.name, loaded.lines)
    rd = build(loaded, quick=quick, allow_large=allow_large)
    out_dir = Path(out) if out is not None else default_out(loaded, quick)
    prepare_out(out_dir, rd, fresh, kind=KIND, outputs=OUTPUTS)   # type: ignore[arg-type]
    manifest = StudyManifest(out_dir / MANIFEST, rd)
    skipped, redone = run_pending(rd.design, out_dir, manifest, workers, scheduler, progress)
    counts = manifest.counts()
    complete = counts[DONE] == len(rd.design.runs)
    result = None
    if complete:
        result = write_outputs(out_dir, rd)
    else:   # the shares need every point: nothing partial is written
        for name_ in OUTPUTS:
            (out_dir / name_).unlink(missing_ok=True)
    manifest.write(state="complete" if complete else "incomplete")
    return RobustnessOutcome(out=out_dir, total=len(rd.design.runs), done=counts[DONE], failed=counts[FAILED],
                             skipped=skipped, errors=dict(manifest.errors), seconds=time.perf_counter() - started,
                             redone=redone, result=result)


def write_outputs(out: Path, rd: RobustnessDesign) -> dict[str, Any]:
    """Read the parts and write ``robustness.json``, ``robustness.csv``, ``samples.csv`` and the page."""
    runs = read_parts(part_path(out, r.id) for r in rd.design.runs)
    result, table = analyse(rd, runs)
    write_json(out / "robustness.json", result)
    summary = summary_table(result)
    atomic_write(out / "robustness.csv", lambda tmp: summary.to_csv(tmp, index=False))
    atomic_write(out / "samples.csv", lambda tmp: table.to_csv(tmp, index=False))
    text = page_html(result, table)
    atomic_write(out / "robustness.html", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return result


__all__ = ["Robustness", "Sampling", "LoadedRobustness", "RobustnessDesign", "RobustnessOutcome",
           "load_robustness", "build", "sample", "wilson", "verdict", "analyse", "run_robustness",
           "console_table", "page_html"]
