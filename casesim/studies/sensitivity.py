"""Global sensitivity analysis (``casesim sensitivity``): Morris screening and Sobol indices with SALib.

A sensitivity experiment is a YAML file read with the same strict loader as scenarios and sweeps::

    name: sensitivity_quick
    scenario: ../scenarios/baseline.yaml      # relative to this file
    set: ["time.horizon_days=730"]            # applied to every point first
    method: {name: morris, trajectories: 8, levels: 4, quick: 4}   # or {name: sobol, n: 64, quick: 8}
    parameters:                               # dotted scenario keys (as --set), each a range
      staff.0.count: {low: 60, high: 90}
      compliance.intercept: {low: 2.8, high: 3.6}
    kpis: [compliance_rate_of_offered, workload_pressure]   # keys of the KPI catalogue
    replications: 2
    seed: 20261122

SALib draws the points (a Morris design of ``trajectories`` one-at-a-time paths over a grid of ``levels``, or
Saltelli's extension of a Sobol sequence of ``n`` base points); each distinct point is a variant of the sweep
machinery (:mod:`casesim.studies.sweep`): its runs go to Dask as plain data, each writes one Parquet part
under ``parts/``, and running the same command again skips the finished ones. Replication ``k`` has the same
seed at every point (common random numbers), so differences between points are the parameters'. A KPI's value
at a point is its mean over the replications; SALib's analysis of those means (with a bootstrap seeded from
the master seed) gives, per KPI and parameter, Morris ``mu*``, ``mu``, ``sigma`` and the 95% interval of
``mu*``, or Sobol ``S1`` and ``ST`` with their 95% intervals. Same file, same seed: identical indices.

SALib is imported only inside the functions that sample and analyse, never when this module (or the
scenario schema) is imported.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, StrictBool

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
from casesim.studies.sweep import (
    DONE,
    FAILED,
    MANIFEST,
    PARTS,
    Manifest,
    ProgressHooks,
    _remove_stale_temporaries,
    check_folder_name,
    mean_ci,
    part_path,
    read_parts,
    run_pending,
    write_json,
)

SENSITIVITY_INPUT = "sensitivity experiment input"
KIND = "sensitivity"
#: The files a sensitivity result holds (listed in its manifest, so other commands know them as casesim's).
OUTPUTS = ("indices.json", "indices.csv", "points.csv", "sensitivity.html")
CONFIDENCE = 0.95
#: Bootstrap resamples of the confidence intervals of mu* (Morris) and of S1 and ST (Sobol).
RESAMPLES = 1000
#: Spawn keys under the master seed, disjoint from the sweep's (replications 0, design 1).
SEED_KEY_SAMPLE, SEED_KEY_BOOTSTRAP = 2, 3
#: The most points SALib is asked for, even with --allow-large (the design is built in memory).
POINT_LIMIT = 1_000_000


# --------------------------------------------------------------------------- the file


class Morris(Strict):
    """Morris screening: ``trajectories`` one-at-a-time paths over a grid of ``levels`` values per parameter."""

    name: Literal["morris"] = P("morris", "method", "elementary effects (Morris 1991; Campolongo et al. 2007)")
    trajectories: int = P(10, "paths", "each path moves every parameter once: (parameters + 1) points; 10 to 20 "
                          "is usual for screening", ge=2, le=10_000, strict=True,
                          limit="ten thousand: far more than screening needs")
    levels: int = P(4, "grid levels", "an even number: 4 (the usual choice) gives steps of 2/3 of each range",
                    ge=2, le=100, strict=True, limit="a hundred: a finer grid adds nothing to screening")
    quick: int = P(4, "paths", "trajectories of --quick", ge=2, le=10_000, strict=True,
                   limit="ten thousand: far more than screening needs")

    def size(self, quick: bool) -> int:
        return self.quick if quick else self.trajectories


class Sobol(Strict):
    """Variance-based Sobol indices from Saltelli's sampling of ``n`` base points."""

    name: Literal["sobol"] = P("sobol", "method", "Sobol (2001) indices, Saltelli (2002, 2010) estimators")
    n: int = P(64, "base points", "a power of 2; (parameters + 2) x n points, (2 x parameters + 2) x n with "
               "second_order; 500 to 1000 for stable first-order indices", ge=2, le=1_048_576, strict=True,
               limit="2^20: beyond what a simulation can run")
    second_order: StrictBool = P(False, "flag", "also the pairwise indices S2 (more points)")
    quick: int = P(8, "base points", "n of --quick, a power of 2", ge=2, le=1_048_576, strict=True,
                   limit="2^20: beyond what a simulation can run")

    def size(self, quick: bool) -> int:
        return self.quick if quick else self.n


