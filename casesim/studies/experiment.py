"""Experiment files: a base scenario, the factors to vary, replications and a master seed.

An experiment is a YAML file read with the same strict loader as scenarios::

    name: caseload_capacity
    scenario: ../scenarios/baseline.yaml       # relative to this file
    set: ["time.horizon_days=730"]             # applied to every variant first
    factors:                                   # full factorial over dotted scenario keys
      staff.0.fte: [0.75, 1.0, 1.25]
    replications: 4
    seed: 20261122

Instead of ``factors``, ``sample`` draws ``count`` variants from ranges (Latin hypercube or plain
random). :func:`load_experiment` validates the file and :func:`build_design` expands it into
variants and runs, checking every variant's overrides against the scenario schema before anything
runs. Replication ``k`` gets the same seed in every variant (common random numbers).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StrictFloat, StrictInt, ValidationError

from casesim.scenario.params import SEED_LIMIT, SEED_MAX, P, Strict
from casesim.scenario.yamlio import (
    SET_FILE,
    LineMap,
    Problem,
    ScenarioError,
    load_yaml,
    problems_from_validation,
    read_input_file,
    resolve,
)

EXPERIMENT_INPUT = "experiment input"
#: Spawn keys under the master seed: replication seeds and the sampling design draw from disjoint streams.
SEED_KEY_REPLICATION, SEED_KEY_DESIGN = 0, 1
#: At most this many problems with variants are reported.
MAX_PROBLEMS = 30
#: The most runs (variants x replications) ``casesim sweep`` starts without ``--allow-large``: counted from
#: the factor levels (or ``sample.count``) before the design is expanded, so a factorial of millions of
#: variants is refused before it is built. The shipped experiments have 24 to 27 runs; 10,000 runs of a few
#: seconds each are hours of computing, and each run is a manifest row and a result file.
RUN_CEILING = 10_000


class Range(Strict):
    """A closed interval to sample one scenario key from."""

    low: StrictInt | StrictFloat = P(..., "unit of the scenario key", EXPERIMENT_INPUT)
    high: StrictInt | StrictFloat = P(..., "unit of the scenario key", EXPERIMENT_INPUT)
    type: Literal["int", "float"] | None = P(None, "value type", "int when low and high are both written as "
                                             "integers, else float")


class Sample(Strict):
    """Variants drawn from ranges instead of a full factorial."""

    method: Literal["lhs", "random"] = P("lhs", "method", "Latin hypercube: every one of `count` equal strata "
                                         "of each range is hit exactly once")
    count: int = P(..., "variants", EXPERIMENT_INPUT, ge=1, le=100_000, strict=True,
                   limit="a hundred thousand: more variants than any sweep can run")
    ranges: dict[str, Range] = P(..., "dotted scenario key -> range", EXPERIMENT_INPUT, min_length=1)


class Experiment(Strict):
    """A sweep: one base scenario, what varies, how often each variant repeats, and the master seed."""

    name: str = P("", "label", "default: the experiment file's name without .yaml")
    description: str = P("", "text", EXPERIMENT_INPUT)
    scenario: str = P(..., "path", "the base scenario, relative to the experiment file")
    set: list[str] = P(list, "dotted.key=value", "overrides applied to every variant before its factors "
                       "(e.g. a shorter horizon)")
    factors: dict[str, Annotated[list[Any], Field(min_length=1)]] = P(
        dict, "dotted scenario key -> values", "full factorial: every combination of the values is a variant")
    sample: Sample | None = P(None, "section", "ranges to sample instead of factors")
    replications: int = P(..., "runs per variant", EXPERIMENT_INPUT, ge=1, le=100_000, strict=True,
                          limit="a hundred thousand: more replications than any sweep can run")
    seed: int = P(..., "integer", "master seed: every run's seed derives from it", ge=0, le=SEED_MAX,
                  strict=True, limit=SEED_LIMIT)

    def factor_keys(self) -> list[str]:
        """The varied scenario keys, in file order."""
        return list(self.sample.ranges) if self.sample is not None else list(self.factors)


def experiment_checks(exp: Experiment) -> list[tuple[tuple[Any, ...], str]]:
    """Checks across fields, as (path, message) pairs."""
    out: list[tuple[tuple[Any, ...], str]] = []
    if exp.factors and exp.sample is not None:
        out.append((("sample",), "give either 'factors' (full factorial) or 'sample' (ranges), not both"))
    elif not exp.factors and exp.sample is None:
        out.append(((), "say what varies: 'factors' (a list of values per key) or 'sample' (ranges)"))
    keys = [("factors", k) for k in exp.factors]
    if exp.sample is not None:
        keys += [("sample", "ranges", k) for k in exp.sample.ranges]
    for path in keys:
        key = path[-1]
        if not key or not all(key.split(".")) or "=" in key:
            out.append((path, "must be a dotted scenario key such as staff.0.count"))
    for key, values in exp.factors.items():
        seen: list[str] = []
        for i, value in enumerate(values):
            text = json.dumps(value, sort_keys=True)
            if text in seen:
                out.append((("factors", key, i), f"repeats value {text}"))
            seen.append(text)
    if exp.sample is not None:
        for key, r in exp.sample.ranges.items():
            path = ("sample", "ranges", key)
            if not r.high > r.low:
                out.append(((*path, "high"), f"must be greater than low ({r.low:g})"))
            if range_type(r) == "int" and not (float(r.low).is_integer() and float(r.high).is_integer()):
                out.append(((*path, "type"), "an int range needs whole-number low and high"))
    for i, text in enumerate(exp.set):
        key, sep, _ = text.partition("=")
        if not sep or not key.strip():
            out.append((("set", i), f"expected dotted.key=value, got {text!r}"))
    return out


def range_type(r: Range) -> str:
    """The declared value type of a range, or ``int`` when low and high are both written as integers."""
    if r.type is not None:
        return r.type
    return "int" if isinstance(r.low, int) and isinstance(r.high, int) else "float"


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedExperiment:
    """A validated experiment with where it came from."""

    experiment: Experiment
    path: Path
    lines: LineMap
    sha256: str

    @property
    def name(self) -> str:
        return self.experiment.name or self.path.stem

    @property
    def scenario_path(self) -> Path:
        """The base scenario's absolute path."""
        return (self.path.parent / self.experiment.scenario).resolve()


