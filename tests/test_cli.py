"""Tests for the command line: ``casesim run | validate | schema``.

Input errors must read ``file:LINE: field.path: problem``, exit with code 2, print no
traceback and write nothing. Most broken scenarios below ``extends:`` the real baseline and
break one thing, so the line numbers asserted are those of the small test file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from casesim.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
OUTPUT_FILES = {"summary.json", "timeseries.parquet", "cases.parquet", "events.parquet", "staff.parquet",
                "costs.parquet", "costs.csv", "fte.parquet", "fte.csv", "scenario.resolved.yaml", "manifest.json",
                "report.html"}
#: Overrides that make a run of the baseline take about a second.
TINY = ["--set", "time.horizon_days=60", "--set", "time.warmup_days=0", "--set", "arrivals.rate_per_day=1",
        "--set", "initial_population.by_stage={}"]


def scenario(tmp_path: Path, body: str, name: str = "scenario.yaml", extends: bool = True) -> Path:
    """Write a scenario file; with ``extends`` line 1 extends the baseline and ``body`` starts on line 2."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f"extends: {BASELINE}\n" if extends else ""
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    """Run ``casesim ARGV`` in-process; return (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def input_errors(capsys: pytest.CaptureFixture[str], *argv: Any) -> list[str]:
    """Run ``casesim ARGV`` expecting an input error; return the lines printed on stderr."""
    code, out, err = cli(capsys, *argv)
    assert code == 2, f"expected exit code 2, got {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err
    assert out == "", f"nothing should go to stdout on an input error, got {out!r}"
    lines = err.splitlines()
    assert lines, "an input error must say what is wrong"
    return lines


def only_error(capsys: pytest.CaptureFixture[str], *argv: Any) -> str:
    """Like :func:`input_errors`, expecting exactly one problem."""
    lines = input_errors(capsys, *argv)
    assert len(lines) == 1, "expected one problem, got:\n" + "\n".join(lines)
    return lines[0]


def valid_fields(line: str) -> list[str]:
    """The field names listed after ``; valid fields: `` in an unknown-field message."""
    assert "; valid fields: " in line, line
    return line.split("; valid fields: ", 1)[1].split(", ")


# --------------------------------------------------------------------------- validate: valid input


def test_validate_baseline_reports_its_contents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "validate", BASELINE)
    assert (code, err) == (0, "")
    assert out == (f"{BASELINE}: valid scenario 'baseline': 6 stages, 100 staff, 10 providers, "
                   "horizon 1461 days\n")


def test_valid_set_changes_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "validate", BASELINE, "--set", "time.horizon_days=700",
                         "--set", "name=other", "--set", "staff.0.count=10")
    assert (code, err) == (0, "")
    assert out == f"{BASELINE}: valid scenario 'other': 6 stages, 35 staff, 10 providers, horizon 700 days\n"


def test_extends_deep_merges_relative_to_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rel = os.path.relpath(BASELINE, tmp_path / "sub")
    child = scenario(tmp_path, f"extends: {rel}\nname: child\ntime:\n  horizon_days: 900\n",
                     name="sub/child.yaml", extends=False)
    code, out, err = cli(capsys, "validate", child)
    assert (code, err) == (0, "")
    # warmup_days (365 in the baseline) survives the merge of `time`: 365 < 900 is valid
    assert out == f"{child}: valid scenario 'child': 6 stages, 100 staff, 10 providers, horizon 900 days\n"
    errors = input_errors(capsys, "validate", child, "--set", "time.horizon_days=300")
    assert errors == [f"{BASELINE}:12: time.warmup_days: must be less than time.horizon_days"]


# --------------------------------------------------------------------------- validate: schema errors


def test_unknown_top_level_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, "name: t\nbogus: 1\n")
    line = only_error(capsys, "validate", file)
    assert line.startswith(f"{file}:3: bogus: unknown field 'bogus'; valid fields: ")
    fields = valid_fields(line)
    assert {"name", "seed", "time", "arrivals", "journey", "staff", "enforcement", "providers"} <= set(fields)
    assert "bogus" not in fields


def test_unknown_nested_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, """\
        staff:
          - name: x
            setting: community
            count: 3
            ftee: 0.5
        """)
    line = only_error(capsys, "validate", file)
    assert line.startswith(f"{file}:6: staff.0.ftee: unknown field 'ftee'; valid fields: ")
    assert {"name", "setting", "count", "patches", "fte"} <= set(valid_fields(line))


def test_unknown_key_in_policy_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the policy's name (a union tag) must not appear in the path, and the line is the key's
    file = scenario(tmp_path, """\
        enforcement:
          name: graduated
          warnings_before_brech: 2
        """)
    line = only_error(capsys, "validate", file)
    assert line.startswith(f"{file}:4: enforcement.warnings_before_brech: "
                           "unknown field 'warnings_before_brech'; valid fields: ")
    assert "warnings_before_breach" in valid_fields(line)


@pytest.mark.parametrize(
    ("body", "line", "path", "message"),
    [
        ("time:\n  horizon_days: lots\n", 3, "time.horizon_days", "Input should be a valid number"),
        ("staff:\n  - setting: community\n    count: many\n", 4, "staff.0.count",
         "Input should be a valid integer"),
        ("seed: no\n", 2, "seed", "Input should be a valid integer"),  # YAML 1.2: `no` is a string
        ("patches: [North, South]\n", 2, "patches", "Input should be a valid dictionary"),
    ],
    ids=["number", "integer-in-list", "no-is-not-a-bool", "list-for-mapping"],
)
def test_wrong_type(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: int, path: str,
                    message: str) -> None:
    file = scenario(tmp_path, body)
    assert only_error(capsys, "validate", file).startswith(f"{file}:{line}: {path}: {message}")


@pytest.mark.parametrize(
    ("body", "line", "path", "message"),
    [
        ("staff:\n  - setting: community\n    count: -3\n", 4, "staff.0.count",
         "Input should be greater than or equal to 0"),
        ("arrivals:\n  rate_per_day: -1\n", 3, "arrivals.rate_per_day",
         "Input should be greater than or equal to 0"),
        ("enforcement:\n  name: graduated\n  acceptable_absence_share: 1.5\n", 4,
         "enforcement.acceptable_absence_share", "Input should be less than or equal to 1"),
    ],
    ids=["negative-count", "negative-rate", "share-above-one"],
)
def test_out_of_range_value(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: int,
                            path: str, message: str) -> None:
    file = scenario(tmp_path, body)
    assert only_error(capsys, "validate", file) == f"{file}:{line}: {path}: {message}"


def test_unknown_policy_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, "seed: 3\nenforcement:\n  name: lenient\n")
    line = only_error(capsys, "validate", file)
    assert line.startswith(f"{file}:4: enforcement.name: ")
    assert "'lenient'" in line and "'graduated'" in line and "'strict'" in line


# --------------------------------------------------------------------------- validate: YAML rules


def test_duplicate_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, "seed: 1\nname: x\nseed: 2\n")
    expected = f"{file}:4: seed: duplicate key 'seed' (first defined on line 2)"
    assert only_error(capsys, "validate", file) == expected


def test_python_tag_is_refused_and_never_executed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    file = scenario(tmp_path, f"name: !!python/object/apply:os.system [\"touch {marker}\"]\n")
    line = only_error(capsys, "validate", file)
    assert line == f"{file}:2: name: tags are not allowed: !!python/object/apply:os.system"
    assert not marker.exists(), "the tagged command ran"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "{file}:1: file is empty"),
        ("- a\n- b\n", "{file}:1: top level must be a mapping of settings, not a list"),
        ("name: a\ntime: [1\n", "{file}:3: invalid YAML: "),
    ],
    ids=["empty", "list", "syntax"],
)
def test_unusable_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    file = scenario(tmp_path, text, extends=False)
    assert only_error(capsys, "validate", file).startswith(expected.format(file=file))


# --------------------------------------------------------------------------- files and extends


def test_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert only_error(capsys, "validate", missing) == f"{missing}: file not found"
    out = tmp_path / "out"
    assert only_error(capsys, "run", missing, "--out", out) == f"{missing}: file not found"
    assert not out.exists()


def test_extends_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = scenario(tmp_path, "extends: sub/b.yaml\nname: a\n", name="a.yaml", extends=False)
    b = scenario(tmp_path, "# b extends a\nextends: ../a.yaml\n", name="sub/b.yaml", extends=False)
    assert only_error(capsys, "validate", a) == f"{b}:2: extends: extends cycle: {a} -> {b} -> {a}"


def test_missing_extends_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, f"extends:\n  - {BASELINE}\n  - nothere.yaml\nname: x\n", extends=False)
    expected = f"{file}:3: extends: cannot read 'nothere.yaml': file not found"
    assert only_error(capsys, "validate", file) == expected


# --------------------------------------------------------------------------- --set


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("time.horizon_days", "--set: expected KEY=VALUE, got 'time.horizon_days'"),
        ("=3", "--set: empty key in '=3'"),
        ("time..horizon_days=3", "--set: time..horizon_days: empty segment in key"),
    ],
    ids=["no-equals", "empty-key", "empty-segment"],
)
def test_bad_set_syntax(capsys: pytest.CaptureFixture[str], override: str, expected: str) -> None:
    assert only_error(capsys, "validate", BASELINE, "--set", override) == expected


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("time.horizon_days=[1", "--set: time.horizon_days: cannot parse value '[1': invalid YAML: "),
        ("time.horizon_days=abc",
         "--set time.horizon_days=abc: time.horizon_days: Input should be a valid number"),
        ("time.horizon_days=-5",
         "--set time.horizon_days=-5: time.horizon_days: Input should be greater than 0"),
        ("staff.0.capcity=3",
         "--set staff.0.capcity=3: staff.0.capcity: unknown field 'capcity'; valid fields: "),
        ("time.warmup_days=2000",
         "--set time.warmup_days=2000: time.warmup_days: must be less than time.horizon_days"),
        ("time.horizon_days.x=1",
         "--set: time.horizon_days.x: 'time.horizon_days' is a number, not a mapping"),
        ("staff.5.count=7", "--set: staff.5.count: list index 5 out of range ('staff' has 2 items)"),
        ("seed=!!python/object/apply:os.getcwd []", "--set: seed: cannot parse value "),
    ],
    ids=["unparsable", "wrong-type", "out-of-range", "unknown-key", "cross-check", "into-a-number",
         "list-index", "python-tag"],
)
def test_bad_set_value_names_the_set(capsys: pytest.CaptureFixture[str], override: str,
                                     expected: str) -> None:
    assert only_error(capsys, "validate", BASELINE, "--set", override).startswith(expected)


# --------------------------------------------------------------------------- cross-section checks


def test_warmup_not_before_horizon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, "time:\n  horizon_days: 100\n  warmup_days: 100\n")
    expected = f"{file}:4: time.warmup_days: must be less than time.horizon_days"
    assert only_error(capsys, "validate", file) == expected


def test_unknown_patch_in_staff_patches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, """\
        staff:
          - setting: community
            count: 3
            patches: [North, Nowhere]
        """)
    assert only_error(capsys, "validate", file) == (
        f"{file}:5: staff.0.patches.1: unknown patch 'Nowhere'; "
        "valid: North, South, East, West, Central, Rural")


# A complete two-stage journey (the baseline uses the default one, with six stages).
JOURNEY = """\
name: small
journey:
  entry: COURT
  stages:
    COURT:
      setting: community
      duration: {mean_days: 28}
      next:
        ORDER: {LOW: 0.5, MEDIUM: 0.5, HIGH: 0.5}
        EXIT: {LOW: 0.5, MEDIUM: 0.5, HIGH: 0.5}
    ORDER:
      setting: community
      duration: {mean_days: 300}
      next: {EXIT: 1.0}
