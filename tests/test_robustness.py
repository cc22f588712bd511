"""Robustness of a comparison (``casesim robustness``): the Wilson interval against known values, a scenario
against itself (every difference exactly 0), a pair whose direction is certain (more staff: lower caseload
pressure at every point), determinism, and bad input (exit 2, ``file:line: field``, nothing written).

The runs go to one in-process Dask worker shared by the tests (``--scheduler``) and use the small test scenario
for 120 days with one arrival a day: a fraction of a second each.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from casesim.cli import main
from casesim.studies.robustness import Z95, build, load_robustness, verdict, wilson
from casesim.studies.sweep import mean_ci
from tests.helpers import SMALL

pytestmark = [pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:"
                                         "pytest.PytestUnraisableExceptionWarning"),
              pytest.mark.filterwarnings("ignore:Port 8787 is already in use")]

ROOT = Path(__file__).resolve().parents[1]
TINY_SET = ["time.horizon_days=120", "time.warmup_days=30", "arrivals.rate_per_day=1",
            "initial_population.by_stage={}"]


# --------------------------------------------------------------------------- the statistics


def test_wilson_interval_matches_known_values() -> None:
    # all wins: the lower bound is n / (n + z^2) (Wilson 1927); 10 of 10 -> 0.7225
    low, high = wilson(10, 10)
    assert low == pytest.approx(10 / (10 + Z95 ** 2), abs=1e-12) and low == pytest.approx(0.72246, abs=1e-5)
    assert high == 1.0
    # 8 of 10: the textbook 95% Wilson interval (0.4902, 0.9433)
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    # 0 of 20 mirrors 20 of 20
    assert wilson(0, 20) == pytest.approx((0.0, 1 - wilson(20, 20)[0]))
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_verdict_reads_the_interval_on_the_kpis_better_side() -> None:
    assert verdict("lower", -2.0, -3.0, -1.0) == "clearly better"
    assert verdict("higher", -2.0, -3.0, -1.0) == "clearly worse"
    assert verdict("lower", -0.5, -1.0, 0.5) == "not distinguishable"
    assert verdict("lower", 0.0, 0.0, 0.0) == "not distinguishable"   # a tie is never clear
    assert verdict("lower", -1.0, math.nan, math.nan) == "not distinguishable"   # one replication: no interval
    ci = mean_ci([1.0, 1.0, 1.0])   # no noise, a difference: the interval is the point, clear
    assert verdict("higher", ci.mean, ci.ci_low, ci.ci_high) == "clearly better"


# --------------------------------------------------------------------------- files


def write(path: Path, a: Path | str, b: Path | str, body: str) -> Path:
    head = f"a: {a}\nb: {b}\nset: {json.dumps(TINY_SET)}\n"
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


STUDY = """\
name: tiny_robustness
parameters:
  compliance.intercept: {low: 2.8, high: 3.6}
  staff.1.count: {low: 6, high: 10}
kpis:
  mean_caseload_pressure: lower
  compliance_rate_of_offered: higher
