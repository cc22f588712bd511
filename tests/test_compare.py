"""`casesim compare`: paired differences under common random numbers, checked against separate runs."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
from helpers import SMALL

from casesim.cli import main
from casesim.outputs.report import figure_payloads
from casesim.outputs.results import run
from casesim.scenario.schema import load_scenario
from casesim.studies.compare import CSV_COLUMNS, Comparison, compare, write_outputs
from casesim.studies.experiment import replication_seed
from casesim.studies.sweep import kpi_columns

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
    for kpi in ("compliance_rate_of_offered", "breaches_per_case_year", "mean_caseload_pressure", "cost_total",
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
    # common random numbers: both scenarios see the same arrivals from outside in each replication (how many
    # people come back after a further offence is what a scenario changes)
    assert [r["cases_entered"] - r["cases_returned"] for r in a] == [r["cases_entered"] - r["cases_returned"]
                                                                      for r in b]
    assert any(r["cases_returned"] > 0 for r in a)
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
    data, _ = figs["kpi-compliance_rate_of_offered"]
    rows = comp.table[comp.table["kpi"] == "compliance_rate_of_offered"].set_index("scenario").loc[comp.labels]
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


def test_command_line_runs_in_processes_like_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr(os, "get_terminal_size", lambda fd=0: os.terminal_size((200, 50)))   # a wide terminal
    monkeypatch.delenv("COLUMNS", raising=False)
    b = strict_file(tmp_path)
    sets = [x for kv in TINY for x in ("--set", kv)]
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "compare", SMALL, b, "--replications", "2", "--seed", "3", "--workers", "2",
                            *sets, "--out", out)
    assert code == 0, err
    assert "Contacts kept" in stdout and "small_strict" in stdout  # the rich table
    table = stdout[:stdout.index("results written to")].splitlines()
    assert len(table) > 20 and max(len(line) for line in table) <= 80   # piped: 80 columns, whatever the terminal
    assert f"results written to {out}/" in stdout
    csv = pd.read_csv(out / "compare.csv")
    here = compare([SMALL, b], replications=2, seed=3, overrides=TINY, workers=1).table
    pd.testing.assert_frame_equal(csv, pd.read_csv(_csv(here, tmp_path)), check_exact=False, rtol=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here.csv", "out", "strict.yaml"]


def test_a_scenario_that_still_decides_contacts_in_aggregate_is_refused_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``process.contact_settlement`` was retired (every contact is decided at its own time): a compare of a
    file that still sets it stops at validation with the file, line and field, and writes nothing."""
    agg = tmp_path / "agg.yaml"
    agg.write_text(f"extends: {SMALL}\nname: small_agg\nprocess: {{contact_settlement: aggregate}}\n")
    sets = [x for kv in TINY for x in ("--set", kv)]
    code, out, err = cli(capsys, "compare", SMALL, agg, "--replications", "2", "--workers", "1", "--quiet", *sets,
                         "--out", tmp_path / "mixed")
    assert code == 2 and out == ""
    assert f"{agg}:3: process.contact_settlement: retired: every contact is now decided at its own time" in err
    assert not (tmp_path / "mixed").exists()


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


# --- the console table ----------------------------------------------------------------------------------
#: Three scenarios, the second with a long name; the first's total cost averages exactly 202,594,430.
WIDE_LABELS = ["baseline", "small_strict_enforcement_more_staff", "pods_cover"]


def synthetic(labels: list[str]) -> Comparison:
    """A comparison of made-up replications (no runs): large costs and shares near 1, three replications."""
    from casesim.metrics.kpis import headline
    from casesim.studies.compare import Entry, compare_table

    rows = []
    for i, lab in enumerate(labels):
        for r in range(3):
            row: dict[str, object] = {"scenario": lab, "replication": r, "seed": r}
            for j, kpi in enumerate(headline()):
                wobble = (r - 1) * (j + 1) * 0.001 * (1 + i * (r == 0))   # the differences vary too
                row[kpi.key] = min(1.0, 0.97 + 0.01 * i + wobble) if kpi.percent else 1234.5 * (1 + 0.3 * i + wobble)
            row["cost_total"] = [202_000_000.0, 203_188_860.0, 202_594_430.0][r] * (1 + 0.25 * i) + 1e6 * r * i
            rows.append(row)
    runs = pd.DataFrame(rows)
    scenario = load_scenario(SMALL)[0]
    return Comparison([Entry(lab, str(SMALL), scenario) for lab in labels], [1, 2, 3], 1, [], runs,
                      pd.DataFrame(), compare_table(runs, labels))