class Sensitivity(Strict):
    """A sensitivity experiment: a base scenario, the parameters' ranges, the KPIs, the method and the seed."""

    name: str = P("", "label", "default: the file's name without .yaml")
    description: str = P("", "text", SENSITIVITY_INPUT)
    scenario: str = P(..., "path", "the base scenario, relative to the experiment file")
    set: list[str] = P(list, "dotted.key=value", "overrides applied to every point before its parameters "
                       "(e.g. a shorter horizon)")
    method: Annotated[Morris | Sobol, Field(discriminator="name")] = P(
        ..., "section", "name: morris (trajectories, levels) or sobol (n, second_order)")
    parameters: dict[str, Range] = P(..., "dotted scenario key -> range", "the assumptions whose influence is "
                                     "measured, each uniform over [low, high]", min_length=1)
    kpis: list[str] = P(..., "KPI keys", "keys of the KPI catalogue (docs/kpis.md), or <dict KPI>.<key>",
                        min_length=1)
    replications: int = P(..., "runs per point", SENSITIVITY_INPUT, ge=1, le=10_000, strict=True,
                          limit="ten thousand: more replications than any study can run")
    seed: int = P(..., "integer", "master seed: replication seeds, the sample and the bootstrap derive from it",
                  ge=0, le=SEED_MAX, strict=True, limit=SEED_LIMIT)


def kpi_problem(key: str) -> str | None:
    """Why ``key`` is not a KPI of the catalogue that can be analysed (None if it is one)."""
    head, dot, sub = key.partition(".")
    entry = BY_KEY.get(head)
    if entry is None:
        close = sorted(k for k in BY_KEY if head and (head in k or k in head))[:5]
        hint = f"; did you mean {', '.join(close)}?" if close else "; the KPIs are listed in docs/kpis.md"
        return f"unknown KPI '{key}'{hint}"
    if entry.breakdown and not (dot and sub):
        return f"'{head}' holds one value per key: name one, as {head}.<key>"
    if not entry.breakdown and dot:
        return f"'{head}' is one number, not a dict: write {head}"
    return None


def parameter_checks(parameters: dict[str, Range]) -> list[tuple[tuple[Any, ...], str]]:
    """Checks of the ``parameters`` ranges (also of ``casesim robustness``), as (path, message) pairs."""
    out: list[tuple[tuple[Any, ...], str]] = []
    for key, r in parameters.items():
        path = ("parameters", key)
        if not key or not all(key.split(".")) or "=" in key:
            out.append((path, "must be a dotted scenario key such as staff.0.count"))
        if not r.high > r.low:
            out.append(((*path, "high"), f"must be greater than low ({r.low:g})"))
        if range_type(r) == "int" and not (float(r.low).is_integer() and float(r.high).is_integer()):
            out.append(((*path, "type"), "an int range needs whole-number low and high"))
    return out


def set_checks(texts: list[str]) -> list[tuple[tuple[Any, ...], str]]:
    """Checks of the ``set`` overrides (also of ``casesim robustness``), as (path, message) pairs."""
    out: list[tuple[tuple[Any, ...], str]] = []
    for i, text in enumerate(texts):
        key, sep, _ = text.partition("=")
        if not sep or not key.strip():
            out.append((("set", i), f"expected dotted.key=value, got {text!r}"))
    return out


def sensitivity_checks(exp: Sensitivity) -> list[tuple[tuple[Any, ...], str]]:
    """Checks across fields, as (path, message) pairs."""
    out = parameter_checks(exp.parameters)
    seen: set[str] = set()
    for i, key in enumerate(exp.kpis):
        problem = kpi_problem(key)
        if problem is not None:
            out.append((("kpis", i), problem))
        elif key in seen:
            out.append((("kpis", i), f"repeats '{key}'"))
        seen.add(key)
    m = exp.method
    if isinstance(m, Morris) and m.levels % 2:
        out.append((("method", "levels"), f"must be even (got {m.levels}): an odd grid makes the steps unequal"))
    if isinstance(m, Sobol):
        for name in ("n", "quick"):
            value = getattr(m, name)
            if value & (value - 1):
                out.append((("method", name), f"must be a power of 2 (got {value}; {1 << value.bit_length() - 1} "
                            f"or {1 << value.bit_length()}): the Sobol sequence is balanced only then"))
    if isinstance(m, Sobol) and len(exp.parameters) < 2:
        out.append((("parameters",), "Sobol indices need at least two parameters"))
    return out + set_checks(exp.set)