"""


def test_small_journey_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, JOURNEY, extends=False)
    code, out, err = cli(capsys, "validate", file)
    assert (code, err) == (0, "")
    assert out.startswith(f"{file}: valid scenario 'small': 2 stages, ")


def test_journey_probabilities_must_sum_to_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, JOURNEY.replace("EXIT: {LOW: 0.5, MEDIUM: 0.5, HIGH: 0.5}",
                                              "EXIT: {LOW: 0.4, MEDIUM: 0.4, HIGH: 0.4}"), extends=False)
    assert input_errors(capsys, "validate", file) == [
        f"{file}:8: journey.stages.COURT.next: probabilities for {risk} sum to 0.9, not 1"
        for risk in ("LOW", "MEDIUM", "HIGH")]


def test_journey_probabilities_broken_by_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, JOURNEY, extends=False)
    line = only_error(capsys, "validate", file, "--set", "journey.stages.COURT.next.EXIT.LOW=0.6")
    assert line == f"{file}:8: journey.stages.COURT.next: probabilities for LOW sum to 1.1, not 1"


def test_journey_stage_that_cannot_reach_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, JOURNEY.replace("next: {EXIT: 1.0}", "next: {ORDER: 1.0}"), extends=False)
    assert only_error(capsys, "validate", file) == (
        f"{file}:11: journey.stages.ORDER: cannot reach EXIT: every case entering it would stay forever")


# --------------------------------------------------------------------------- run


def test_run_with_broken_file_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = scenario(tmp_path, "time:\n  horizon_days: -1\n")
    expected = f"{file}:3: time.horizon_days: Input should be greater than 0"
    new = tmp_path / "new" / "out"
    assert only_error(capsys, "run", file, "--out", new, "--quiet") == expected
    assert not new.exists() and not new.parent.exists()
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("previous results")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in old.iterdir()}
    assert only_error(capsys, "run", file, "--out", old) == expected
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in old.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old", "scenario.yaml"]  # no temporary folders


def test_run_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet", "--seed", "7")
    assert code == 0, err
    assert stdout == "", "--quiet must print nothing on stdout"
    assert "Traceback" not in err
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "baseline" and summary["seed"] == 7
    assert summary["horizon_days"] == 60 and summary["warmup_days"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overrides"] == TINY[1::2]
    assert manifest["scenario_file"] == str(BASELINE)
    # without --quiet: the summary table and where the results went; the same run replaces its own folder
    # with the same figures (another seed, or a file casesim did not write in the folder, would be refused:
    # see tests/test_output_safety.py)
    code, stdout, err = cli(capsys, "run", BASELINE, *TINY, "--out", out, "--seed", "7")
    assert code == 0, err
    assert "Cases entered" in stdout and f"results written to {out}/" in stdout
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    assert json.loads((out / "summary.json").read_text()) == summary


@pytest.mark.parametrize("name", ['""', ".", "..", "../escape", "a/b"])
def test_run_refuses_a_name_unfit_for_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # name "" used to write to results/ itself, deleting every earlier result in it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "earlier").mkdir(parents=True)
    (tmp_path / "results" / "earlier" / "summary.json").write_text("{}")
    line = only_error(capsys, "run", BASELINE, *TINY, "--set", f"name={name}", "--quiet")
    assert line.startswith(f"--set name={name}: name: ")
    assert "--out" in line
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "results", "results/earlier", "results/earlier/summary.json"]


def test_run_out_below_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = only_error(capsys, "run", BASELINE, *TINY, "--out", blocker / "sub", "--quiet")
    assert line == f"{blocker / 'sub'}: --out: '{blocker}' exists and is not a directory"
    assert only_error(capsys, "run", BASELINE, *TINY, "--out", blocker, "--quiet") == (
        f"{blocker}: --out: exists and is not a directory")
    assert blocker.read_text() == "x"


def test_run_that_cannot_write_its_event_table_says_so_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # the event table is written while the metrics are computed (it has started before the summary is
    # made); its failure is the run's, named as --out's, and nothing is left
    from casesim.outputs import results

    writing, summarize = threading.Event(), results.summarize
    seen: list[bool] = []

    def full(*_a: object, **_k: object) -> None:
        writing.set()
        raise OSError(28, "No space left on device")

    def summary(*args: Any, **kwargs: Any) -> Any:
        seen.append(writing.wait(10))
        return summarize(*args, **kwargs)

    monkeypatch.setattr(results, "write_parquet_in_pieces", full)
    monkeypatch.setattr(results, "summarize", summary)
    out = tmp_path / "out"
    assert only_error(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet") == (
        f"{out}: --out: cannot write: No space left on device")
    assert seen == [True]
    assert list(tmp_path.iterdir()) == []


def test_run_that_cannot_make_its_output_says_so_before_simulating(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from casesim.outputs import results

    def refused(self: Any) -> None:
        raise PermissionError(13, "Permission denied")

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr(results.OutputDirectory, "open", refused)
    monkeypatch.setattr(results, "run", never)
    out = tmp_path / "out"
    assert only_error(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet") == (
        f"{out}: --out: cannot write: Permission denied")
    assert list(tmp_path.iterdir()) == []


def test_run_negative_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    line = only_error(capsys, "run", BASELINE, *TINY, "--seed", "-1", "--out", out, "--quiet")
    assert line == "--seed: must be a non-negative integer (got -1)"
    assert not out.exists()


# --------------------------------------------------------------------------- end to end (subprocess)


def _subprocess(*argv: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "casesim", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_subprocess_broken_run_exits_2_without_traceback(tmp_path: Path) -> None:
    file = scenario(tmp_path, "staff:\n  - setting: community\n    count: 3\n    capcity: 4\n")
    out = tmp_path / "out"
    proc = _subprocess("run", file, "--out", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"{file}:5: staff.0.capcity: unknown field 'capcity'; valid fields: ")
    assert len(proc.stderr.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "results").exists()


def test_subprocess_missing_file_and_bad_set(tmp_path: Path) -> None:
    proc = _subprocess("validate", "nope.yaml", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "nope.yaml: file not found\n")
    proc = _subprocess("validate", BASELINE, "--set", "seed=abc", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("--set seed=abc: seed: Input should be a valid integer")


# --------------------------------------------------------------------------- schema

JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = cli(capsys, "schema")
    assert (code, err) == (0, "")
    return json.loads(out)


def _walk(node: Any, where: str = "#"):
    """Yield (json-pointer, subschema) for every dict in the schema."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


