"""`casesim compare`: paired differences under common random numbers, checked against separate runs."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
from helpers import SMALL

from casesim.cli import main
from casesim.compare import CSV_COLUMNS, Comparison, compare, write_outputs
from casesim.experiment import replication_seed
from casesim.report import figure_payloads
from casesim.results import run
from casesim.scenario import load_scenario
from casesim.sweep import kpi_columns

#: Shortened small scenario: every run takes about a second.
SHORT = ["time.horizon_days=200", "time.warmup_days=60", "arrivals.rate_per_day=1.5"]
#: A tiny one, for the command line: no initial population, two months.
TINY = ["time.horizon_days=60", "time.warmup_days=0", "arrivals.rate_per_day=1", "initial_population.by_stage={}"]
R = 2
SEED = 5
#: Student t quantile 0.975 with 1 degree of freedom, exactly tan(0.475 pi) (Cauchy quantile).
T975_DF1 = math.tan(math.pi * 0.475)


def strict_file(tmp: Path) -> Path:
    path = tmp / "strict.yaml"
    path.write_text(f"extends: {SMALL}\nname: small_strict\nenforcement: {{name: strict}}\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return SMALL, strict_file(tmp_path_factory.mktemp("compare"))


@pytest.fixture(scope="module")
def comp(files: tuple[Path, Path]) -> Comparison:
    a, b = files
    return compare([a, b, a], replications=R, seed=SEED, overrides=SHORT, workers=1)


def test_means_and_differences_match_separate_runs(files: tuple[Path, Path], comp: Comparison) -> None:
    seeds = [replication_seed(SEED, r) for r in range(R)]
    assert comp.seeds == seeds and len(set(seeds)) == R
    runs = {}
    for path in files:
        scenario, _ = load_scenario(path, SHORT)
        runs[scenario.name] = [kpi_columns(run(scenario, seed=s).summary) for s in seeds]
    table = comp.table.set_index(["kpi", "scenario"])
    a, b = runs["small"], runs["small_strict"]
    checked = 0
    for kpi in ("compliance_rate", "breaches_per_case_year", "mean_caseload_pressure", "cost_total",
                "continuity_breaks_per_case_year", "completion_rate", "warnings"):
        xa, xb = [r[kpi] for r in a], [r[kpi] for r in b]
        row_a, row_b = table.loc[(kpi, "small")], table.loc[(kpi, "small_strict")]
        assert row_a["mean"] == pytest.approx(statistics.fmean(xa), rel=1e-12)
        assert row_b["mean"] == pytest.approx(statistics.fmean(xb), rel=1e-12)
        d = [y - x for x, y in zip(xa, xb, strict=True)]
        assert row_b["diff_from_first"] == pytest.approx(statistics.fmean(d), rel=1e-9, abs=1e-12)
        half = T975_DF1 * statistics.stdev(d) / math.sqrt(R)
        assert row_b["diff_ci_low"] == pytest.approx(statistics.fmean(d) - half, rel=1e-9, abs=1e-12)
        assert row_b["diff_ci_high"] == pytest.approx(statistics.fmean(d) + half, rel=1e-9, abs=1e-12)
        half_b = T975_DF1 * statistics.stdev(xb) / math.sqrt(R)
        assert row_b["ci_low"] == pytest.approx(statistics.fmean(xb) - half_b, rel=1e-9)
        assert row_b["n"] == R
        checked += 1
    assert checked == 7
    # common random numbers: both scenarios see the same arrivals in each replication
    assert [r["cases_entered"] for r in a] == [r["cases_entered"] for r in b]
    # strict enforcement gives no warnings and more breaches (the policy, not noise)
    assert table.loc[("warnings", "small_strict"), "mean"] == 0
    assert table.loc[("breaches_per_case_year", "small_strict"), "diff_from_first"] > 0


def test_a_scenario_compared_with_itself_differs_by_exactly_zero(comp: Comparison) -> None:
    assert comp.labels == ["small", "small_strict", "small (2)"]
    t = comp.table
    first, again = t[t["scenario"] == "small"].set_index("kpi"), t[t["scenario"] == "small (2)"].set_index("kpi")
    defined = again["n"] == R
    assert defined.sum() > 50
    pd.testing.assert_series_equal(first["mean"], again["mean"])
    for col in ("diff_from_first", "diff_ci_low", "diff_ci_high"):
        assert (again.loc[defined, col] == 0).all(), col
        assert (first.loc[defined, col] == 0).all(), col


def test_csv_rows_and_page(comp: Comparison, tmp_path: Path) -> None:
    out = write_outputs(comp, tmp_path / "cmp")
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.html", "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]
    csv = pd.read_csv(out / "compare.csv")
    assert list(csv.columns) == CSV_COLUMNS
    kpis = set(comp.runs.columns) - {"scenario", "replication", "seed"}
    assert len(csv) == len(kpis) * 3 and not csv.duplicated(["scenario", "kpi"]).any()
    assert set(csv["kpi"]) == kpis and list(dict.fromkeys(csv["scenario"])) == comp.labels
    assert "continuity_breaks_by_cause.custody_community_boundary" in kpis  # flattened as in sweeps
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "<script src=\"http" not in page and "plotly.js v" in page
    figs = figure_payloads(page)
    data, _ = figs["kpi-compliance_rate"]
    rows = comp.table[comp.table["kpi"] == "compliance_rate"].set_index("scenario").loc[comp.labels]
    assert data[0]["y"] == pytest.approx((100 * rows["mean"]).tolist())
    assert data[1]["y"] == pytest.approx((100 * rows["diff_from_first"].iloc[1:]).tolist(), abs=1e-12)
    assert data[0]["error_y"]["array"] == pytest.approx((100 * (rows["ci_high"] - rows["mean"])).tolist())
    series = figs["series-mean_pressure"][0]
    assert [t["name"] for t in series] == comp.labels
    assert series[0]["y"] == series[2]["y"]  # the same scenario twice: the same lines


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    got = capsys.readouterr()
    return code, got.out, got.err


def test_command_line_runs_in_processes_like_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = strict_file(tmp_path)
    sets = [x for kv in TINY for x in ("--set", kv)]
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "compare", SMALL, b, "--replications", "2", "--seed", "3", "--workers", "2",
                            *sets, "--out", out)
    assert code == 0, err
    assert "Contacts kept" in stdout and "small_strict" in stdout  # the rich table
    assert f"results written to {out}/" in stdout
    csv = pd.read_csv(out / "compare.csv")
    here = compare([SMALL, b], replications=2, seed=3, overrides=TINY, workers=1).table
    pd.testing.assert_frame_equal(csv, pd.read_csv(_csv(here, tmp_path)), check_exact=False, rtol=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here.csv", "out", "strict.yaml"]


def test_the_command_line_notes_scenarios_that_decide_contacts_differently(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agg = tmp_path / "agg.yaml"
    agg.write_text(f"extends: {SMALL}\nname: small_agg\nprocess: {{contact_settlement: aggregate}}\n")
    sets = [x for kv in TINY for x in ("--set", kv)]
    note = "these scenarios decide contacts differently (process.contact_settlement: small each, small_agg aggregate)"
    code, _, err = cli(capsys, "compare", SMALL, agg, "--replications", "2", "--workers", "1", "--quiet", *sets,
                       "--out", tmp_path / "mixed")
    assert code == 0 and note in err
    code, _, err = cli(capsys, "compare", SMALL, strict_file(tmp_path), "--replications", "2", "--workers", "1",
                       "--quiet", *sets, "--out", tmp_path / "same")
    assert code == 0 and "decide contacts differently" not in err


def _csv(table: pd.DataFrame, tmp: Path) -> Path:
    path = tmp / "here.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", ["unknown_field", "missing_file", "one_replication", "out_is_a_file",
                                  "one_scenario", "bad_workers"])
def test_bad_input_exits_2_and_writes_nothing(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = strict_file(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {SMALL}\nname: bad\nstaff:\n  - {{name: x, setting: community, count: 3, capcity: 4}}\n")
    out = tmp_path / "out"
    args: list[object] = ["compare", SMALL, good, "--replications", "2", "--out", out]
    expect = ""
    if case == "unknown_field":
        args[2], expect = bad, f"{bad}:4: staff.0.capcity: unknown field"
    elif case == "missing_file":
        args[2], expect = tmp_path / "nowhere.yaml", "nowhere.yaml"
    elif case == "one_replication":
        args[4], expect = "1", "--replications: need at least 2"
    elif case == "out_is_a_file":
        out.write_text("x")
        expect = "--out: exists and is not a directory"
    elif case == "one_scenario":
        del args[2]
        expect = "need at least two scenario files"
    elif case == "bad_workers":
        args += ["--workers", "0"]
        expect = "--workers: must be at least 1"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, err = cli(capsys, *args)
    assert code == 2
    assert expect in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temporary folders