def rendered(renderable: object, width: int) -> list[str]:
    import io

    from rich.console import Console

    out = io.StringIO()
    Console(width=width, file=out, color_system=None).print(renderable)
    return out.getvalue().splitlines()


@pytest.mark.parametrize(("n", "width"), [(2, 80), (3, 80), (4, 80), (3, 60)])
def test_console_table_fits_the_width_with_every_figure_whole(n: int, width: int) -> None:
    from casesim.metrics.kpis import format_value as format_kpi
    from casesim.metrics.kpis import headline
    from casesim.studies.compare import console_table, format_diff

    labels = [*WIDE_LABELS, "fourth"][:n]
    comp = synthetic(labels)
    lines = rendered(console_table(comp), width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "202,594,430" in text
    cur = comp.entries[0].scenario.costs.currency
    by = comp.table.set_index(["kpi", "scenario"])
    checked = 0
    for key, label, unit, pattern in ((k.key, k.label, k.unit, k.fmt) for k in headline()):
        heading = f"{label} ({unit.format(cur=cur)})"
        # a label is on one line, or wrapped at a space onto a second, never more
        assert any(heading in " ".join(s.strip() for s in lines[i:i + 2]) for i in range(len(lines))), heading
        for lab in labels:
            row = by.loc[(key, lab)]
            figures = [format_kpi(row["mean"], pattern)]
            if lab != labels[0]:
                figures += [format_diff(row[c], pattern) for c in ("diff_from_first", "diff_ci_low", "diff_ci_high")]
            for figure in figures:   # whole, on one line
                assert any(figure in line for line in lines), (key, lab, figure)
                checked += 1
    assert checked == len(list(headline())) * (1 + 4 * (n - 1))
    if width >= 80:   # room enough: a scenario's figures are on the line of its (short) name
        for lab in (lab for lab in labels if len(lab) <= 12):
            cost = by.loc[("cost_total", lab)]
            figures = [format_kpi(cost["mean"], "{:,.0f}")]
            figures += [format_diff(cost["diff_ci_high"], "{:,.0f}")] if lab != labels[0] else []
            assert any(line.startswith(f"  {lab} ") and all(f in line for f in figures) for line in lines), lab


def test_piped_output_is_80_columns_unless_columns_says_otherwise(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from rich.console import Console

    from casesim.cli import stdout_console

    # a wide terminal on standard input or error: rich alone would take its width for piped output too
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=0: os.terminal_size((200, 50)))
    monkeypatch.delenv("COLUMNS", raising=False)
    assert Console().width == 200
    assert stdout_console().width == 80   # standard output is captured: not a terminal
    monkeypatch.setenv("COLUMNS", "120")
    assert stdout_console().width == 120


def test_the_cost_per_offence_avoided_is_shown_with_na_for_a_scenario_that_avoids_none() -> None:
    """Console and page: the block is there whenever the runs count further offences, a figure where offences
    are avoided and n/a where none is (hidden, a reader would not know whether it was computed)."""
    from casesim.studies.compare import console_table, page_html

    comp = synthetic(["base", "fewer", "more"])
    offences = {"base": 100.0, "fewer": 90.0, "more": 110.0}
    comp.runs["further_offences"] = comp.runs["scenario"].map(offences)
    assert comp.cost_per_offence_avoided["fewer"] == pytest.approx(
        float((comp.runs.loc[comp.runs["scenario"] == "fewer", "cost_total"].to_numpy()
               - comp.runs.loc[comp.runs["scenario"] == "base", "cost_total"].to_numpy()).mean()) / 10.0)
    assert comp.cost_per_offence_avoided["more"] is None
    block = [b for b in console_table(comp).blocks if b[0].startswith("Cost per further offence avoided")]
    assert len(block) == 1 and [r[2] for r in block[0][1]] == ["", f"{comp.cost_per_offence_avoided['fewer']:,.0f}",
                                                               "n/a"]
    page = page_html(comp)
    assert "Cost per further offence avoided" in page and ">n/a<" in page
    uncounted = synthetic(["base", "fewer"])   # runs that do not count further offences: no block at all
    assert not [b for b in console_table(uncounted).blocks if b[0].startswith("Cost per further offence avoided")]
    assert "Cost per further offence avoided" not in page_html(uncounted)
