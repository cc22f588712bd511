"""Plausibility bounds, the size ceiling, stays that take time, non-negative weights and bounded reads.

One test (or a few) per defect of the hardening issue: each asserts the exact ``file:line: field: problem``
line, exit code 2, and that nothing was written. Scenario files below either extend the small test
scenario (line 1) or are standalone with a complete two-stage journey, so the line numbers are those of
the file the test writes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from casesim.cli import main
from casesim.scenario.schema import EVENT_CEILING, TICK_CEILING, estimate_size, load_scenario
from casesim.scenario.yamlio import MAX_INPUT_BYTES, ScenarioError
from casesim.studies.experiment import RUN_CEILING, design_size, load_experiment

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "data" / "small.yaml"
NATIONAL = ROOT / "scenarios" / "england_wales_national.yaml"
ADVICE = "pass --allow-large to run it anyway"

# A complete two-stage journey: COURT's activities are on line 9, ORDER's duration on line 17.
JOURNEY = """\
name: bounds
time: {horizon_days: 60, warmup_days: 0}
initial_population: {by_stage: {}}
journey:
  entry: COURT
  stages:
    COURT:
      setting: community
      activities: [assess]
      duration: {mean_days: 28}
      next:
        ORDER: {LOW: 0.5, MEDIUM: 0.5, HIGH: 0.5}
        EXIT: {LOW: 0.5, MEDIUM: 0.5, HIGH: 0.5}
    ORDER:
      setting: community
      activities: [contacts]
      duration: {mean_days: 300}
      next: {EXIT: 1.0}
      on_breach: {to: COURT, event: return_to_court}
"""


@pytest.fixture(autouse=True)
def nothing_is_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command here must stop before simulating: a guard that let a huge run through would fail the
    test at once instead of taking the machine's memory for hours."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a run was started: the input should have been refused first")

    monkeypatch.setattr("casesim.outputs.results.run", refuse)
    monkeypatch.setattr("casesim.outputs.results.Simulation", refuse)


def write(tmp_path: Path, body: str, name: str = "scenario.yaml", extends: bool = True) -> Path:
    """A scenario file; with ``extends`` line 1 extends the small test scenario and ``body`` starts on line 2."""
    path = tmp_path / name
    head = f"extends: {SMALL}\n" if extends else ""
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


def refused(capsys: pytest.CaptureFixture[str], *argv: Any) -> list[str]:
    """Run ``casesim ARGV`` in-process expecting exit 2; return the problem lines."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, f"expected exit 2, got {code}\nstdout: {out}\nstderr: {err}"
    assert out == "" and "Traceback" not in err
    return err.splitlines()


def refused_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, file: Path, *extra: Any) -> list[str]:
    """``casesim run FILE`` expecting exit 2 and no output folder."""
    out = tmp_path / "out"
    lines = refused(capsys, "run", file, "--quiet", "--out", out, *extra)
    assert not out.exists(), "a refused run must write nothing"
    return lines


# --------------------------------------------------------------------------- 4: plausible ranges and ceilings


@pytest.mark.parametrize(("body", "line", "path", "message"), [
    ("time:\n  horizon_days: 1.0e+308\n", 3, "time.horizon_days", "Input should be less than or equal to 36500"),
    ("time:\n  tick_days: 1.0e-6\n", 3, "time.tick_days", "Input should be greater than or equal to 0.01"),
    ("arrivals:\n  rate_per_day: 1.0e+9\n", 3, "arrivals.rate_per_day",
     "Input should be less than or equal to 100000"),
    ("modes:\n  BROKERAGE: {contact_interval_days: 1.0e-9, cost_per_contact: 2, "
     "intensity: 0.3}\n", 3, "modes.BROKERAGE.contact_interval_days",
     "Input should be greater than or equal to 0.5"),
    ("initial_population:\n  by_stage:\n    CUSTODY: 100000000\n", 4, "initial_population.by_stage.CUSTODY",
     "Input should be less than or equal to 10000000"),
    ("compliance:\n  intercept: -1000\n", 3, "compliance.intercept",
     "Input should be greater than or equal to -20"),
], ids=["horizon", "tick", "arrivals", "contact-interval", "initial-population", "logit"])
def test_implausible_values_are_refused_at_their_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                                       line: int, path: str, message: str) -> None:
    file = write(tmp_path, body)
    assert refused_run(capsys, tmp_path, file) == [f"{file}:{line}: {path}: {message}"]