@dataclass(frozen=True)
class LoadedSensitivity:
    """A validated sensitivity experiment with where it came from (read by the sweep's helpers as an
    experiment: ``experiment.set``, ``name``, ``path``, ``lines``, ``sha256``, ``scenario_path``)."""

    experiment: Sensitivity
    path: Path
    lines: LineMap
    sha256: str

    @property
    def name(self) -> str:
        return self.experiment.name or self.path.stem

    @property
    def scenario_path(self) -> Path:
        return (self.path.parent / self.experiment.scenario).resolve()


def load_sensitivity(path: str | Path) -> LoadedSensitivity:
    """Read and validate a sensitivity experiment; raise ScenarioError with ``file:line: path: problem``."""
    exp, lines, sha = read_study(path, Sensitivity, sensitivity_checks, ("scenario",))
    return LoadedSensitivity(exp, Path(path), lines, sha)


# --------------------------------------------------------------------------- the design


def points_count(exp: Sensitivity, quick: bool) -> int:
    """How many sample rows the method asks SALib for (before equal points are merged)."""
    d, m = len(exp.parameters), exp.method
    if isinstance(m, Morris):
        return m.size(quick) * (d + 1)
    return m.size(quick) * ((2 * d + 2) if m.second_order else (d + 2))


def problem_of(exp: Sensitivity) -> dict[str, Any]:
    """The SALib problem: parameter names and bounds in file order."""
    return {"num_vars": len(exp.parameters), "names": list(exp.parameters),
            "bounds": [[float(r.low), float(r.high)] for r in exp.parameters.values()]}


def _seed(master: int, key: int) -> int:
    return int(np.random.SeedSequence(master, spawn_key=(key,)).generate_state(1)[0])