def read_study(path: str | Path, model: Any, checks: Any, scenarios: Sequence[str]) -> tuple[Any, LineMap, str]:
    """Read a study file (an experiment, a sensitivity or a robustness study) and validate it with ``model`` and
    ``checks`` (a function of the model giving (path, message) pairs); each field named in ``scenarios`` must
    name a scenario file beside it. Returns (the model, its lines, the file's SHA-256).

    Raises:
        ScenarioError: every problem, ``file:line: path: problem``.
    """
    data, lines = load_yaml(path)
    blob = read_input_file(path)   # (a regular file of at most 1 MiB, as load_yaml read it)
    try:
        exp = model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(problems_from_validation(exc, lines, show_input=True)) from None
    problems = []
    for where, message in checks(exp):
        file, line = lines.locate(where)
        problems.append(Problem(file, line, ".".join(str(p) for p in where), message))
    for key in scenarios:
        scenario_path = Path(path).parent / getattr(exp, key)
        if not scenario_path.is_file():
            file, line = lines.locate((key,))
            reason = "is not a file" if scenario_path.exists() else "file not found"
            problems.append(Problem(file, line, key, f"cannot read '{getattr(exp, key)}': {reason} "
                                    f"(looked for {scenario_path})"))
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    return exp, lines, hashlib.sha256(blob).hexdigest()