def test_ten_million_staff_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "staff:\n  - {setting: community, count: 10000000}\n")
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:3: staff.0.count: Input should be less than or equal to 100000"]


def test_a_run_over_the_event_ceiling_is_refused_unless_allowed(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "arrivals:\n  rate_per_day: 50000\n")   # within the bound; 36.5 million cases
    [line] = refused_run(capsys, tmp_path, file)
    assert line.startswith(f"{file}:3: arrivals.rate_per_day: the run would be about ")
    assert f"events (ceiling {EVENT_CEILING:,});" in line and line.endswith(ADVICE)
    assert refused(capsys, "validate", file) == [line]   # validate says the same
    assert main(["validate", str(file), "--allow-large"]) == 0
    assert "valid scenario" in capsys.readouterr().out
    # the library does what it is told; the guard is asked for explicitly
    scenario, _ = load_scenario(file)
    assert estimate_size(scenario).events > EVENT_CEILING
    with pytest.raises(ScenarioError):
        load_scenario(file, allow_large=False)


def test_a_huge_initial_stock_over_a_short_horizon_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # nine million cases are built at day 0 whatever the horizon: their memory counts too
    file = write(tmp_path, "time: {horizon_days: 2, warmup_days: 0}\ninitial_population:\n  by_stage:\n"
                           "    NON_CUSTODIAL: 5000000\n    CUSTODY: 9000000\n")
    [line] = refused_run(capsys, tmp_path, file)
    assert line.startswith(f"{file}:6: initial_population.by_stage.CUSTODY: the run would be about ")
    assert line.endswith(ADVICE)


def test_too_many_ticks_are_refused_at_the_tick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "time:\n  horizon_days: 36500\n  warmup_days: 0\n  tick_days: 0.1\n"
                           "arrivals: {rate_per_day: 0.01}\ninitial_population: {by_stage: {}}\n")
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:5: time.tick_days: the run would be about 365,000 ticks (ceiling {TICK_CEILING:,}): "
        f"time.horizon_days 36500 / time.tick_days 0.1; {ADVICE}"]


def test_the_national_preset_passes_with_headroom(capsys: pytest.CaptureFixture[str]) -> None:
    scenario, _ = load_scenario(NATIONAL, allow_large=False)
    size = estimate_size(scenario)
    # about 48 million rows in practice: the estimate errs high, and the ceiling is twice it and more
    assert size.events > 48e6 and 2 * size.events < EVENT_CEILING
    # about 270,000 at day 0 and 300 a day from outside for five years (the estimate counts no returns: people
    # coming back, about 22% of new cases, are in the events' margin)
    assert 7.8e5 < size.cases < 8.5e5
    assert main(["validate", str(NATIONAL)]) == 0
    capsys.readouterr()
    # the largest arrival rate the schema allows, on the national preset, is far over the ceiling
    line = refused(capsys, "validate", NATIONAL, "--set", "arrivals.rate_per_day=100000")[0]
    assert line.startswith("--set arrivals.rate_per_day=100000: arrivals.rate_per_day: the run would be about ")


def test_a_factorial_of_ten_million_variants_is_refused_before_it_is_expanded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    factors = "".join(f"  staff.0.count.x{i}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" for i in range(7))
    exp = tmp_path / "big.yaml"
    exp.write_text(f"scenario: {SMALL}\nreplications: 2\nseed: 1\nfactors:\n{factors}", encoding="utf-8")
    assert design_size(load_experiment(exp).experiment) == (10**7, 2 * 10**7)
    out = tmp_path / "sweep"
    # (in a subprocess with 3 GiB: a guard that expanded the design first would fail, not fill the machine)
    assert cli_guarded(["sweep", exp, "--out", out, "--quiet"]) == [
        (2, f"{exp}:4: factors: the sweep would be about 20,000,000 runs (10,000,000 variants x 2 "
            f"replications; ceiling {RUN_CEILING:,}); {ADVICE}\n")]
    assert not out.exists()