def sample(exp: Sensitivity, quick: bool = False) -> np.ndarray:
    """The method's sample (one row per point, parameters in file order): SALib's, seeded from the master seed."""
    import warnings

    problem, m = problem_of(exp), exp.method
    seed = _seed(exp.seed, SEED_KEY_SAMPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # (sizes and levels are checked when the file is read)
        if isinstance(m, Morris):
            from SALib.sample import morris

            return morris.sample(problem, m.size(quick), num_levels=m.levels, seed=seed)
        from SALib.sample import sobol

        return sobol.sample(problem, m.size(quick), calc_second_order=m.second_order, seed=seed)


def point_values(exp: Sensitivity, row: np.ndarray) -> list[int | float]:
    """The scenario values of one sample row: int ranges rounded to the nearest whole number."""
    out: list[int | float] = []
    for x, r in zip(row, exp.parameters.values(), strict=True):
        if range_type(r) == "int":
            out.append(int(min(int(r.high), max(int(r.low), math.floor(float(x) + 0.5)))))
        else:
            out.append(float(f"{float(x):.12g}"))   # (0.3, not 0.29999999999999993 from the grid's arithmetic)
    return out


@dataclass
class SensitivityDesign:
    """The sweep design of the distinct points, and which point each sample row runs as."""

    design: Design
    X: np.ndarray
    row_variant: list[str]
    quick: bool

    @property
    def loaded(self) -> LoadedSensitivity:
        return self.design.loaded   # type: ignore[return-value]


def build(loaded: LoadedSensitivity, quick: bool = False, validate: bool = True,
          allow_large: bool = True) -> SensitivityDesign:
    """Sample the points, merge equal ones into variants, give replication ``k`` the same seed at every point,
    and (with ``validate``) check every point's scenario, located at the experiment line that wrote the value."""
    exp = loaded.experiment
    count = points_count(exp, quick) * exp.replications
    where = ("method", "quick" if quick else ("trajectories" if isinstance(exp.method, Morris) else "n"))
    if count > (POINT_LIMIT if allow_large else RUN_CEILING):
        file, line = loaded.lines.locate(where)
        ceiling = POINT_LIMIT if allow_large else RUN_CEILING
        raise ScenarioError([Problem(file, line, ".".join(where), (
            f"the study would be {count:,} runs ({points_count(exp, quick):,} points x {exp.replications} "
            f"replications; ceiling {ceiling:,})" + ("" if allow_large else "; pass --allow-large to run it anyway")))])
    X = sample(exp, quick)
    keys = list(exp.parameters)
    index: dict[tuple[str, ...], str] = {}
    variants: list[Variant] = []
    row_variant: list[str] = []
    width = max(3, len(str(max(len(X) - 1, 0))))
    for row in X:
        values = point_values(exp, row)
        overrides = tuple(override_text(k, v) for k, v in zip(keys, values, strict=True))
        vid = index.get(overrides)
        if vid is None:
            vid = index[overrides] = f"p{len(variants):0{width}d}"
            variants.append(Variant(id=vid, factors=dict(zip(keys, values, strict=True)), overrides=overrides,
                                    origins=tuple(("parameters", k) for k in keys)))
        row_variant.append(vid)
    rw = max(2, len(str(max(exp.replications - 1, 0))))
    seeds = [replication_seed(exp.seed, k) for k in range(exp.replications)]
    runs = [RunSpec(id=f"{v.id}-r{k:0{rw}d}", variant=v.id, replication=k, seed=seeds[k])
            for v in variants for k in range(exp.replications)]
    design = Design(loaded, variants, runs, factor_columns=keys)   # type: ignore[arg-type]
    if validate:
        design.scenario_sha256 = validate_variants(design, allow_large=allow_large)
    return SensitivityDesign(design, X, row_variant, quick)


# --------------------------------------------------------------------------- analysis


def analyse(exp: Sensitivity, X: np.ndarray, Y: np.ndarray) -> dict[str, list[float]]:
    """SALib's indices of one output ``Y`` (one value per sample row), per parameter in file order: Morris
    ``mu_star``, ``mu_star_conf``, ``mu``, ``sigma``; Sobol ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (and
    ``S2`` rows with second_order). Intervals are 95% bootstrap intervals seeded from the master seed."""
    import warnings

    problem, m = problem_of(exp), exp.method
    seed = _seed(exp.seed, SEED_KEY_BOOTSTRAP)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        if isinstance(m, Morris):
            from SALib.analyze import morris

            res = morris.analyze(problem, X, Y, num_resamples=RESAMPLES, conf_level=CONFIDENCE,
                                 num_levels=m.levels, seed=seed)
            names = ("mu_star", "mu_star_conf", "mu", "sigma")
        else:
            from SALib.analyze import sobol

            res = sobol.analyze(problem, Y, calc_second_order=m.second_order, num_resamples=RESAMPLES,
                                conf_level=CONFIDENCE, seed=seed)
            names = ("S1", "S1_conf", "ST", "ST_conf")
    out = {n: [float(v) for v in np.asarray(res[n], dtype=float)] for n in names}
    if isinstance(m, Sobol) and m.second_order:
        out["S2"] = [[float(v) for v in row] for row in np.asarray(res["S2"], dtype=float)]
    return out


def index_columns(exp: Sensitivity) -> tuple[str, ...]:
    return ("mu_star", "mu_star_conf", "mu", "sigma") if isinstance(exp.method, Morris) else (
        "S1", "S1_conf", "ST", "ST_conf")


def rank_key(exp: Sensitivity) -> str:
    """What parameters are ranked by: ``mu_star`` (Morris) or ``ST`` (Sobol)."""
    return "mu_star" if isinstance(exp.method, Morris) else "ST"


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def indices(sd: SensitivityDesign, runs: pd.DataFrame) -> dict[str, Any]:
    """Per KPI, the value at each sample row (mean over replications) and the indices of every parameter."""
    exp = sd.loaded.experiment
    keys = list(exp.parameters)
    by_variant = runs.groupby("variant", sort=True)
    kpis_out = []
    for kpi in exp.kpis:
        entry = BY_KEY[kpi.split(".", 1)[0]]
        if kpi in runs.columns:
            means = by_variant[kpi].mean()
            # the standard error of a point's mean over its replications, pooled over the points
            sds = by_variant[kpi].std(ddof=1) if exp.replications > 1 else pd.Series(dtype=float)
            noise = float(np.sqrt(np.nanmean(sds.to_numpy() ** 2)) / math.sqrt(exp.replications)) \
                if len(sds) and not sds.isna().all() else math.nan
        else:
            means, noise = pd.Series(dtype=float), math.nan
        Y = np.array([float(means.get(v, math.nan)) for v in sd.row_variant])
        undefined = sorted({v for v, y in zip(sd.row_variant, Y, strict=True) if not math.isfinite(y)})
        record: dict[str, Any] = {"kpi": kpi, "label": entry.label, "unit": entry.unit, "kind": entry.kind,
                                  "mean": float(np.mean(Y)) if not undefined else None,
                                  "sd_between_points": float(np.std(Y, ddof=1)) if not undefined and len(Y) > 1
                                  else None, "noise_se": noise, "undefined_points": len(undefined)}
        if undefined:
            record["note"] = (f"undefined at {len(undefined)} of {len(set(sd.row_variant))} points (e.g. "
                              f"{', '.join(undefined[:3])}): nothing to measure there in the window; no indices")
            record["indices"] = []
        else:
            if np.ptp(Y) == 0.0:   # (Sobol's shares of a zero variance are 0/0; Morris's effects are 0 anyway)
                record["note"] = ("the same value at every point (common random numbers): no parameter moves it "
                                  "over these ranges; every index is 0")
                res = {c: [0.0] * len(keys) for c in index_columns(exp)}
            else:
                res = analyse(exp, sd.X, Y)
            order = sorted(range(len(keys)), key=lambda j: (-_sortable(res[rank_key(exp)][j]), j))
            rank = {j: i + 1 for i, j in enumerate(order)}
            record["indices"] = [{"parameter": keys[j], "rank": rank[j],
                                  **{c: res[c][j] for c in index_columns(exp)}} for j in order]
            if "S2" in res:
                record["S2"] = {keys[a]: {keys[b]: res["S2"][a][b] for b in range(a + 1, len(keys))}
                                for a in range(len(keys) - 1)}
        kpis_out.append(record)
    m = exp.method
    return _clean({
        "experiment": sd.loaded.name, "description": exp.description, "scenario": exp.scenario,
        "set": list(exp.set), "method": m.model_dump(mode="json"), "quick": sd.quick,
        "sample_size": m.size(sd.quick), "sample_rows": len(sd.X), "points": len(sd.design.variants),
        "replications": exp.replications, "runs": len(sd.design.runs), "seed": exp.seed,
        "confidence": CONFIDENCE, "bootstrap_resamples": RESAMPLES, "ranked_by": rank_key(exp),
        "parameters": [{"key": k, "low": r.low, "high": r.high, "type": range_type(r)}
                       for k, r in exp.parameters.items()],
        "kpis": kpis_out,
    })


def _sortable(x: float) -> float:
    return -math.inf if x is None or not math.isfinite(x) else x


def indices_table(result: dict[str, Any]) -> pd.DataFrame:
    """The indices in long form: one row per KPI and parameter, ranked."""
    cols = ["mu_star", "mu_star_conf", "mu", "sigma"] if result["ranked_by"] == "mu_star" else [
        "S1", "S1_conf", "ST", "ST_conf"]
    rows = [{"kpi": k["kpi"], "parameter": i["parameter"], "rank": i["rank"], **{c: i[c] for c in cols},
             "noise_se": k["noise_se"]} for k in result["kpis"] for i in k["indices"]]
    return pd.DataFrame(rows, columns=["kpi", "parameter", "rank", *cols, "noise_se"])


def points_table(sd: SensitivityDesign, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct point: its id, parameter values, and each KPI's mean over the replications."""
    exp = sd.loaded.experiment
    rows = []
    groups = dict(tuple(runs.groupby("variant", sort=True))) if len(runs) else {}
    for v in sd.design.variants:
        row: dict[str, Any] = {"point": v.id, **v.factors}
        g = groups.get(v.id)
        for kpi in exp.kpis:
            row[kpi] = mean_ci(g[kpi].tolist()).mean if g is not None and kpi in g else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["point", *exp.parameters, *exp.kpis])


# --------------------------------------------------------------------------- console and page


def fmt(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def console_tables(result: dict[str, Any]) -> list[Any]:
    """One rich table per KPI: the parameters ranked, with their indices and intervals."""
    from rich.table import Table

    morris = result["ranked_by"] == "mu_star"
    tables = []
    for k in result["kpis"]:
        noise = f"; replication noise (s.e. of a point) {fmt(k['noise_se'])}" if k["noise_se"] is not None else ""
        t = Table(title=f"{k['label']} ({k['kpi']}){noise}", title_justify="left",
                  caption=k.get("note") if k["indices"] else None)
        t.add_column("#", justify="right")
        t.add_column("Parameter")
        heads = (("mu* (95% CI)", "mu", "sigma") if morris else ("S1 (95% CI)", "ST (95% CI)"))
        for h in heads:
            t.add_column(h, justify="right")
        if not k["indices"]:
            t.add_row("", k.get("note", "no indices"), *[""] * len(heads))
        for i in k["indices"]:
            if morris:
                t.add_row(str(i["rank"]), i["parameter"], f"{fmt(i['mu_star'])} ± {fmt(i['mu_star_conf'])}",
                          fmt(i["mu"]), fmt(i["sigma"]))
            else:
                t.add_row(str(i["rank"]), i["parameter"], f"{fmt(i['S1'])} ± {fmt(i['S1_conf'])}",
                          f"{fmt(i['ST'])} ± {fmt(i['ST_conf'])}")
        tables.append(t)
    return tables


def kpi_figure(k: dict[str, Any], morris: bool) -> dict[str, Any]:
    """A plotly figure dict: Morris mu* against sigma (with the mu* interval), or Sobol S1 and ST bars."""
    title = f"{k['label']} ({k['kpi']})"
    names = [i["parameter"] for i in k["indices"]]
    if morris:
        data = [{"type": "scatter", "mode": "markers+text", "x": [i["mu_star"] for i in k["indices"]],
                 "y": [i["sigma"] for i in k["indices"]], "text": names, "textposition": "top center",
                 "error_x": {"type": "data", "array": [i["mu_star_conf"] for i in k["indices"]], "visible": True},
                 "marker": {"size": 10}, "name": "parameters",
                 "hovertemplate": "%{text}: mu* %{x:.4g}, sigma %{y:.4g}<extra></extra>"}]
        layout = {"title": {"text": title}, "height": 420, "xaxis": {"title": {"text": "mu* (mean |effect| over "
                  "the whole range)"}, "rangemode": "tozero"}, "yaxis": {"title": {"text": "sigma (spread of the "
                                                                                           "effects)"},
                                                                         "rangemode": "tozero"},
                  "showlegend": False, "margin": {"t": 60}}
        return {"data": data, "layout": layout}
    data = [{"type": "bar", "name": label, "x": names, "y": [i[col] for i in k["indices"]],
             "error_y": {"type": "data", "array": [i[f"{col}_conf"] for i in k["indices"]], "visible": True}}
            for col, label in (("S1", "first order S1"), ("ST", "total ST"))]
    layout = {"title": {"text": title}, "height": 420, "barmode": "group", "yaxis": {"title": {"text": "share of "
              "the variance"}}, "legend": {"orientation": "h", "y": -0.25}, "margin": {"t": 60}}
    return {"data": data, "layout": layout}


def page_html(result: dict[str, Any]) -> str:
    """``sensitivity.html``: per KPI a table and a chart; the run report's style, plotly.js embedded."""
    from html import escape

    import plotly.io as pio

    from casesim.outputs.report import STYLE

    morris = result["ranked_by"] == "mu_star"
    name = escape(result["experiment"])
    m = result["method"]
    how = (f"Morris screening, {result['sample_size']} trajectories over {m['levels']} levels" if morris else
           f"Sobol indices, N = {result['sample_size']} (Saltelli sampling"
           + (", second order" if m.get("second_order") else "") + ")")
    params = "".join(f"<tr><td><code>{escape(p['key'])}</code></td><td class='num'>{p['low']}</td>"
                     f"<td class='num'>{p['high']}</td><td>{p['type']}</td></tr>" for p in result["parameters"])
    reading = ("<b>mu*</b> is the mean absolute change of the KPI when the parameter moves one grid step, scaled "
               "to its whole range, in the KPI's own unit (shares as fractions): how much it matters. "
               "<b>sigma</b> is the spread of those changes: large against mu* means the effect depends on the "
               "other parameters (interactions or a curved response). A mu* within the replication noise is "
               "no evidence of influence." if morris else
               "<b>S1</b> is the share of the KPI's variance over the ranges that the parameter explains alone; "
               "<b>ST</b> adds its interactions with the others. ST near 0: the parameter can be fixed anywhere "
               "in its range; ST well above S1: it acts through interactions. Intervals are 95% bootstrap "
               "intervals; small N gives wide ones, and estimates slightly below 0 are noise.")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{name}: sensitivity</title><style>{STYLE}</style></head><body>",
        f"<h1>Sensitivity: {name}</h1>",
        f"<p class='note'>{escape(result['description'])}</p>" if result["description"] else "",
        f"<p class='note'>Base scenario <code>{escape(result['scenario'])}</code>"
        + "".join(f" <code>--set {escape(s)}</code>" for s in result["set"])
        + f"; {how}{' (--quick)' if result['quick'] else ''}: {result['sample_rows']} sample rows, "
        f"{result['points']} distinct points &times; {result['replications']} replications = {result['runs']} runs, "
        f"master seed {result['seed']}. Replication k has the same seed at every point (common random numbers); "
        "each point's KPI value is its mean over the replications.</p>",
        f"<p class='note'>{reading}</p>",
        "<table class='kpi'><thead><tr><th>Parameter</th><th>Low</th><th>High</th><th>Type</th></tr></thead>"
        f"<tbody>{params}</tbody></table>",
    ]
    plotted = 0
    for k in result["kpis"]:
        parts.append(f"<h2>{escape(k['label'])} (<code>{escape(k['kpi'])}</code>)</h2>")
        noise = k["noise_se"]
        parts.append(f"<p class='note'>Mean over the points {fmt(k['mean'])}, standard deviation between points "
                     f"{fmt(k['sd_between_points'])}, replication noise (standard error of a point's mean) "
                     f"{fmt(noise)}; unit: {escape(k['unit'].format(cur=''))}.</p>")
        if not k["indices"]:
            parts.append(f"<p class='warning'>{escape(k.get('note', 'no indices'))}</p>")
            continue
        if k.get("note"):
            parts.append(f"<p class='note'>{escape(k['note'])}</p>")
        heads = ["#", "Parameter", *(["mu*", "95% CI ±", "mu", "sigma"] if morris else
                                      ["S1", "95% CI ±", "ST", "95% CI ±"])]
        cols = ["mu_star", "mu_star_conf", "mu", "sigma"] if morris else ["S1", "S1_conf", "ST", "ST_conf"]
        rows = "".join(f"<tr><td class='num'>{i['rank']}</td><td><code>{escape(i['parameter'])}</code></td>"
                       + "".join(f"<td class='num'>{fmt(i[c])}</td>" for c in cols) + "</tr>" for i in k["indices"])
        parts.append("<table class='kpi'><thead><tr>" + "".join(f"<th>{h}</th>" for h in heads)
                     + f"</tr></thead><tbody>{rows}</tbody></table>")
        parts.append(pio.to_html(kpi_figure(k, morris), full_html=False, include_plotlyjs=plotted == 0,
                                 validate=False, default_width="100%", config={"displaylogo": False}))
        plotted += 1
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


# --------------------------------------------------------------------------- the driver


@dataclass
class SensitivityOutcome:
    """What a study did; ``result`` is the content of ``indices.json`` (None if runs failed)."""

    out: Path
    total: int
    done: int
    failed: int
    skipped: int
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    redone: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] | None = None


