"""Global sensitivity analysis (``casesim sensitivity``): known answers on toy functions, a tiny scenario where
one parameter cannot move the KPI, determinism, resuming, and bad input (exit 2, ``file:line: field``).

The end-to-end test starts a local Dask cluster of one worker and runs the small test scenario for 120 days
(one arrival a day, nobody on day 0), a few seconds a cluster.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casesim.cli import main
from casesim.studies.experiment import replication_seed
from casesim.studies.sensitivity import Sensitivity, analyse, build, load_sensitivity, sample
from tests.helpers import SMALL

pytestmark = [pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:"
                                         "pytest.PytestUnraisableExceptionWarning"),
              pytest.mark.filterwarnings("ignore:Port 8787 is already in use")]

ROOT = Path(__file__).resolve().parents[1]
TINY_SET = ["time.horizon_days=120", "time.warmup_days=30", "arrivals.rate_per_day=1",
            "initial_population.by_stage={}"]


def toy(method: dict, parameters: dict | None = None, seed: int = 11) -> Sensitivity:
    """An experiment that is only a sampling plan (the analysis of a toy function needs no scenario)."""
    return Sensitivity.model_validate({
        "scenario": "unused.yaml", "method": method, "kpis": ["mean_caseload"], "replications": 1, "seed": seed,
        "parameters": parameters or {"a": {"low": 0.0, "high": 1.0}, "b": {"low": 0.0, "high": 1.0},
                                     "c": {"low": 0.0, "high": 1.0}}})


def by_name(exp: Sensitivity, res: dict) -> dict[str, dict[str, float]]:
    return {k: {c: v[j] for c, v in res.items() if c != "S2"} for j, k in enumerate(exp.parameters)}


# --------------------------------------------------------------------------- known answers


def test_morris_on_a_toy_function_ranks_the_driver_first_and_gives_an_unused_parameter_zero() -> None:
    exp = toy({"name": "morris", "trajectories": 10, "levels": 4},
              {"a": {"low": 0.0, "high": 10.0}, "b": {"low": -1.0, "high": 1.0}, "c": {"low": 5.0, "high": 6.0}})
    X = sample(exp)
    assert X.shape == (10 * 4, 3)
    Y = 3.0 * X[:, 0] + X[:, 1] ** 2            # c is not used
    res = by_name(exp, analyse(exp, X, Y))
    # a linear term: every elementary effect is 3 per unit, scaled to the whole range of 10 -> mu* = 30, sigma 0
    assert res["a"]["mu_star"] == pytest.approx(30.0) and res["a"]["sigma"] == pytest.approx(0.0, abs=1e-9)
    assert res["c"]["mu_star"] == 0.0 and res["c"]["sigma"] == 0.0 and res["c"]["mu_star_conf"] == 0.0
    assert 0.0 < res["b"]["mu_star"] < res["a"]["mu_star"]
    assert res["b"]["sigma"] > 0.0           # a curved response: the effect depends on where b starts


def test_sobol_on_a_linear_function_matches_the_analytic_indices() -> None:
    exp = toy({"name": "sobol", "n": 1024})
    X = sample(exp)
    assert X.shape == (1024 * (3 + 2), 3)
    Y = X[:, 0] + 2.0 * X[:, 1]                   # Var = 1/12 + 4/12: S1 = ST = 0.2 for a, 0.8 for b, 0 for c
    res = by_name(exp, analyse(exp, X, Y))
    for name, expected in (("a", 0.2), ("b", 0.8)):
        for index in ("S1", "ST"):
            est, half = res[name][index], res[name][f"{index}_conf"]
            assert abs(est - expected) <= max(half, 0.02), (name, index, est, half)
    assert res["c"]["S1"] == 0.0 and res["c"]["ST"] == 0.0
    assert res["b"]["ST"] > res["a"]["ST"] > res["c"]["ST"]


def test_sobol_sees_an_interaction_in_st_but_not_in_s1() -> None:
    exp = toy({"name": "sobol", "n": 1024, "second_order": True},
              {"a": {"low": -1.0, "high": 1.0}, "b": {"low": -1.0, "high": 1.0}, "c": {"low": -1.0, "high": 1.0}})
    X = sample(exp)
    Y = X[:, 0] * X[:, 1]                         # a pure interaction: S1 = 0, ST = 1 for a and b; S2(a, b) = 1
    raw = analyse(exp, X, Y)
    res = by_name(exp, raw)
    for name in ("a", "b"):
        assert abs(res[name]["S1"]) <= max(res[name]["S1_conf"], 0.05)
        assert res[name]["ST"] == pytest.approx(1.0, abs=max(res[name]["ST_conf"], 0.1))
    assert raw["S2"][0][1] == pytest.approx(1.0, abs=0.15)
    assert res["c"]["ST"] == 0.0


def test_the_sample_depends_on_the_seed_only() -> None:
    morris = {"name": "morris", "trajectories": 6}
    assert np.array_equal(sample(toy(morris, seed=5)), sample(toy(morris, seed=5)))
    assert not np.array_equal(sample(toy(morris, seed=5)), sample(toy(morris, seed=6)))
    sobol = {"name": "sobol", "n": 16}
    assert np.array_equal(sample(toy(sobol, seed=5)), sample(toy(sobol, seed=5)))
    X = sample(toy(sobol, seed=5))
    Y = X[:, 0] + X[:, 1] * X[:, 2]
    e = toy(sobol, seed=5)
    assert analyse(e, X, Y) == analyse(e, X, Y)   # the bootstrap is seeded too


# --------------------------------------------------------------------------- files


def write(path: Path, body: str, *, tiny: bool = True) -> Path:
    head = f"scenario: {SMALL}\n"
    if tiny:
        head += f"set: {json.dumps(TINY_SET)}\n"
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


TINY = """\
name: tiny_sensitivity
method: {name: morris, trajectories: 3, levels: 4, quick: 2}
parameters:
  staff.0.count: {low: 10, high: 25}
  costs.custody_per_day: {low: 100.0, high: 200.0}