def test_a_sweep_whose_variant_is_too_large_points_at_the_factor(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "rates.yaml"
    exp.write_text(f"scenario: {SMALL}\nreplications: 1\nseed: 1\nfactors:\n"
                   "  arrivals.rate_per_day: [3, 50000]\n", encoding="utf-8")
    [(code, err)] = cli_guarded(["sweep", exp, "--out", tmp_path / "sweep", "--quiet"])
    [line] = err.splitlines()
    assert code == 2 and line.startswith(
        f"{exp}:5: factors.arrivals.rate_per_day.1: variant v001 (arrivals.rate_per_day=50000): "
        "arrivals.rate_per_day: the run would be about ")
    assert line.endswith(ADVICE) and not (tmp_path / "sweep").exists()


def test_every_numeric_parameter_has_a_documented_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    sections = {"(top level)": schema, **schema["$defs"]}
    unbounded, unexplained, checked = [], [], 0

    def numeric(node: dict[str, Any]) -> list[dict[str, Any]]:
        found = [node] if node.get("type") in ("number", "integer") else []
        for option in node.get("anyOf", []):
            found += numeric(option)
        extra = node.get("additionalProperties")
        return found + (numeric(extra) if isinstance(extra, dict) else [])

    for section, body in sections.items():
        for name, prop in body.get("properties", {}).items():
            for leaf in numeric(prop):
                checked += 1
                where = f"{section}.{name}"
                if not ({"minimum", "exclusiveMinimum"} & set(leaf) and {"maximum", "exclusiveMaximum"} & set(leaf)):
                    unbounded.append(where)
                if "limit" not in prop and "limit" not in leaf:
                    unexplained.append(where)
    assert checked > 90   # (98 when written: the walk must not silently find nothing)
    assert not unbounded, "numeric parameters without a lower and an upper bound: " + ", ".join(unbounded)
    assert not unexplained, "upper bounds without a reason (limit): " + ", ".join(unexplained)


def test_keeping_a_contact_far_over_a_tiny_capacity_is_improbable_not_an_overflow() -> None:
    # capacity 0.001 (within its range) makes the pressure term thousands of logits: exp() would overflow
    from types import SimpleNamespace

    from casesim.engine.process import ComplianceModel

    scenario, _ = load_scenario(SMALL)
    case = SimpleNamespace(logit0=None, risk="HIGH", mode="BROKERAGE", propensity=0.0, motivation=0.5,
                           holder_since=0.0, unmet=0, sanction=None)
    model = ComplianceModel(scenario)
    assert model.probability(case, 10.0, pressure=40_000.0) == 0.0
    assert 0.0 < model.probability(case, 10.0, pressure=1.0) < 1.0


# --------------------------------------------------------------------------- 5: every stay takes time


@pytest.mark.parametrize(("old", "new", "path"), [
    ("{mean_days: 300}", "{mean_days: 0}", "journey.stages.ORDER.duration.mean_days"),
    ("{mean_days: 300}", "{dist: fixed, mean_days: -30}", "journey.stages.ORDER.duration.mean_days"),
    ("{mean_days: 300}", "{mean_days: {LOW: 300, MEDIUM: 0, HIGH: 300}}",
     "journey.stages.ORDER.duration.mean_days.MEDIUM"),
    ("{mean_days: 300}", "{mean_days: 300, offence_multiplier: {violent: 0}}",
     "journey.stages.ORDER.duration.offence_multiplier.violent"),
], ids=["zero", "fixed-negative", "one-level-zero", "offence-multiplier-zero"])
def test_a_stay_without_time_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str,
                                        path: str) -> None:
    file = write(tmp_path, JOURNEY.replace(old, new), extends=False)
    assert refused_run(capsys, tmp_path, file) == [f"{file}:17: {path}: Input should be greater than 0"]


def test_a_zero_length_self_loop_of_one_risk_level_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    body = JOURNEY.replace("{mean_days: 300}", "{mean_days: 0}").replace(
        "next: {EXIT: 1.0}", "next: {ORDER: {LOW: 1, MEDIUM: 0, HIGH: 0}, EXIT: {LOW: 0, MEDIUM: 1, HIGH: 1}}")
    file = write(tmp_path, body, extends=False)
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:17: journey.stages.ORDER.duration.mean_days: Input should be greater than 0"]


def test_a_provider_duration_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "providers:\n  - {name: p, setting: community, need: employment, places: 3,\n"
                           "     duration: {mean_days: 0}}\n")
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:4: providers.0.duration.mean_days: Input should be greater than 0"]