def default_out(loaded: LoadedSensitivity, quick: bool) -> Path:
    """``results/sensitivity/<name>`` (``<name>-quick`` for --quick)."""
    return Path("results") / "sensitivity" / (loaded.name + ("-quick" if quick else ""))


def _input_error(where: Path | str, message: str) -> ScenarioError:
    return ScenarioError([Problem(str(where), None, "", message)])


def _only_own_files(out: Path) -> bool:
    """Whether ``out`` holds nothing but parts and temporary files (a study killed before its manifest)."""
    def temporary(p: Path) -> bool:
        return p.is_file() and p.name.startswith(".") and ".tmp-" in p.name

    parts = out / PARTS
    return (all(p.name == PARTS or temporary(p) for p in out.iterdir())
            and (not parts.exists() or (parts.is_dir() and all(
                (p.is_file() and p.suffix == ".parquet") or temporary(p) for p in parts.iterdir()))))


def prepare_out(out: Path, sd: SensitivityDesign, fresh: bool, kind: str = KIND,
                outputs: tuple[str, ...] = OUTPUTS) -> None:
    """Create ``out`` for this study: resume one of the same inputs; refuse a changed experiment, another kind
    of casesim result (unless ``fresh``, which clears it) and any folder that is not casesim's (always)."""
    from casesim.outputs.guard import survey

    try:
        if out.exists() and not out.is_dir():
            raise _input_error(out, "--out: exists and is not a directory")
        found = survey(out)
        if found.state == "foreign" and not _only_own_files(out):
            raise _input_error(out, f"--out: exists and is not a casesim result (no {MANIFEST} written by "
                               "casesim); it was left as it is: give another --out, a new or an empty folder")
        if found.state == "result" and found.kind != kind:
            if not fresh:
                raise _input_error(out, f"--out: holds a casesim {found.kind} result, not a {kind} study; "
                                   "give --fresh to replace it, or another --out to keep it")
            shutil.rmtree(out)
        elif fresh:
            shutil.rmtree(out / PARTS, ignore_errors=True)
            for name in (MANIFEST, *outputs):
                (out / name).unlink(missing_ok=True)
        elif found.state == "foreign" and (out / PARTS).is_dir() and any((out / PARTS).glob("*.parquet")):
            raise _input_error(out, f"holds run results but no {MANIFEST}; give --fresh to discard them, or "
                               "choose another --out")
        elif found.state == "result":
            old = found.manifest or {}
            then = (old.get("experiment_sha256"), old.get("quick"), (old.get("scenario") or {}).get("sha256"))
            now = (sd.loaded.sha256, sd.quick, sd.design.scenario_sha256)
            if then[0] != now[0]:
                raise _input_error(sd.loaded.path, f"the experiment file changed since the study in {out} started; "
                                   "give --fresh to discard its results and start over, or choose another --out")
            if then[1] != now[1]:
                raise _input_error(out, f"--out: holds a {'--quick' if then[1] else 'full'} study of this experiment, "
                                   f"not a {'--quick' if now[1] else 'full'} one; give --fresh to discard it, or "
                                   "choose another --out")
            if then[2] != now[2]:
                raise _input_error(sd.loaded.scenario_path, f"the base scenario changed since the study in {out} "
                                   "started; give --fresh to discard its results and start over, or choose "
                                   "another --out")
        (out / PARTS).mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(out)
    except OSError as exc:
        raise _input_error(exc.filename or out, f"--out: cannot write: {exc.strerror or exc}") from None