sample: {method: lhs, n: 6, quick: 4}
replications: 3
seed: 17
"""


def more_staff(tmp_path: Path) -> Path:
    """The small scenario with twice its community case managers (50 instead of 25)."""
    path = tmp_path / "more_staff.yaml"
    path.write_text(textwrap.dedent(f"""\
        extends: {SMALL}
        name: more_staff
        staff:
          - {{name: probation_practitioners, setting: community, count: 50,
             patches: [North, South, East, West, Central, North, South, East, West, Central, Rural]}}
          - {{name: prison_offender_managers, setting: custody, count: 8}}
        """), encoding="utf-8")
    return path


def input_error(capsys: pytest.CaptureFixture[str], *argv: object) -> list[str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, f"expected exit code 2, got {code}\n{err}"
    assert "Traceback" not in err and out == ""
    return err.splitlines()


def test_bad_input_names_file_line_and_field_and_writes_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"

    def refused(body: str, b: Path | str = SMALL) -> list[str]:
        exp = write(tmp_path / "e.yaml", SMALL, b, body)
        lines = input_error(capsys, "robustness", exp, "--out", out, "--workers", 1)
        assert not out.exists(), "nothing may be written on bad input"
        return [line.replace(str(exp), "E") for line in lines]

    # lines: 1 a, 2 b, 3 set, 4 name, 5-7 parameters, 8-10 kpis, 11 sample, 12 replications, 13 seed
    assert refused(STUDY.replace("replications: 3", "replicates: 3")) == [
        "E:12: replicates: unknown field 'replicates'; valid fields: name, description, a, b, set, parameters, "
        "kpis, sample, replications, seed"]
    assert refused(STUDY.replace("{low: 6, high: 10}", "{low: 10, high: 6}")) == [
        "E:7: parameters.staff.1.count.high: must be greater than low (10)"]
    [line] = refused(STUDY.replace("mean_caseload_pressure: lower", "mean_caseload_pressur: lower"))
    assert line.startswith("E:9: kpis.mean_caseload_pressur: unknown KPI 'mean_caseload_pressur'; did you mean ")
    # no better side: the catalogue declares none, so the file must
    [line] = refused(STUDY.replace("compliance_rate_of_offered: higher", "compliance_rate_of_offered:"))
    assert line.startswith("E:10: kpis.compliance_rate_of_offered: the KPI catalogue declares no better direction")
    [line] = refused(STUDY.replace("mean_caseload_pressure: lower", "mean_caseload_pressure: smaller"))
    assert line.startswith("E:9: kpis.mean_caseload_pressure: ") and "lower" in line and "higher" in line
    [line] = refused(STUDY.replace("method: lhs, n: 6", "method: sobol, n: 6"))
    assert line.startswith("E:11: sample.n: must be a power of 2")
    [line] = refused(STUDY, b=tmp_path / "missing.yaml")
    assert line.startswith("E:2: b: cannot read") and "file not found" in line
    # a key the scenarios do not have: found when both scenarios are checked at every point
    [line] = refused(STUDY.replace("compliance.intercept:", "compliance.intercep:"))
    assert line.startswith("E:6: parameters.compliance.intercep: ")


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("robustness*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_studies_are_valid_and_both_arms_share_seeds(path: Path) -> None:
    rd = build(load_robustness(path), quick=True)
    exp = rd.loaded.experiment
    assert len(rd.design.runs) == exp.sample.quick * 2 * exp.replications <= 40, "keep --quick about a minute"
    seeds: dict[tuple[str, int], int] = {}
    for r in rd.design.runs:
        point, arm = r.variant.rsplit("-", 1)
        seeds.setdefault((arm, r.replication), r.seed)
        assert seeds[(arm, r.replication)] == r.seed
    assert {s for (arm, _), s in seeds.items() if arm == "a"} == {s for (arm, _), s in seeds.items() if arm == "b"}


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One in-process worker, shared by the end-to-end tests (no cluster start-up per study)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def study(out: Path, exp: Path, scheduler: str) -> dict:
    assert main(["robustness", str(exp), "--out", str(out), "--scheduler", scheduler, "--quiet"]) == 0
    return json.loads((out / "robustness.json").read_text())


@pytest.mark.mesa_facing
def test_a_scenario_against_itself_differs_by_exactly_zero(tmp_path: Path, scheduler: str) -> None:
    exp = write(tmp_path / "self.yaml", SMALL, SMALL, STUDY)
    result = study(tmp_path / "self", exp, scheduler)
    import pandas as pd

    samples = pd.read_csv(tmp_path / "self" / "samples.csv")
    assert len(samples) == 6
    for k in result["kpis"]:
        assert (samples[f"{k['kpi']}.difference"] == 0.0).all()
        assert k["wins"] == 0 and k["ties"] == 6 and k["share_a_better"] == 0.0
        assert k["share_clearly_better"] == 0.0 and k["share_clearly_worse"] == 0.0
        assert k["share_not_distinguishable"] == 1.0 and k["mean_difference"] == 0.0
        assert k["share_ci_low"] == 0.0 and k["share_ci_high"] == pytest.approx(1 - 6 / (6 + Z95 ** 2))


@pytest.mark.mesa_facing
def test_more_staff_beats_on_caseload_pressure_everywhere_and_is_deterministic(
        tmp_path: Path, scheduler: str, capsys: pytest.CaptureFixture[str]) -> None:
    exp = write(tmp_path / "staff.yaml", more_staff(tmp_path), SMALL, STUDY)
    first = study(tmp_path / "first", exp, scheduler)
    pressure = {k["kpi"]: k for k in first["kpis"]}["mean_caseload_pressure"]
    assert pressure["better"] == "lower" and pressure["better_from"] == "file"
    assert pressure["wins"] == pressure["defined"] == 6 and pressure["share_a_better"] == 1.0
    assert pressure["share_ci_low"] == pytest.approx(6 / (6 + Z95 ** 2), abs=1e-12)   # 0.6097
    assert pressure["share_ci_high"] == 1.0 and pressure["mean_difference"] < 0
    assert pressure["share_clearly_worse"] == 0.0
    out = tmp_path / "first"
    assert {p.name for p in out.iterdir()} >= {"manifest.json", "parts", "robustness.json", "robustness.csv",
                                              "samples.csv", "robustness.html"}
    assert len(list((out / "parts").glob("*.parquet"))) == 6 * 2 * 3
    assert "plotly" in (out / "robustness.html").read_text()
    # the same file and seed: byte-identical outputs; and the same command again resumes (nothing to run)
    second = tmp_path / "second"
    study(second, exp, scheduler)
    for name in ("robustness.json", "robustness.csv", "samples.csv"):
        assert (out / name).read_bytes() == (second / name).read_bytes(), name
    capsys.readouterr()
    assert main(["robustness", str(exp), "--out", str(out), "--scheduler", scheduler]) == 0
    printed = capsys.readouterr().out
    assert "36 of 36 runs done (36 from before)" in printed and "A beats" in printed