def test_a_breach_cycle_with_no_time_passing_is_refused_naming_its_stages(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = JOURNEY.replace("activities: [assess]", "activities: [assess, contacts]\n"
                           "      on_breach: {to: ORDER, event: return_to_court}")
    body += "process: {first_contact_days: 0}\n"
    file = write(tmp_path, body, extends=False)
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:10: journey.stages.COURT.on_breach.to: breach routes COURT -> ORDER -> COURT can loop with no "
        "time passing: each stay's first contact is due the moment it begins (process.first_contact_days is 0), "
        "so a case that misses it is breached on at once; set process.first_contact_days above 0 or break the "
        "cycle"]
    # the same routes are fine once a stay must last a moment before its first contact
    file.write_text(body.replace("first_contact_days: 0", "first_contact_days: 0.5"), encoding="utf-8")
    assert main(["validate", str(file)]) == 0


# --------------------------------------------------------------------------- 6: weights are not negative


@pytest.mark.parametrize(("body", "line", "path"), [
    ("patches: {North: -1, South: 1, East: 1, West: 1, Central: 1, Rural: 1}\n", 2, "patches.North"),
    ("arrivals:\n  risk_mix: {LOW: -0.1, MEDIUM: 0.9, HIGH: 0.2}\n", 3, "arrivals.risk_mix.LOW"),
    ("arrivals:\n  offence_mix: {general: 1.0, violent: -0.2}\n", 3, "arrivals.offence_mix.violent"),
    ("staff:\n  - {name: part_time, setting: community, count: 3, fte: -0.5}\n", 3, "staff.0.fte"),
    ("costs:\n  workload:\n    contact: {BROKERAGE: -1}\n", 4, "costs.workload.contact.BROKERAGE"),
], ids=["patch", "risk-mix", "offence-mix", "staff-fte", "contact-hours"])
def test_a_negative_weight_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: int,
                                      path: str) -> None:
    file = write(tmp_path, body)
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:{line}: {path}: Input should be greater than or equal to 0"]


def test_patch_weights_need_a_positive_sum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "patches: {North: 0, South: 0, East: 0, West: 0, Central: 0, Rural: 0}\n")
    assert refused_run(capsys, tmp_path, file) == [
        f"{file}:2: patches: needs at least one patch with a positive weight"]


# --------------------------------------------------------------------------- 7: bounded reads