class StudyManifest(Manifest):
    """The sweep's manifest, of kind ``sensitivity``, with the method, ``--quick`` and the files written."""

    def __init__(self, path: Path, sd: SensitivityDesign) -> None:
        super().__init__(path, sd.design)
        m = sd.loaded.experiment.method
        self.head.update({"kind": KIND, "quick": sd.quick, "method": m.model_dump(mode="json"),
                          "sample_size": m.size(sd.quick), "sample_rows": len(sd.X),
                          "outputs": [PARTS, *OUTPUTS]})


def run_sensitivity(experiment: str | Path, out: str | Path | None = None, workers: int | None = None,
                    scheduler: str | None = None, fresh: bool = False, quick: bool = False,
                    allow_large: bool = True, progress: ProgressHooks | None = None) -> SensitivityOutcome:
    """Run (or resume) every run of a sensitivity study on Dask, then analyse and write the outputs.

    Raises:
        ScenarioError: invalid experiment or point, changed experiment without ``fresh``, unusable ``out``.
    """
    started = time.perf_counter()
    loaded = load_sensitivity(experiment)
    if out is None:
        check_folder_name(loaded.name, loaded.lines)
    sd = build(loaded, quick=quick, allow_large=allow_large)
    out_dir = Path(out) if out is not None else default_out(loaded, quick)
    prepare_out(out_dir, sd, fresh)
    design = sd.design
    manifest = StudyManifest(out_dir / MANIFEST, sd)
    skipped, redone = run_pending(design, out_dir, manifest, workers, scheduler, progress)
    counts = manifest.counts()
    complete = counts[DONE] == len(design.runs)
    result = None
    if complete:
        result = write_outputs(out_dir, sd)
    else:   # indices need every point: no partial analysis is written
        for name_ in OUTPUTS:
            (out_dir / name_).unlink(missing_ok=True)
    manifest.write(state="complete" if complete else "incomplete")
    return SensitivityOutcome(out=out_dir, total=len(design.runs), done=counts[DONE], failed=counts[FAILED],
                              skipped=skipped, errors=dict(manifest.errors), seconds=time.perf_counter() - started,
                              redone=redone, result=result)


def write_outputs(out: Path, sd: SensitivityDesign) -> dict[str, Any]:
    """Read the parts, analyse, and write ``indices.json``, ``indices.csv``, ``points.csv`` and the page."""
    runs = read_parts(part_path(out, r.id) for r in sd.design.runs)
    result = indices(sd, runs)
    write_json(out / "indices.json", result)
    table = indices_table(result)
    atomic_write(out / "indices.csv", lambda tmp: table.to_csv(tmp, index=False))
    points = points_table(sd, runs)
    atomic_write(out / "points.csv", lambda tmp: points.to_csv(tmp, index=False))
    text = page_html(result)
    atomic_write(out / "sensitivity.html", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return result


__all__ = ["Morris", "Sobol", "Sensitivity", "LoadedSensitivity", "SensitivityDesign", "SensitivityOutcome",
           "load_sensitivity", "build", "sample", "analyse", "indices", "run_sensitivity", "console_tables",
           "page_html", "kpi_problem"]