kpis: [mean_caseload, cases_entered, compliance_rate_of_offered]
replications: 2
seed: 9
"""


def input_error(capsys: pytest.CaptureFixture[str], *argv: object) -> list[str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, f"expected exit code 2, got {code}\n{err}"
    assert "Traceback" not in err and out == ""
    return err.splitlines()


def test_bad_input_names_file_line_and_field_and_writes_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"

    def refused(body: str) -> list[str]:
        exp = write(tmp_path / "e.yaml", body)
        lines = input_error(capsys, "sensitivity", exp, "--out", out, "--workers", 1)
        assert not out.exists(), "nothing may be written on bad input"
        return [line.replace(str(exp), "E") for line in lines]

    # a wrong field (lines: 1 scenario, 2 set, 3 name, 4 method, 5-7 parameters, 8 kpis, 9 replications)
    assert refused(TINY.replace("replications: 2", "replicates: 2")) == [
        "E:9: replicates: unknown field 'replicates'; valid fields: name, description, scenario, set, method, "
        "parameters, kpis, replications, seed"]
    # an impossible range
    assert refused(TINY.replace("{low: 10, high: 25}", "{low: 25, high: 10}")) == [
        "E:6: parameters.staff.0.count.high: must be greater than low (25)"]
    # an unknown KPI, and a dict KPI without its key
    assert refused(TINY.replace("kpis: [mean_caseload, cases_entered,", "kpis: [mean_caseloud, compliance_by_stage,")
                   ) == ["E:8: kpis.0: unknown KPI 'mean_caseloud'; the KPIs are listed in docs/kpis.md",
                         "E:8: kpis.1: 'compliance_by_stage' holds one value per key: name one, as "
                         "compliance_by_stage.<key>"]
    # an unknown scenario path: found when every point is checked against the schema, located at its line
    [line] = refused(TINY.replace("costs.custody_per_day:", "costs.custody_per_dai:"))
    assert line.startswith("E:7: parameters.costs.custody_per_dai: ") and "custody_per_dai" in line
    # a method's own rules
    [line] = refused(TINY.replace("{name: morris, trajectories: 3, levels: 4, quick: 2}", "{name: sobol, n: 48}"))
    assert line.startswith("E:4: method.n: must be a power of 2 (got 48; 32 or 64)")
    [line] = refused(TINY.replace("levels: 4", "levels: 3"))
    assert line.startswith("E:4: method.levels: must be even")
    [line] = refused(TINY.replace("name: morris", "name: morriss"))
    assert line.startswith("E:4: method") and "morris" in line and "sobol" in line


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("sensitivity*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_examples_are_valid_and_their_points_share_seeds(path: Path) -> None:
    loaded = load_sensitivity(path)
    assert loaded.scenario_path == (ROOT / "scenarios" / "baseline.yaml").resolve()
    assert len(build(loaded, quick=True).design.runs) <= 80, "--quick: about a minute on one worker"
    for quick in (True, False):
        sd = build(loaded, quick=quick)   # every point checked against the schema
        exp = loaded.experiment
        assert len(sd.X) == exp.method.size(quick) * (len(exp.parameters) + 1)
        seeds = {(r.replication, r.seed) for r in sd.design.runs}
        assert seeds == {(k, replication_seed(exp.seed, k)) for k in range(exp.replications)}, \
            "replication k must have one seed at every point (common random numbers)"
    assert build(loaded, quick=True).design.runs == build(loaded, quick=True).design.runs


def test_importing_the_schema_and_the_module_does_not_import_salib() -> None:
    code = ("import sys, casesim.scenario.schema, casesim.studies.sensitivity, casesim.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'SALib'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


# --------------------------------------------------------------------------- end to end on a tiny scenario


def outputs(out: Path) -> dict[str, bytes]:
    return {n: (out / n).read_bytes() for n in ("indices.json", "indices.csv", "points.csv")}


@pytest.mark.mesa_facing
def test_tiny_scenario_end_to_end_resume_and_determinism(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = write(tmp_path / "tiny.yaml", TINY)
    first = tmp_path / "first"
    assert main(["sensitivity", str(exp), "--workers", "1", "--out", str(first)]) == 0
    printed = capsys.readouterr().out
    assert "mu* (95% CI)" in printed and "Cases per case manager (time average)" in printed

    result = json.loads((first / "indices.json").read_text())
    kpis = {k["kpi"]: k for k in result["kpis"]}
    caseload = {i["parameter"]: i for i in kpis["mean_caseload"]["indices"]}
    # the custody day's price cannot move caseloads: with common random numbers every effect is exactly 0
    assert caseload["costs.custody_per_day"]["mu_star"] == 0.0 and caseload["costs.custody_per_day"]["sigma"] == 0.0
    assert caseload["staff.0.count"]["rank"] == 1 and caseload["staff.0.count"]["mu_star"] > 0.0
    assert caseload["staff.0.count"]["mu"] < 0.0, "more staff, fewer cases each"
    # arrivals are drawn on their own streams: neither parameter moves the cases that enter
    assert all(i["mu_star"] == 0.0 for i in kpis["cases_entered"]["indices"])
    table = pd.read_csv(first / "indices.csv")
    assert len(table) == 3 * 2 and set(table["kpi"]) == {"mean_caseload", "cases_entered",
                                                          "compliance_rate_of_offered"}
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["kind"] == "sensitivity" and manifest["state"] == "complete" and manifest["quick"] is False
    assert {(r["replication"], r["seed"]) for r in manifest["runs"]} == {(k, replication_seed(9, k)) for k in (0, 1)}
    html = (first / "sensitivity.html").read_text()
    assert "plotly.js v" in html and "<script src=" not in html and html.count("Plotly.newPlot") == 3

    # resume: an interrupted study (half its parts, no outputs) finishes to the same bytes, reusing the rest
    resumed = tmp_path / "resumed"
    shutil.copytree(first, resumed)
    parts = sorted((resumed / "parts").glob("*.parquet"))
    kept = {p.name: p.stat().st_mtime_ns for p in parts[::2]}
    for p in parts[1::2]:
        p.unlink()
    for name in ("indices.json", "indices.csv", "points.csv", "sensitivity.html"):
        (resumed / name).unlink()
    assert main(["sensitivity", str(exp), "--workers", "1", "--out", str(resumed), "--quiet"]) == 0
    assert {n: (resumed / "parts" / n).stat().st_mtime_ns for n in kept} == kept, "finished runs were redone"
    assert outputs(resumed) == outputs(first)
    # a driver killed mid-study (with its local workers), then the same command: the same bytes again
    killed = tmp_path / "killed"
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen([sys.executable, "-m", "casesim", "sensitivity", str(exp), "--workers", "1",
                                   "--out", str(killed), "--quiet"], stdout=log, stderr=subprocess.STDOUT,
                                  cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((killed / "parts").glob("*.parquet"))) < 2 and driver.poll() is None:
            assert time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
            time.sleep(0.02)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)   # the session this test started: the driver and its workers
        driver.wait(timeout=60)
    assert not (killed / "indices.json").exists(), "the driver must die mid-study"
    assert main(["sensitivity", str(exp), "--workers", "1", "--out", str(killed), "--quiet"]) == 0
    assert outputs(killed) == outputs(first)
    assert not list((killed / "parts").glob(".*")), "no temporary part is left"
    # a finished study run again: no run, the same bytes again (determinism of the analysis)
    assert main(["sensitivity", str(exp), "--out", str(first), "--scheduler", "tcp://127.0.0.1:9", "--quiet"]) == 0
    assert outputs(first) == outputs(resumed)
    capsys.readouterr()

    # the same folder with --quick, or after the file changed: refused, untouched
    before = outputs(first)
    [line] = input_error(capsys, "sensitivity", exp, "--out", first, "--quick")
    assert line.startswith(f"{first}: --out: holds a full study of this experiment, not a --quick one")
    changed = exp.with_name("changed.yaml")
    changed.write_text(exp.read_text() + "# a comment changes the file\n")
    [line] = input_error(capsys, "sensitivity", changed, "--out", first)
    assert line.startswith(f"{changed}: the experiment file changed since the study in {first} started")
    assert outputs(first) == before
    # a sweep's folder is not a study's
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "manifest.json").write_text(json.dumps({"kind": "sweep", "casesim_version": "0"}))
    [line] = input_error(capsys, "sensitivity", exp, "--out", tmp_path / "sweep")
    assert "holds a casesim sweep result, not a sensitivity study" in line
    assert math.isfinite(kpis["mean_caseload"]["noise_se"])


@pytest.mark.mesa_facing
def test_sobol_on_the_tiny_scenario_gives_an_unused_parameter_no_share(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    exp = write(tmp_path / "sobol.yaml", TINY.replace("{name: morris, trajectories: 3, levels: 4, quick: 2}",
                                                      "{name: sobol, n: 64, quick: 4}").replace("replications: 2",
                                                                                                "replications: 1"))
    out = tmp_path / "out"
    assert main(["sensitivity", str(exp), "--quick", "--workers", "1", "--out", str(out)]) == 0
    assert "S1 (95% CI)" in capsys.readouterr().out
    result = json.loads((out / "indices.json").read_text())
    assert result["quick"] is True and result["sample_rows"] == 4 * (2 + 2)
    kpis = {k["kpi"]: k for k in result["kpis"]}
    caseload = {i["parameter"]: i for i in kpis["mean_caseload"]["indices"]}
    assert caseload["costs.custody_per_day"]["S1"] == 0.0 and caseload["costs.custody_per_day"]["ST"] == 0.0
    assert caseload["staff.0.count"]["rank"] == 1 and caseload["staff.0.count"]["ST"] > 0.5
    # a KPI no parameter moves: a variance of 0, every share 0, said so
    entered = kpis["cases_entered"]
    assert [i["ST"] for i in entered["indices"]] == [0.0, 0.0] and "same value at every point" in entered["note"]
    assert (out / "sensitivity.html").read_text().count("Plotly.newPlot") == 3
