"""Costs, FTE, the staffing solver and the workbook (casesim/costs.py, casesim/staffing_solver.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casesim import costs
from casesim.cli import main
from casesim.costs import CATEGORIES, cost_table, fte_table
from casesim.metrics import summarize
from casesim.results import Result, run
from casesim.scenario import load_scenario
from casesim.staffing_solver import Target, judge, solve, write_outputs
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
        ev(5.0, 1, "arrival", cause="arrival", value=1),          # new case: a pre-sentence report, 4 h
        ev(12.0, 1, "assessment", NON, 1, "", 2.0),               # 3 h
        ev(20.0, 1, "contact_kept", NON, 1, "phone", 0.9),        # 1 h
        ev(30.0, 1, "contact_missed", NON, 1, "phone", 0.9),      # 1 h
        ev(40.0, 1, "assessment", NON, 1, "review", 0.0),         # re-assessment, 1 h
        ev(41.0, 1, "referral", NON, 7, "accepted", 0.0),         # brokered by the holder, 0.5 h
        ev(60.0, 2, "team_meeting", CUS, 99, "", 3.0),            # team of 3 in custody: 6 h
    ]
    out = summarize(frame(rows), register({1: "LOW", 2: "HIGH"}), ctx)
    years = 100.0 / 365.25
    po_hours, pom_hours = 4 + 3 + 1 + 1 + 1 + 0.5, 6.0
    assert out["workload_hours"] == pytest.approx(po_hours + pom_hours)
    assert out["fte_required_by_setting"]["community"] == pytest.approx(po_hours / (1500 * years))
    assert out["fte_required_by_setting"]["custody"] == pytest.approx(pom_hours / (1000 * years))
    assert out["fte_available_by_setting"] == pytest.approx({"community": 1.0, "custody": 0.5})
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
    assert got == {k: v for k, v in res.summary.items() if k not in ("scenario", "seed")}
    pd.testing.assert_frame_equal(res.costs, cost_table(res.events, res.context))
    pd.testing.assert_frame_equal(res.fte, fte_table(res.events, res.context))
