"""Perturbed scenarios never crash, hang or exhaust memory: they validate (or run) briefly, or are refused.

The base is the small test scenario with every parameter written out (its resolved form), so a
perturbation can reach any field of the schema. Each perturbation sets a number to an extreme (0,
negatives, 1e308, 1e-9, huge integers, infinities, NaN), flips a sign, gives a value of the wrong type,
writes one number for a value by risk level, drops a key or list item, empties a list or mapping, or
duplicates or deletes a line of the YAML text.
The CLI runs in a subprocess with 3 GiB of address space and a time limit; every outcome must be a
success or exit 2 with every line ``file:line: field: problem`` (or, for a ``--set`` value, ``--set
...: field: problem``), and never a traceback.

Hypothesis runs derandomized (a fixed sequence of examples), without its example database and without
shrinking, so CI sees the same examples every time; several documents share one subprocess to keep the
test to well under a minute.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from casesim.scenario.schema import load_scenario
from casesim.scenario.yamlio import dump_yaml

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "data" / "small.yaml"
MEMORY = 3 << 30          # bytes of address space for the CLI
TIMEOUT = 60              # seconds for one subprocess (several documents)
BATCH = 12                # documents validated per subprocess
#: A short run whatever the document says (the perturbations of these fields are overridden).
SHORT = ["--set", "time.horizon_days=20", "--set", "time.warmup_days=0", "--set", "arrivals.rate_per_day=1",
         "--set", "arrivals.periods=[]", "--set", "initial_population.by_stage={}"]

NUMBERS: list[Any] = [0, 0.0, -1, 1, 0.5, -0.5, 1e-9, -1e-9, 1e308, -1e308, 1e9, 2**63, -(2**63), 10**30,
                      math.inf, -math.inf, math.nan, 100_000]
WRONG: list[Any] = ["text", "", None, True, [], {}, [1, 2], {"key": 1}]

BASE: dict[str, Any] = load_scenario(SMALL)[0].model_dump(mode="json")

#: Runs ``casesim.cli.main`` on each argv of a JSON list, printing [code, stdout, stderr] for each. An
#: exception escaping ``main`` ends it with a traceback and no JSON: the test fails on that.
DRIVER = """
import contextlib, io, json, sys
from casesim.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def through_cli(argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    """Every argv through the CLI in one subprocess under the memory and time limits."""
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argvs)], capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_limit_memory, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (
        f"the CLI crashed (exit {proc.returncode}) on {argvs}:\n{proc.stderr[-3000:]}")
    return [(code, out, err) for code, out, err in json.loads(proc.stdout)]


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) below ``data``, containers included."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield (*prefix, key), value
        yield from paths(value, (*prefix, key))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@st.composite
def perturbed(draw: st.DrawFn, most: int = 3, kinds: tuple[str, ...] = (
        "number", "number", "number", "number", "flip", "flip", "collapse", "type", "drop", "empty",
        "dup_line", "drop_line")) -> str:
    """The base scenario's YAML text with 1 to ``most`` perturbations of the ``kinds`` given."""
    data = copy.deepcopy(BASE)
    text_edits: list[tuple[str, int]] = []
    for _ in range(draw(st.integers(1, most))):
        kind = draw(st.sampled_from(kinds))
        found = list(paths(data))
        numbers = [p for p, v in found if _is_number(v)]
        containers = [p for p, v in found if isinstance(v, (dict, list)) and v]
        by_risk = [p for p, v in found if isinstance(v, dict) and set(v) == {"LOW", "MEDIUM", "HIGH"}]
        if kind in ("number", "flip") and numbers:
            path = draw(st.sampled_from(numbers))
            value = draw(st.sampled_from(NUMBERS)) if kind == "number" else -_parent(data, path)[path[-1]] or -1
            _parent(data, path)[path[-1]] = value
        elif kind == "collapse" and by_risk:   # one number for every risk level, as files may write
            path = draw(st.sampled_from(by_risk))
            _parent(data, path)[path[-1]] = draw(st.sampled_from(NUMBERS))
        elif kind == "type" and found:
            path = draw(st.sampled_from([p for p, _ in found]))
            _parent(data, path)[path[-1]] = copy.deepcopy(draw(st.sampled_from(WRONG)))
        elif kind == "drop" and found:
            path = draw(st.sampled_from([p for p, _ in found]))
            del _parent(data, path)[path[-1]]
        elif kind == "empty" and containers:
            path = draw(st.sampled_from(containers))
            _parent(data, path)[path[-1]] = type(_parent(data, path)[path[-1]])()
        elif kind in ("dup_line", "drop_line"):
            text_edits.append((kind, draw(st.integers(0, 10_000))))
    lines = dump_yaml(data).splitlines(keepends=True)
    for kind, at in text_edits:
        if lines:
            i = at % len(lines)
            lines[i:i + 1] = [lines[i], lines[i]] if kind == "dup_line" else []
    return "".join(lines)


def problem_lines_ok(err: str, file: str) -> list[str]:
    """The lines of ``err`` that are not ``file:line: [field: ]problem`` or ``--set ...: field: problem``."""
    located = re.compile(rf"^{re.escape(file)}:\d+: \S.*$")
    from_set = re.compile(r"^--set( \S.*?)?: \S.*$")
    return [line for line in err.splitlines() if not (located.match(line) or from_set.match(line))]


#: No shrinking: each example is a subprocess, so shrinking a failure would take many minutes; the failing
#: document is printed whole instead.
FUZZ = settings(derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


@settings(FUZZ, max_examples=6)
@given(st.lists(perturbed(), min_size=BATCH, max_size=BATCH))
def test_perturbed_scenarios_validate_or_are_refused_cleanly(documents: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i, text in enumerate(documents):
            files.append(Path(folder) / f"s{i}.yaml")
            files[-1].write_text(text, encoding="utf-8")
        results = through_cli([["validate", str(f)] for f in files])
    for file, text, (code, out, err) in zip(files, documents, results, strict=True):
        where = f"\n--- {file.name} ---\n{text[:2000]}"
        assert code in (0, 2), f"exit {code}: {err}{where}"
        if code == 0:
            assert out.startswith(f"{file}: valid scenario ") and err == "", where
        else:
            assert out == "" and err, where
            bad = problem_lines_ok(err, str(file))
            assert not bad, "not file:line: field: problem:\n" + "\n".join(bad) + where


@settings(FUZZ, max_examples=3)
@given(perturbed(most=1, kinds=("number", "flip", "collapse")))
@example(dump_yaml(BASE))   # and the scenario as it is: at least one run goes to the end
def test_perturbed_scenarios_run_briefly_or_are_refused_cleanly(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file, out_dir = Path(folder) / "s.yaml", Path(folder) / "out"
        file.write_text(text, encoding="utf-8")
        [(code, out, err)] = through_cli([["run", str(file), "--quiet", "--out", str(out_dir), *SHORT]])
        assert code in (0, 2), f"exit {code}: {err}\n{text[:2000]}"
        assert "Traceback" not in err
        if code == 0:
            assert (out_dir / "summary.json").exists()
        else:
            assert not out_dir.exists(), "a refused run must write nothing"
            bad = problem_lines_ok(err, str(file))
            assert not bad, "not file:line: field: problem:\n" + "\n".join(bad)