def load_experiment(path: str | Path) -> LoadedExperiment:
    """Read and validate an experiment file; raise ScenarioError with ``file:line: path: problem``."""
    exp, lines, sha = read_study(path, Experiment, experiment_checks, ("scenario",))
    return LoadedExperiment(exp, Path(path), lines, sha)


# --------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Variant:
    """One combination of factor values."""

    id: str
    factors: dict[str, Any]          # column values (scalars; non-scalar values as compact JSON text)
    overrides: tuple[str, ...]       # the factor values as dotted.key=value strings
    origins: tuple[tuple[Any, ...], ...] = ()   # where each override's value is written in the experiment
    scenario: str | None = None      # its own scenario's path (``casesim robustness``: A or B), else the design's


@dataclass(frozen=True)
class RunSpec:
    """One run: a variant and a replication with its seed."""

    id: str
    variant: str
    replication: int
    seed: int


@dataclass
class Design:
    """Everything needed to run a sweep, as plain data."""

    loaded: LoadedExperiment
    variants: list[Variant]
    runs: list[RunSpec]
    scenario_sha256: str = ""
    factor_columns: list[str] = field(default_factory=list)

    def variant(self, vid: str) -> Variant:
        return self._by_id[vid]

    def __post_init__(self) -> None:
        self._by_id = {v.id: v for v in self.variants}


def replication_seed(master: int, replication: int) -> int:
    """Seed of replication ``k``: the same in every variant (common random numbers), distinct across k."""
    ss = np.random.SeedSequence(master, spawn_key=(SEED_KEY_REPLICATION, replication))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))   # 63 bits: fits a signed int64 column


