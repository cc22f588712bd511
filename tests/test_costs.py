"""Costs, FTE, the staffing solver and the workbook (casesim/metrics/costs.py, casesim/studies/staffing_solver.py)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from casesim.cli import main
from casesim.metrics import costs
from casesim.metrics.costs import CATEGORIES, cost_table, fte_table
from casesim.metrics.summary import summarize
from casesim.outputs.results import Result, run
from casesim.scenario.schema import load_scenario
from casesim.studies.staffing_solver import Target, judge, solve, write_outputs
from tests.helpers import SCENARIOS, SMALL, small
from tests.test_metrics import CUS, NON, ctx_for, ev, frame, register

SHORT = ("time.horizon_days=300", "time.warmup_days=60")
#: A very small service for the solver: a few hundred people, eight months.
TINY_SERVICE = ("time.horizon_days=240", "time.warmup_days=60", "arrivals.rate_per_day=1.5",
                "initial_population.by_stage.PRE_SENTENCE=30", "initial_population.by_stage.NON_CUSTODIAL=300",
                "initial_population.by_stage.BREACH_COURT=5", "initial_population.by_stage.CUSTODY=120",
                "initial_population.by_stage.SUPERVISED_RELEASE=100",
                "initial_population.by_stage.RECALL_CUSTODY=20", "staff.0.count=10", "staff.1.count=4")


@cache
def short_run() -> Result:
    return run(small(*SHORT))


def test_parts_add_up_to_the_total_exactly() -> None:
    res = short_run()
    s = res.summary
    assert set(s["cost_by_category"]) == set(CATEGORIES)
    assert s["cost_total"] == sum(s["cost_by_category"].values())          # exactly, by construction
    assert all(v >= 0 for v in s["cost_by_category"].values())
    assert s["cost_by_category"]["staff"] > 0 and s["cost_by_category"]["custody"] > 0
    assert sum(s["cost_by_setting"].values()) == pytest.approx(s["cost_total"], rel=1e-12)
    assert res.costs["cost"].sum() == pytest.approx(s["cost_total"], rel=1e-12)   # years x settings
    by_cat = res.costs.groupby("category")["cost"].sum()
    for cat, value in s["cost_by_category"].items():
        assert by_cat[cat] == pytest.approx(value, rel=1e-12, abs=1e-6)
    assert res.fte["staff_cost"].sum() == pytest.approx(s["cost_by_category"]["staff"], rel=1e-12)
    assert s["cost_per_case_year"] == pytest.approx(s["cost_total"] / s["case_years"])
    assert s["cost_per_completed_order"] == pytest.approx(s["cost_total"] / s["orders_completed"])
    assert s["fte_required"] == pytest.approx(sum(s["fte_required_by_setting"].values()))
    assert s["fte_available"] == pytest.approx(sum(s["fte_available_by_setting"].values()))


def test_fte_is_workload_hours_over_productive_hours_on_a_hand_built_log() -> None:
    ctx = ctx_for(staff_setting={1: "community", 2: "custody"}, staff_role={1: "po", 2: "pom"},
                  setting_role={"community": "po", "custody": "pom"}, role_hours={"po": 1500.0, "pom": 1000.0},
                  role_annual_cost={"po": 50000.0, "pom": 40000.0},
                  workload_hours={"contact:phone": 1.0, "assessment": 3.0, "reassessment": 1.0,
                                  "team_meeting": 2.0, "pre_sentence_report": 4.0, "referral": 0.5})
    rows = [
        ev(0.0, -1, "capacity", "", 1, "join", 40.0), ev(0.0, -1, "capacity", "", 2, "join", 40.0),
        ev(10.0, -1, "capacity", "", 1, "sickness", -40.0),      # an absence: still in post and paid
        ev(50.0, -1, "capacity", "", 2, "leave", -40.0),
        ev(0.0, 2, "arrival", cause="initial", value=1),          # already sentenced: no report
        ev(0.0, 2, "load", CUS, 2, "assign", 7.0),                # 7 h a week carried until day 50: 50 h
        ev(5.0, 1, "arrival", cause="arrival", value=1),          # new case: a pre-sentence report, 4 h
        ev(12.0, 1, "load", NON, 1, "assign", 2.0),               # 2 h a week carried from day 12 to 100
        ev(12.0, 1, "assessment", NON, 1, "", 2.0),               # 3 h
        ev(20.0, 1, "contact_kept", NON, 1, "phone", 0.9),        # in the caseload's hours: none of its own
        ev(30.0, 1, "contact_missed", NON, 1, "phone", 0.9),      # (the same)
        ev(40.0, 1, "assessment", NON, 1, "review", 0.0),         # re-assessment: in the caseload's hours
        ev(41.0, 1, "referral", NON, 7, "accepted", 0.0),         # brokered for the case (community), 0.5 h
        ev(50.0, 2, "load", CUS, 2, "unassign", -7.0),
        ev(60.0, 2, "team_meeting", CUS, 99, "", 3.0),            # in the members' seats: none of its own
    ]
    out = summarize(frame(rows), register({1: "LOW", 2: "HIGH"}), ctx)
    years = 100.0 / 365.25
    po_hours, pom_hours = 4 + 3 + 0.5 + 2.0 * 88 / 7, 7.0 * 50 / 7
    assert out["workload_hours"] == pytest.approx(po_hours + pom_hours)
    assert out["workload_hours_by_activity"] == pytest.approx(
        {"assessment": 3.0, "casework": 2.0 * 88 / 7 + 50.0, "pre_sentence_report": 4.0, "referral": 0.5})
    assert out["fte_required_by_setting"]["community"] == pytest.approx(po_hours / (1500 * years))
    assert out["fte_required_by_setting"]["custody"] == pytest.approx(pom_hours / (1000 * years))
    assert out["fte_available_by_setting"] == pytest.approx({"community": 1.0, "custody": 0.5})
    # at work: 40 h a week for 10 days (member 1) and for 50 days (member 2)
    at_work = {"community": 40 * 10 / 7 / (1500 * years), "custody": 40 * 50 / 7 / (1000 * years)}
    assert out["fte_at_work_by_setting"] == pytest.approx(at_work)
    assert out["workload_pressure_by_setting"] == pytest.approx(
        {"community": po_hours / (40 * 10 / 7), "custody": pom_hours / (40 * 50 / 7)})
    assert out["cost_by_category"]["staff"] == pytest.approx(1.0 * years * 50000 + 0.5 * years * 40000)
    table = fte_table(frame(rows), ctx).set_index("role")
    assert table.loc["po", "workload_hours"] == pytest.approx(po_hours)
    assert table.loc["pom", "fte_required"] == pytest.approx(pom_hours / (1000 * years))


def test_doubling_the_custody_day_cost_doubles_custody_cost_and_nothing_else() -> None:
    res = short_run()
    base = summarize(res.events, res.register, res.context)
    dear = summarize(res.events, res.register,
                     replace(res.context, custody_cost_per_day=2 * res.context.custody_cost_per_day))
    assert base["cost_by_category"]["custody"] > 0
    assert dear["cost_by_category"]["custody"] == pytest.approx(2 * base["cost_by_category"]["custody"], rel=1e-12)
    for key in CATEGORIES:
        if key != "custody":
            assert dear["cost_by_category"][key] == base["cost_by_category"][key]
    for key in ("fte_required", "fte_available", "workload_hours", "custody_days"):
        assert dear[key] == base[key]
    assert dear["cost_total"] - base["cost_total"] == pytest.approx(base["cost_by_category"]["custody"])


def test_solver_answer_meets_the_target_and_one_fewer_does_not(tmp_path: Path) -> None:
    target = Target.parse("mean_caseload_by_setting.community<=35")
    sol = solve(SMALL, target, replications=3, overrides=TINY_SERVICE)
    n = sol.answer
    assert n is not None and n > 1
    curve = {c.staff: c for c in sol.curve}
    assert curve[n].meets and not curve[n - 1].meets
    assert curve[n].bound <= 35 < curve[n - 1].bound
    # independently: the same seeds (base + k) give the same verdict for n - 1
    base = load_scenario(SMALL, TINY_SERVICE)[0]
    again = [run(SMALL, seed=base.seed + k, overrides=[*TINY_SERVICE, f"staff.0.count={n - 1}"]).summary
             for k in range(3)]
    check = judge(target, n - 1, [target.read(s) for s in again], [s["cost_total"] for s in again])
    assert not check.meets and check.mean == pytest.approx(curve[n - 1].mean)
    csv, html = write_outputs(sol, tmp_path)
    table = pd.read_csv(csv)
    assert list(table["staff"]) == sorted(curve) and table["cost_total_mean"].gt(0).all()
    assert "plotly" in html.read_text()[:200000].lower()


def test_target_parsing() -> None:
    assert Target.parse("share_manager_time_over_capacity<=0.1") == Target("share_manager_time_over_capacity",
                                                                           "<=", 0.1)
    assert Target.parse(" completion_rate >= 0.7 ").op == ">="
    with pytest.raises(ValueError):
        Target.parse("mean_caseload=40")
    with pytest.raises(KeyError):
        Target.parse("no_such_kpi<=1").read({"mean_caseload": 1.0})


def test_workbook_holds_the_csv_numbers_and_every_assumption(tmp_path: Path) -> None:
    out = short_run().write(tmp_path / "run")
    book = tmp_path / "costs.xlsx"
    assert main(["costs", str(out), "--xlsx", str(book)]) == 0
    csv = pd.read_csv(out / "costs.csv")
    sheet = pd.read_excel(book, sheet_name="costs")
    pd.testing.assert_frame_equal(sheet, csv, check_dtype=False)
    fte = pd.read_excel(book, sheet_name="fte")
    pd.testing.assert_frame_equal(fte, pd.read_csv(out / "fte.csv"), check_dtype=False)
    params = pd.read_excel(book, sheet_name="assumptions").set_index("parameter")
    row = params.loc["costs.custody_per_day"]
    assert row["value"] == 141.7 and "prisoner-day" in row["unit"] and "51,724" in row["source"]
    assert "costs.roles.probation_officer.annual_cost" in params.index
    assert "costs.workload.contact.COMPREHENSIVE" in params.index
    assert params.loc[params.index.str.startswith("costs."), "source"].notna().all()
    summary = pd.read_excel(book, sheet_name="summary").set_index("measure")["value"]
    assert float(summary["cost_total"]) == pytest.approx(csv["cost"].sum(), rel=1e-12)


def test_costs_command_runs_a_scenario_first(tmp_path: Path) -> None:
    book = tmp_path / "b.xlsx"
    assert main(["costs", str(SMALL), "--set", "time.horizon_days=120", "--set", "time.warmup_days=30",
                 "--xlsx", str(book)]) == 0
    assert set(pd.ExcelFile(book).sheet_names) >= {"summary", "costs", "fte", "assumptions"}


def test_us_like_prices_in_dollars_by_route() -> None:
    s = load_scenario(SCENARIOS / "us_like.yaml")[0]
    assert s.costs.currency == "USD" and s.costs.price_providers_by == "route"
    assert s.costs.custody_per_day == 79 and s.costs.roles["probation_officer"].productive_hours == 1440
    res = run(s.model_copy(update={"time": s.time.model_copy(update={"horizon_days": 60.0, "warmup_days": 10.0})}))
    assert res.summary["currency"] == "USD"
    route = s.costs.place_day_by_route
    assert set(res.context.provider_cost_per_day.values()) <= set(route.values())
    assert not math.isnan(res.summary["cost_total"])


def test_a_run_writes_the_cost_and_fte_tables_that_the_standalone_functions_give() -> None:
    # run() extracts the cost inputs once for both tables; each table alone extracts them afresh
    res = short_run()
    assert res.costs["cost"].sum() > 0 and res.fte["workload_hours"].sum() > 0
    pd.testing.assert_frame_equal(res.costs, cost_table(res.events, res.context))
    pd.testing.assert_frame_equal(res.fte, fte_table(res.events, res.context))


def test_sums_by_group_made_a_piece_at_a_time_equal_one_pass_to_the_last_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    # the keys bincount needs are made a piece at a time; each piece starts from the sums so far, so the
    # additions are those of one bincount over all rows, in the same order
    rng = np.random.default_rng(3)
    n, rows = 5, 10_001
    codes = rng.integers(0, n, rows).astype(np.int16)
    values = rng.lognormal(0.0, 3.0, rows) * rng.choice([-1.0, 1.0], rows)   # magnitudes over many decades
    mask = rng.random(rows) < 0.7
    whole = np.bincount(np.where(mask, codes, n), values, n + 1)[:n]
    for piece in (1, 7, 1000, 1 << 18):
        monkeypatch.setattr(costs, "_PIECE", piece)
        sums, counts = costs._bin_sums(lambda sl: codes[sl], values, rows, n, mask)
        assert sums.tobytes() == whole.tobytes()
        assert counts.tolist() == np.bincount(codes[mask], minlength=n).tolist()
    # and a whole run's summary and tables are the same with pieces of 97 rows
    res = short_run()
    monkeypatch.setattr(costs, "_PIECE", 97)
    got = summarize(res.events, res.register, res.context)
    assert got == {k: v for k, v in res.summary.items() if k not in ("scenario", "seed", "run_warnings")}
    pd.testing.assert_frame_equal(res.costs, cost_table(res.events, res.context))
    pd.testing.assert_frame_equal(res.fte, fte_table(res.events, res.context))


# --- the solver's intervals, tables and errors ---------------------------------------------------------
def _t_df2(p: float) -> float:
    """Student t quantile with 2 degrees of freedom, in closed form: (2p - 1) / sqrt(2p(1 - p))."""
    return (2 * p - 1) / math.sqrt(2 * p * (1 - p))


def _wilson_by_quadratic(values: list[float], t: float) -> tuple[float, float]:
    """The shares q with (p - q)^2 = t^2 q (1 - q) / n_eff, n_eff = p(1 - p) / se^2, as roots of a quadratic."""
    n = len(values)
    p = sum(values) / n
    se2 = sum((v - p) ** 2 for v in values) / (n - 1) / n
    k = t * t / (p * (1 - p) / se2)
    a, b, c = 1 + k, -(2 * p + k), p * p
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def test_shares_are_told_apart_by_their_names() -> None:
    from casesim.studies.staffing_solver import is_share

    for kpi in ("share_manager_time_over_capacity", "compliance_rate_of_offered", "completion_rate", "share_needs_met",
                "referral_acceptance_rate", "compliance_by_stage.CUSTODY", "compliance_rate_of_due",
                "share_manager_time_over_capacity_by_setting.community"):
        assert is_share(kpi), kpi
    for kpi in ("mean_caseload_pressure", "mean_caseload_by_setting.community", "cost_total",
                "breaches_per_case_year", "fte_required"):
        assert not is_share(kpi), kpi


@pytest.mark.parametrize("values", [[0.99, 1.0, 0.97], [0.0, 0.0, 0.01], [0.2, 0.5, 0.35]])
def test_a_share_interval_stays_within_0_and_1_and_holds_the_mean(values: list[float]) -> None:
    for op in ("<=", ">="):
        c = judge(Target("compliance_rate_of_offered", op, 0.5), 10, values, [1.0] * 3)
        assert 0.0 <= c.low <= c.mean <= c.high <= 1.0
        assert (c.low, c.high) == pytest.approx(_wilson_by_quadratic(values, _t_df2(0.975)), rel=1e-9, abs=1e-12)
        one_sided = _wilson_by_quadratic(values, _t_df2(0.95))
        assert c.bound == pytest.approx(one_sided[1] if op == "<=" else one_sided[0], rel=1e-9, abs=1e-12)
        assert c.low <= c.bound <= c.high
    # the mean +/- t s/sqrt(n) these replace leaves [0, 1] here
    if values[0] == 0.99:
        plain = c.mean + _t_df2(0.975) * float(np.std(values, ddof=1)) / math.sqrt(3)
        assert plain > 1.0


def test_identical_shares_give_the_point_and_a_kpi_that_is_not_a_share_keeps_the_t_interval() -> None:
    c = judge(Target("share_manager_time_over_capacity", "<=", 0.1), 5, [0.0, 0.0, 0.0], [1.0] * 3)
    assert (c.low, c.mean, c.high, c.bound, c.meets) == (0.0, 0.0, 0.0, 0.0, True)
    c = judge(Target("mean_caseload", "<=", 35), 5, [30.0, 33.0, 36.0], [1.0] * 3)
    se = 3.0 / math.sqrt(3)   # sd 3 over three replications
    assert c.low == pytest.approx(33 - _t_df2(0.975) * se, rel=1e-12)
    assert c.high == pytest.approx(33 + _t_df2(0.975) * se, rel=1e-12)
    assert c.bound == pytest.approx(33 + _t_df2(0.95) * se, rel=1e-12)   # 38.06: misses 35
    assert not c.meets
    c = judge(Target("mean_caseload_pressure", ">=", 0.9), 5, [0.99, 1.0, 0.97], [1.0] * 3)
    assert c.high > 1.0   # a ratio that can exceed 1: the plain t interval


def rendered(renderable: object, width: int) -> list[str]:
    """The lines ``rich`` prints for ``renderable`` at ``width`` columns, without colour."""
    import io

    from rich.console import Console

    out = io.StringIO()
    Console(width=width, file=out, color_system=None).print(renderable)
    return out.getvalue().splitlines()


def _share_solution() -> Any:
    from casesim.studies.staffing_solver import Solution

    target = Target.parse("share_manager_time_over_capacity<=0.1")
    curve = [judge(target, n, values, [cost, cost * 1.01, cost * 0.99])
             for n, values, cost in ((10, [0.99, 1.0, 0.97], 202_594_430.0), (20, [0.3, 0.35, 0.32], 1.2e9),
                                     (30, [0.05, 0.08, 0.11], 2.3e9), (40, [0.0, 0.0, 0.01], 2.5e9))]
    return Solution(target, "community_probation_officers", 40, curve, "GBP")


def test_the_staffing_table_fits_80_columns_in_percent_with_whole_numbers() -> None:
    sol = _share_solution()
    lines = rendered(sol.console_table(), 80)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80
    assert not re.search(r"\d[eE][-+]?\d", text)   # no scientific notation
    assert "202,594,430" in text and "2,500,000,000" in text
    c = next(c for c in sol.curve if c.staff == 10)
    assert f"[{100 * c.low:.2f}%, {100 * c.high:.2f}%]" in text and "100.00%" not in text
    assert "met *" in text and text.count("missed") == 3


def test_the_staffing_curve_files_keep_share_intervals_within_0_and_1(tmp_path: Path) -> None:
    from casesim.outputs.report import figure_payloads

    sol = _share_solution()
    csv, html = write_outputs(sol, tmp_path / "staffing")
    table = pd.read_csv(csv)
    assert table["ci95_low"].ge(0).all() and table["ci95_high"].le(1).all()
    assert (table["ci95_low"] <= table["mean"]).all() and (table["mean"] <= table["ci95_high"]).all()
    assert set(table["interval"]) == {"wilson"}
    (data, layout), = figure_payloads(html.read_text()).values()
    bars = data[0]["error_y"]
    assert [m + up for m, up in zip(data[0]["y"], bars["array"], strict=True)] == pytest.approx(table["ci95_high"])
    assert [m - down for m, down in zip(data[0]["y"], bars["arrayminus"], strict=True)] == \
        pytest.approx(table["ci95_low"])
    assert layout["yaxis"]["tickformat"] == ".0%"


def test_a_misspelt_target_kpi_names_the_valid_ones_on_one_line() -> None:
    summary = {"scenario": "s", "seed": 1, "mean_caseload": 30.0, "compliance_rate_of_offered": 0.9,
               "mean_caseload_by_setting": {"community": 31.0, "custody": 20.0}, "currency": "GBP"}
    Target.parse("mean_caseload_by_setting.custody<=40").check(summary)   # valid: no error
    with pytest.raises(ValueError) as err:
        Target.parse("complience_rate>=0.8").check(summary)
    message = str(err.value)
    assert "\n" not in message
    assert "no KPI 'complience_rate' in summary.json (did you mean 'compliance_rate_of_offered'?)" in message
    assert "mean_caseload, compliance_rate_of_offered, mean_caseload_by_setting.{community,custody}" in message
    assert "seed" not in message.split("KPIs:")[1]   # settings and labels are not KPIs
    with pytest.raises(ValueError, match="no KPI 'zzz' in summary.json; KPIs: mean_caseload,"):
        Target.parse("zzz<=1").check(summary)


def test_the_staff_command_refuses_a_misspelt_kpi_with_exit_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    tiny = ["time.horizon_days=60", "time.warmup_days=0", "arrivals.rate_per_day=1", "initial_population.by_stage={}"]
    sets = [x for kv in tiny for x in ("--set", kv)]
    code = main(["staff", str(SMALL), "--target", "share_manager_time_over_capacty<=0.1", "--replications", "2",
                 *sets, "--out", str(tmp_path / "staffing")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "did you mean 'share_manager_time_over_capacity'?" in err and "cost_total" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_the_workbook_has_number_formats_fitted_widths_and_a_frozen_header(tmp_path: Path) -> None:
    import openpyxl

    res = short_run()
    book = openpyxl.load_workbook(costs.write_workbook(tmp_path / "b.xlsx", res.costs, res.fte, res.summary,
                                                       res.scenario))
    assert book.sheetnames == ["summary", "costs", "costs_by_year", "fte", "assumptions"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title

    def cells(sheet: Any, header: str) -> list[Any]:
        column = next(c[0].column_letter for c in sheet.iter_cols(max_row=1) if c[0].value == header)
        return [c for c in sheet[column][1:] if c.value is not None]

    money = '#,##0 "GBP"'
    assert {c.number_format for c in cells(book["costs"], "cost")} == {money}
    assert {c.number_format for c in cells(book["costs_by_year"], "year 1")} == {money}
    fte = book["fte"]
    assert {c.number_format for c in cells(fte, "fte_required")} == {"#,##0.0"}
    assert {c.number_format for c in cells(fte, "staff_cost") + cells(fte, "annual_cost_per_fte")} == {money}
    assert cells(fte, "setting")[0].number_format == "General"   # text stays as it is
    summary = {row[0].value: row[1] for row in book["summary"].iter_rows(min_row=2)}
    assert summary["cost_total"].number_format == money   # a number shown as money, not text
    assert summary["cost_total"].value == pytest.approx(res.summary["cost_total"], rel=1e-14)
    assert summary["fte_required"].number_format == "#,##0.0"
    params = {row[0].value: row[1] for row in book["assumptions"].iter_rows(min_row=2)}
    assert params["staffing.vacancy_rate"].number_format.endswith("%")          # a share
    assert params["costs.custody_per_day"].number_format == "General"
    # widths: a long header is shown whole, and a column of large amounts is wider than its short header
    long_header = next(c[0] for c in fte.iter_cols(max_row=1) if c[0].value == "productive_hours_per_fte")
    assert fte.column_dimensions[long_header.column_letter].width >= len("productive_hours_per_fte") + 1
    cost = next(c[0] for c in book["costs"].iter_cols(max_row=1) if c[0].value == "cost")
    widest = max(len(f"{c.value:,.0f} GBP") for c in cells(book["costs"], "cost"))
    assert book["costs"].column_dimensions[cost.column_letter].width >= widest > len("cost") + 2