def _types(prop: dict[str, Any]) -> set[str]:
    """Types a property declares, directly or through anyOf/oneOf/allOf (not through $ref)."""
    kind = prop.get("type")
    found = set([kind] if isinstance(kind, str) else kind or [])
    for key in ("anyOf", "oneOf", "allOf"):
        for option in prop.get(key, []):
            found |= _types(option)
    return found


def test_schema_is_a_well_formed_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    schema = _schema(capsys)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"name", "time", "journey", "staff", "enforcement", "extends"} <= set(schema["properties"])
    defs = schema.get("$defs", {})
    problems = []
    for where, node in _walk(schema):
        ref = node.get("$ref")
        if isinstance(ref, str) and (not ref.startswith("#/$defs/") or ref[len("#/$defs/"):] not in defs):
            problems.append(f"{where}: unresolved $ref {ref}")
        kind = node.get("type")
        if isinstance(kind, str) and not where.endswith(("/properties", "/mapping")) and kind not in JSON_TYPES:
            problems.append(f"{where}: unknown type {kind!r}")
    assert not problems, "\n".join(problems)
    try:
        import jsonschema  # optional: not a dependency of the project
    except ImportError:
        return
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_numbers_carry_unit_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    schema = _schema(capsys)
    sections = {"(top level)": schema, **{f"$defs.{name}": d for name, d in schema.get("$defs", {}).items()}}
    checked, lacking = 0, []
    for section, body in sections.items():
        for name, prop in body.get("properties", {}).items():
            if _types(prop) & {"number", "integer"}:
                checked += 1
                missing = [key for key in ("unit", "source") if key not in prop]
                if missing:
                    lacking.append(f"{section}.{name} (no {' and no '.join(missing)})")
    assert checked > 50, "the walk found too few numeric parameters: is the schema flat?"
    assert not lacking, "numeric parameters without unit/source in the schema:\n" + "\n".join(lacking)


def test_schema_accepts_a_single_number_per_risk_level(capsys: pytest.CaptureFixture[str]) -> None:
    # Scenario files may write `next: {EXIT: 1.0}` or `mean_days: 28` for a by-risk value (the
    # default journey does); a schema that only allows {LOW, MEDIUM, HIGH} objects would make an
    # editor flag valid files.
    schema = _schema(capsys)
    by_risk = schema["$defs"]["ByRisk"]
    assert "number" in _types(by_risk) or "integer" in _types(by_risk), (
        f"$defs.ByRisk allows only {sorted(_types(by_risk))}, but the loader accepts a single number")


def test_schema_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schema.json"
    code, out, err = cli(capsys, "schema", "--out", target)
    assert (code, out, err) == (0, "", "")
    assert json.loads(target.read_text()) == _schema(capsys)
    bad = tmp_path / "missing" / "schema.json"
    expected = f"{bad}: --out: cannot write: No such file or directory"
    assert only_error(capsys, "schema", "--out", bad) == expected
    assert not bad.parent.exists()