def unit_sample(method: str, count: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points in [0, 1)^dims; with ``lhs`` each of ``count`` strata per dimension is hit once."""
    if method == "random":
        return rng.random((count, dims))
    out = np.empty((count, dims))
    for j in range(dims):
        out[:, j] = (rng.permutation(count) + rng.random(count)) / count
    return out


def scale(u: np.ndarray, low: float, high: float, integer: bool) -> list[int] | list[float]:
    """Map unit draws onto [low, high] (an int range covers low..high inclusive, equally likely)."""
    if integer:
        lo, hi = int(low), int(high)
        return [min(hi, lo + math.floor(x * (hi - lo + 1))) for x in u]
    return [float(low + x * (high - low)) for x in u]


def override_text(key: str, value: Any) -> str:
    """A ``dotted.key=value`` override whose value reads back exactly (JSON is valid flow YAML)."""
    return f"{key}={json.dumps(value, separators=(', ', ': '))}"


def _column_values(values: list[Any]) -> list[Any]:
    """One consistent type per factor column: numbers (float if any is), text, or JSON text."""
    scalars = all(v is None or isinstance(v, (bool, int, float, str)) for v in values)
    if not scalars:
        return [v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":")) for v in values]
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} and float in kinds:
        return [None if v is None else float(v) for v in values]
    if len(kinds) > 1:
        return [None if v is None else str(v) for v in values]
    return list(values)


def _width(n: int) -> int:
    return max(3, len(str(max(n - 1, 0))))


def design_size(exp: Experiment) -> tuple[int, int]:
    """(variants, runs) of ``exp``, from the number of values of each factor (or ``sample.count``): nothing
    is expanded, so this is exact and cheap for any design."""
    variants = exp.sample.count if exp.sample is not None else math.prod(len(v) for v in exp.factors.values())
    return variants, variants * exp.replications


def design_size_problems(loaded: LoadedExperiment) -> list[Problem]:
    """A problem if the experiment has more than :data:`RUN_CEILING` runs, at the factors (or
    ``sample.count``), or at ``replications`` when they are the larger part."""
    from casesim.scenario.schema import about

    exp = loaded.experiment
    variants, runs = design_size(exp)
    if runs <= RUN_CEILING:
        return []
    where: tuple[Any, ...] = ("sample", "count") if exp.sample is not None else ("factors",)
    if exp.replications > variants:
        where = ("replications",)
    file, line = loaded.lines.locate(where)
    return [Problem(file, line, ".".join(where),
                    f"the sweep would be about {about(runs)} runs ({about(variants)} variants x "
                    f"{exp.replications} replications; ceiling {about(RUN_CEILING)}); pass --allow-large to run "
                    "it anyway")]


def check_sweep_size(path: str | Path) -> Design:
    """The command line's guard before a sweep: load the experiment, refuse more than :data:`RUN_CEILING`
    runs before expanding it, then expand and validate it with every run's size checked too
    (:func:`casesim.scenario.schema.size_problems`). Returns the design; raises ScenarioError."""
    return build_design(load_experiment(path), allow_large=False)


def build_design(loaded: LoadedExperiment, validate: bool = True, allow_large: bool = True) -> Design:
    """Expand an experiment into variants and runs; with ``validate`` check each variant's scenario first.

    With ``allow_large=False`` a design over :data:`RUN_CEILING` runs is refused before it is expanded, and
    (with ``validate``) so is a variant whose run is over the scenario ceilings. The default lets library
    callers run what they ask for: the ceilings guard the command line.
    """
    exp = loaded.experiment
    if not allow_large:
        problems = design_size_problems(loaded)
        if problems:
            raise ScenarioError(problems)
    keys = exp.factor_keys()
    combos: list[tuple[Any, ...]]
    origins: list[tuple[tuple[Any, ...], ...]]
    if exp.sample is None:
        index_combos = list(itertools.product(*(range(len(exp.factors[k])) for k in keys)))
        combos = [tuple(exp.factors[k][i] for k, i in zip(keys, idx, strict=True)) for idx in index_combos]
        origins = [tuple(("factors", k, i) for k, i in zip(keys, idx, strict=True)) for idx in index_combos]
    else:
        rng = np.random.default_rng(np.random.SeedSequence(exp.seed, spawn_key=(SEED_KEY_DESIGN,)))
        u = unit_sample(exp.sample.method, exp.sample.count, len(keys), rng)
        columns = [scale(u[:, j], r.low, r.high, range_type(r) == "int")
                   for j, r in enumerate(exp.sample.ranges.values())]
        combos = list(zip(*columns, strict=True))
        origins = [tuple(("sample", "ranges", k) for k in keys)] * len(combos)
    labels = [_column_values([c[j] for c in combos]) for j in range(len(keys))]
    w = _width(len(combos))
    variants = [Variant(id=f"v{i:0{w}d}", factors={k: labels[j][i] for j, k in enumerate(keys)},
                        overrides=tuple(override_text(k, v) for k, v in zip(keys, combo, strict=True)),
                        origins=origins[i])
                for i, combo in enumerate(combos)]
    rw = max(2, len(str(max(exp.replications - 1, 0))))
    seeds = [replication_seed(exp.seed, k) for k in range(exp.replications)]
    runs = [RunSpec(id=f"{v.id}-r{k:0{rw}d}", variant=v.id, replication=k, seed=seeds[k])
            for v in variants for k in range(exp.replications)]
    design = Design(loaded, variants, runs, factor_columns=keys)
    if validate:
        design.scenario_sha256 = validate_variants(design, allow_large=allow_large)
    return design


# --------------------------------------------------------------------------- validation of variants


def _locate_set(loaded: LoadedExperiment, problem: Problem, variant: Variant | None) -> tuple[str, int | None, str]:
    """Where in the experiment file an override problem belongs: (file, line, experiment path)."""
    exp = loaded.experiment
    texts: list[tuple[str, tuple[Any, ...]]] = [(t, ("set", i)) for i, t in enumerate(exp.set)]
    if variant is not None:
        texts += list(zip(variant.overrides, variant.origins, strict=True))
    for text, where in reversed(texts):   # factors are applied after set: they win
        key = text.partition("=")[0].strip()
        if problem.file == f"{SET_FILE} {text}" or (problem.file == SET_FILE and problem.path == key):
            file, line = loaded.lines.locate(where)
            return file, line, ".".join(str(p) for p in where)
    return problem.file, problem.line, problem.path


def _relocate(loaded: LoadedExperiment, problems: list[Problem], variant: Variant | None) -> list[Problem]:
    """Point override problems at the experiment line that wrote the value; keep scenario-file problems."""
    out = []
    for p in problems:
        if p.file == SET_FILE or p.file.startswith(f"{SET_FILE} "):
            file, line, where = _locate_set(loaded, p, variant)
        elif variant is not None and (hit := _override_near(p.path, variant)) is not None:
            file, line = loaded.lines.locate(hit)    # e.g. a table-level check caused by one factor value
            where = ".".join(str(x) for x in hit)
        else:
            out.append(p)
            continue
        scenario_path = f"{p.path}: " if p.path and p.path != where else ""
        out.append(Problem(file, line, where, f"{scenario_path}{p.message}"))
    return out


def _override_near(path: str, variant: Variant) -> tuple[Any, ...] | None:
    """The experiment location of the variant's override at, above or below scenario ``path``, if any."""
    if not path:
        return None
    for text, where in zip(variant.overrides, variant.origins, strict=True):
        key = text.partition("=")[0]
        if key == path or key.startswith(path + ".") or path.startswith(key + "."):
            return where
    return None


def _variant_problems(found: dict[Problem, list[Variant]], total: int) -> list[Problem]:
    """One problem per distinct located message, naming the variant (or variants) it occurs in."""
    out = []
    for p, variants in found.items():
        if len(variants) == 1:
            head = f"variant {variants[0].id} ({', '.join(variants[0].overrides)})"
        else:
            ids = ", ".join(v.id for v in variants[:6]) + (", ..." if len(variants) > 6 else "")
            head = f"{len(variants)} of {total} variants ({ids})"
        out.append(Problem(p.file, p.line, p.path, f"{head}: {p.message}"))
    return sorted(out, key=lambda p: (p.file, p.line or 0))


def validate_variants(design: Design, allow_large: bool = True) -> str:
    """Validate the base scenario (with ``set``) and every variant; return the base scenario's digest.

    With ``allow_large=False`` each run's estimated size is checked as well (``casesim sweep`` without
    ``--allow-large``), located like any other problem of the variant.

    Raises:
        ScenarioError: naming each failing variant and its problem, located in the experiment file
            where the offending value is written (or in the scenario file).
    """
    from casesim.scenario.schema import Scenario, size_problems, validate_data

    def checked(*resolved: Any) -> Any:
        scenario, lines = validate_data(*resolved)
        if not allow_large and (problems := size_problems(scenario, lines)):
            raise ScenarioError(problems)
        return scenario

    loaded = design.loaded
    path = loaded.scenario_path
    defaults = Scenario.model_validate({}).model_dump(mode="json")
    base_set = list(loaded.experiment.set)
    try:
        base = checked(*resolve(path, base_set, defaults=defaults))
    except ScenarioError as exc:
        raise ScenarioError(_relocate(loaded, exc.problems, None)) from None
    found: dict[Problem, list[Variant]] = {}
    for variant in design.variants:
        try:
            checked(*resolve(path, [*base_set, *variant.overrides], defaults=defaults))
        except ScenarioError as exc:
            for p in _relocate(loaded, exc.problems, variant):
                found.setdefault(p, []).append(variant)
    if found:
        problems = _variant_problems(found, len(design.variants))
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], Problem(loaded.lines.top_file, None, "",
                                                          f"... and {more} more problems")]
        raise ScenarioError(problems)
    return base.digest()


def variant_table(design: Design) -> list[dict[str, Any]]:
    """The variants as plain records (for the manifest)."""
    return [{"id": v.id, "factors": v.factors, "overrides": list(v.overrides)} for v in design.variants]