#: Runs ``casesim.cli.main`` on each argv (a JSON list on the command line), printing [code, stderr] pairs.
DRIVER = """
import contextlib, io, json, sys
from casesim.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def cli_guarded(*argvs: list[Any]) -> list[tuple[int, str]]:
    """Each argv through the CLI in one subprocess, with 3 GiB of memory and a minute: a hang or a memory
    blow-up fails the test instead of the machine."""
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([[str(a) for a in argv] for argv in argvs])],
                          capture_output=True, text=True, timeout=60, preexec_fn=_limits, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return [(code, err) for code, err in json.loads(proc.stdout)]


def test_devices_pipes_and_oversized_files_are_refused_without_reading_them(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    child = write(tmp_path, "extends: pipe.yaml\nname: child\n", name="child.yaml", extends=False)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_INPUT_BYTES + "\nname: big\n", encoding="utf-8")
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(f"scenario: {fifo}\nreplications: 1\nseed: 1\nfactors: {{seed: [1, 2]}}\n")
    out = tmp_path / "out"
    results = cli_guarded(["validate", "/dev/zero"], ["validate", fifo], ["validate", child],
                          ["run", big, "--quiet", "--out", out], ["sweep", fifo, "--out", out, "--quiet"],
                          ["sweep", experiment, "--out", out, "--quiet"])
    assert results == [
        (2, "/dev/zero: not a regular file (a character device)\n"),
        (2, f"{fifo}: not a regular file (a named pipe)\n"),
        (2, f"{child}:1: extends: cannot read 'pipe.yaml': not a regular file (a named pipe)\n"),
        (2, f"{big}: larger than 1 MiB, the limit for an input file (a scenario or experiment is a few "
            "kilobytes)\n"),
        (2, f"{fifo}: not a regular file (a named pipe)\n"),
        (2, f"{experiment}:1: scenario: cannot read '{fifo}': is not a file (looked for {fifo})\n"),
    ]
    assert not out.exists()


# --------------------------------------------------------------------------- seeds, run counts, output paths


def test_a_seed_outside_the_schema_range_is_refused_by_every_command_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from casesim.scenario.schema import Scenario

    high = next(m.le for m in Scenario.model_fields["seed"].metadata if getattr(m, "le", None) is not None)
    too_high = f"--seed: must be at most {high} (fits a signed 64-bit integer, as the result tables store it) " \
               f"(got {high + 1})"
    out, book = tmp_path / "out", tmp_path / "book.xlsx"
    for command in (["run", SMALL, "--quiet", "--out", out], ["costs", SMALL, "--xlsx", book],
                    ["compare", SMALL, SMALL, "--quiet", "--out", out]):
        assert refused(capsys, *command, "--seed", high + 1) == [too_high]
        assert refused(capsys, *command, "--seed", -1) == ["--seed: must be a non-negative integer (got -1)"]
    assert sorted(tmp_path.iterdir()) == []


def test_compare_and_staff_over_the_run_ceiling_are_refused_unless_allowed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    guard = (f"over the ceiling of {RUN_CEILING:,} that guards against a typo starting runs that cannot finish; "
             "pass --allow-large to run them anyway")
    # (in a subprocess with a time limit: compare's worker processes and the staffing search would run for
    # ever, out of reach of this module's guard against simulating)
    assert cli_guarded(["compare", SMALL, SMALL, "--replications", 100_000_000, "--out", out, "--quiet"],
                       ["staff", SMALL, "--target", "mean_caseload<=40", "--replications", 100_000_000,
                        "--out", out, "--quiet"]) == [
        (2, f"--replications: 2 scenarios x 100,000,000 replications are 200,000,000 runs, {guard}\n"),
        (2, f"--replications: each staff count tried would be 100,000,000 runs, {guard}\n")]
    assert not out.exists()


def test_a_sweep_too_large_to_expand_is_refused_even_with_allow_large(tmp_path: Path) -> None:
    from casesim.cli import SWEEP_RUN_LIMIT

    exp = tmp_path / "huge.yaml"
    exp.write_text(f"scenario: {SMALL}\nreplications: 100000\nseed: 1\nsample:\n  count: 100000\n  ranges:\n"
                   "    time.horizon_days: {low: 60, high: 90}\n", encoding="utf-8")
    out = tmp_path / "sweep"
    # (in a subprocess with 3 GiB: expanding 10^10 runs would otherwise be a MemoryError or fill the machine)
    assert cli_guarded(["sweep", exp, "--out", out, "--quiet", "--allow-large"]) == [
        (2, f"{exp}:5: sample.count: the sweep would be 10,000,000,000 runs (100,000 variants x 100,000 "
            f"replications); at most {SWEEP_RUN_LIMIT:,} can be run, even with --allow-large: expanding more "
            "would exhaust memory; split it into several experiments\n")]
    assert not out.exists()


def test_output_files_that_are_not_regular_files_are_refused_without_touching_them(tmp_path: Path) -> None:
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    argvs, expected = [], []
    for target in (fifo, Path("/dev/zero"), folder):
        argvs += [["schema", "--out", target], ["costs", SMALL, "--xlsx", target]]
        expected += [(2, f"{target}: --out: exists and is not a regular file\n"),
                     (2, f"{target}: --xlsx: exists and is not a regular file\n")]
    # (in a subprocess with a time and memory limit: a pipe would block for ever, /dev/zero fill the memory)
    assert cli_guarded(*argvs) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ff", "folder"] and not any(folder.iterdir())


def test_names_longer_than_the_file_system_allows_are_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    long = "y" * 300
    for command, option in ((["run", SMALL, "--quiet"], "--out"), (["compare", SMALL, SMALL, "--quiet"], "--out"),
                            (["staff", SMALL, "--target", "mean_caseload<=40", "--quiet"], "--out"),
                            (["costs", SMALL], "--xlsx"), (["schema"], "--out")):
        for path in (long, f"deeper/{long}/x"):
            assert refused(capsys, *command, option, path) == [f"{path}: {option}: cannot use: File name too long"]
    name = "é" * 300   # (600 bytes in UTF-8)
    assert refused(capsys, "run", SMALL, "--quiet", "--set", f"name={name}") == [
        f"--set name={name}: name: cannot be used as the output folder name (File name too long); choose another "
        "name or give --out"]
    assert sorted(tmp_path.iterdir()) == []
