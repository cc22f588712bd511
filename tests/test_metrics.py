"""Tests for casesim.metrics.summary on small hand-built event logs with hand-computed answers."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casesim.log.events import EventLog
from casesim.metrics.summary import (
    MetricsContext,
    case_table,
    staff_load,
    stage_occupancy,
    summarize,
    timeseries,
)

PRE, NON, CUS, SR = "PRE_SENTENCE", "NON_CUSTODIAL", "CUSTODY", "SUPERVISED_RELEASE"
STAGES = {PRE: "community", NON: "community", CUS: "custody", SR: "community"}
YEAR = 365.25


def ctx_for(**kw: object) -> MetricsContext:
    """A context with sensible defaults, overridden by ``kw``."""
    base = {
        "warmup": 0.0, "horizon": 100.0, "tick": 10.0, "stage_setting": STAGES,
        "order_stages": frozenset({NON, SR}), "staff_setting": {},
        "contact_cost": {"face_to_face": 50.0, "phone": 10.0}, "custody_cost_per_day": 100.0,
        "provider_cost_per_day": {7: 20.0}, "court_cost": 1000.0, "recall_cost": 2000.0,
    }
    base.update(kw)
    return MetricsContext(**base)  # type: ignore[arg-type]


def ev(time: float, case: int, kind: str, stage: str = "", manager: int = -1,
       cause: str = "", value: float = 0.0) -> tuple:
    """One event row as a tuple in ``EventLog.add`` order."""
    return (time, case, kind, stage, manager, cause, value)


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Event frame from rows, stably sorted by time (the engine appends in time order)."""
    log = EventLog()
    for row in sorted(rows, key=lambda r: r[0]):
        log.add(*row)
    return log.to_frame()


def register(risks: dict[int, str], arrivals: dict[int, float] | None = None) -> pd.DataFrame:
    """A case register with the given risks (other columns filled with placeholders)."""
    cases = list(risks)
    arrivals = arrivals or {}
    return pd.DataFrame({
        "case": np.array(cases, dtype=np.int64),
        "arrival_time": [float(arrivals.get(c, 0.0)) for c in cases],
        "risk": [risks[c] for c in cases], "offence": ["theft"] * len(cases),
        "needs": [""] * len(cases), "n_needs": np.zeros(len(cases), dtype=np.int64),
        "propensity": np.full(len(cases), 0.5), "motivation": np.full(len(cases), 0.5),
        "patch": ["north"] * len(cases),
    })


def journey(case: int, arrival: float, stays: list[tuple[str, float]], exits: bool,
            initial: bool = False) -> list[tuple]:
    """Arrival, consecutive stage stays (stage, days) and an optional exit."""
    rows = [ev(arrival, case, "arrival", cause="initial" if initial else "arrival", value=1)]
    t = arrival
    for stage, days in stays:
        rows.append(ev(t, case, "stage_enter", stage, cause="arrival"))
        rows.append(ev(t + days, case, "stage_exit", stage, cause="completed", value=days))
        t += days
    if exits:
        rows.append(ev(t, case, "exit", cause="completed"))
    return rows


def open_stay(case: int, time: float, stage: str) -> tuple:
    """A stage entry left open (censored at the horizon)."""
    return ev(time, case, "stage_enter", stage, cause="arrival")


# ---------------------------------------------------------------- case counts / integrals


def two_case_log() -> pd.DataFrame:
    """Case 1: [0, 100) then exits; case 2: from 50, censored at the horizon (200)."""
    rows = journey(1, 0.0, [(PRE, 100.0)], exits=True, initial=True)
    rows += [ev(50.0, 2, "arrival", cause="arrival", value=1), open_stay(2, 50.0, NON)]
    return frame(rows)


def test_case_years_exact_with_warmup_clipping() -> None:
    ctx = ctx_for(warmup=30.0, horizon=200.0, tick=50.0)
    out = summarize(two_case_log(), register({1: "LOW", 2: "LOW"}), ctx)
    # case 1 counts on [30, 100) = 70 days, case 2 on [50, 200) = 150 days
    assert out["case_years"] == 220.0 / YEAR
    assert out["cases_entered"] == 1
    assert out["cases_exited"] == 1
    assert out["cases_active_start"] == 1
    assert out["cases_active_end"] == 1
    assert out["cases_initial"] == 1
    assert out["window_days"] == 170.0
    assert (out["warmup_days"], out["horizon_days"]) == (30.0, 200.0)


def test_case_years_zero_warmup_counts_everything() -> None:
    ctx = ctx_for(warmup=0.0, horizon=200.0)
    out = summarize(two_case_log(), register({1: "LOW", 2: "LOW"}), ctx)
    assert out["case_years"] == 250.0 / YEAR
    assert out["cases_active_start"] == 0
    assert out["cases_entered"] == 2


def test_timeseries_state_is_just_before_each_boundary() -> None:
    ctx = ctx_for(warmup=30.0, horizon=200.0, tick=50.0)
    ts = timeseries(two_case_log(), register({1: "LOW", 2: "LOW"}), ctx)
    assert ts["time"].tolist() == [50.0, 100.0, 150.0, 200.0]
    assert ts["in_window"].tolist() == [True, True, True, True]
    # case 2 arrives exactly at 50 and case 1 leaves exactly at 100: both excluded
    assert ts["active"].tolist() == [1, 2, 1, 1]
    assert ts[f"stage:{PRE}"].tolist() == [1, 1, 0, 0]
    assert ts[f"stage:{NON}"].tolist() == [0, 1, 1, 1]
    assert ts["entered_total"].tolist() == [1, 2, 2, 2]
    assert ts["exited_total"].tolist() == [0, 0, 1, 1]
    assert ts["risk:LOW"].tolist() == [1, 2, 1, 1]


def test_timeseries_last_boundary_is_horizon() -> None:
    ctx = ctx_for(horizon=95.0, tick=10.0, warmup=20.0)
    ts = timeseries(two_case_log(), register({1: "LOW", 2: "LOW"}), ctx)
    assert len(ts) == 10
    assert ts["time"].iloc[-1] == 95.0
    assert ts["time"].iloc[-2] == 90.0
    assert ts["in_window"].tolist() == [False, False] + [True] * 8


# ---------------------------------------------------------------- conservation


def busy_log() -> pd.DataFrame:
    """Several overlapping journeys with exits at tick boundaries and in between."""
    rows = []
    rows += journey(1, 0.0, [(PRE, 10.0), (NON, 25.0)], exits=True, initial=True)
    rows += journey(2, 0.0, [(PRE, 5.0), (CUS, 40.0), (SR, 30.0)], exits=True, initial=True)
    rows += journey(3, 12.5, [(PRE, 7.5), (NON, 100.0)], exits=False)
    rows += journey(4, 20.0, [(PRE, 0.0), (NON, 20.0)], exits=True)
    rows += journey(5, 99.0, [], exits=False)
    return frame([r for r in rows if r[0] < 100.0])


def test_timeseries_conservation_identity() -> None:
    ctx = ctx_for(warmup=15.0, horizon=100.0, tick=7.0)
    ts = timeseries(busy_log(), register({i: "LOW" for i in range(1, 6)}), ctx)
    assert (ts["entered_total"] == ts["exited_total"] + ts["active"]).all()
    assert ts["entered_total"].iloc[-1] == 5
    assert ts["exited_total"].iloc[-1] == 3
    stage_sum = ts[[c for c in ts.columns if c.startswith("stage:")]].sum(axis=1)
    assert (stage_sum <= ts["active"]).all()
    assert ts["time"].iloc[-1] == 100.0


stays = st.lists(st.tuples(st.sampled_from(list(STAGES)), st.integers(0, 40)), max_size=4)
journeys = st.lists(st.tuples(st.integers(0, 99), stays, st.booleans()), max_size=12)


@settings(max_examples=60, deadline=None)
@given(journeys, st.integers(0, 60), st.sampled_from([1.0, 3.0, 7.5, 10.0, 33.0, 150.0]))
def test_conservation_property(cases: list, warmup: int, tick: float) -> None:
    horizon = 100.0
    rows = []
    for i, (arrival, legs, exits) in enumerate(cases):
        rows += journey(i, float(arrival), [(s, float(d)) for s, d in legs], exits)
    rows = [r for r in rows if r[0] < horizon]
    events = frame(rows)
    reg = register({i: "MEDIUM" for i in range(len(cases))})
    ctx = ctx_for(warmup=float(warmup), horizon=horizon, tick=tick)
    ts = timeseries(events, reg, ctx)
    assert (ts["entered_total"] == ts["exited_total"] + ts["active"]).all()
    # brute force: active just before each boundary
    arrive = {r[1]: r[0] for r in rows if r[2] == "arrival"}
    leave = {r[1]: r[0] for r in rows if r[2] == "exit"}
    for t, active in zip(ts["time"], ts["active"], strict=True):
        expect = sum(1 for c, a in arrive.items() if a < t and leave.get(c, math.inf) >= t)
        assert active == expect
    assert (ts["risk:MEDIUM"] == ts["active"]).all()
    stage_cols = [c for c in ts.columns if c.startswith("stage:")]
    assert (ts[stage_cols].to_numpy() >= 0).all()
    assert (ts[stage_cols].sum(axis=1) <= ts["active"]).all()
    out = summarize(events, reg, ctx)
    area = sum(max(0.0, min(leave.get(c, horizon), horizon) - max(a, warmup))
               for c, a in arrive.items())
    assert out["case_years"] * YEAR == pytest.approx(area, abs=1e-9)
    assert (out["cases_active_start"] + out["cases_entered"] - out["cases_exited"]
            == out["cases_active_end"])
    assert out["cases_active_end"] == ts["active"].iloc[-1]
    occ = stage_occupancy(events, ctx)
    assert (occ["entries"] >= 0).all()
    assert occ["L"].sum() * (horizon - warmup) <= area + 1e-9


# ---------------------------------------------------------------- staff load


def staff_log() -> pd.DataFrame:
    """Staff 1 (community, cap 10) and staff 2 (custody, cap 8, absent on [60, 80))."""
    return frame([
        ev(0.0, -1, "capacity", manager=1, cause="join", value=10.0),
        ev(0.0, -1, "capacity", manager=2, cause="join", value=8.0),
        ev(0.0, 101, "load", manager=1, cause="assign", value=4.0),
        ev(10.0, 102, "load", manager=1, cause="assign", value=8.0),
        ev(30.0, 103, "load", manager=2, cause="assign", value=8.5),
        ev(50.0, 101, "load", manager=1, cause="unassign", value=-4.0),
        ev(60.0, -1, "capacity", manager=2, cause="absence", value=-8.0),
        ev(80.0, -1, "capacity", manager=2, cause="return", value=8.0),
        ev(90.0, 103, "load", manager=2, cause="reweigh", value=-0.5),
    ])


STAFF_CTX = {"warmup": 20.0, "horizon": 100.0, "tick": 10.0,
             "staff_setting": {1: "community", 2: "custody"}}


def test_mean_caseload_pressure_and_over_capacity() -> None:
    out = summarize(staff_log(), register({}), ctx_for(**STAFF_CTX))
    # W = [20, 100). Staff 1: count 2, load 12 on [20, 50); count 1, load 8 on [50, 100).
    # Staff 2: 0 on [20, 30); count 1, load 8.5 on [30, 60) and [80, 90); unavailable
    # (but holding 1) on [60, 80); load 8 on [90, 100).
    held = 2 * 30 + 1 * 50 + 1 * 70          # 180 case-days held
    in_post = 80 + 80                         # 160 manager-days in post (an absence is still in post)
    available = 80 + 60                       # 140 manager-days available
    pressure = (1.2 * 30 + 0.8 * 50) + (8.5 / 8 * 40 + 1.0 * 10)
    assert out["mean_caseload"] == pytest.approx(held / in_post, rel=1e-12)
    assert out["mean_caseload_pressure"] == pytest.approx(pressure / available, rel=1e-12)
    # over capacity: staff 1 on [20, 50), staff 2 on [30, 60) and [80, 90); load == cap
    # on [90, 100) is not over (strict)
    assert out["share_manager_time_over_capacity"] == pytest.approx(70 / 140, rel=1e-12)
    # over 110%: only staff 1 (12 > 11); staff 2 has 8.5 < 8.8
    assert out["share_manager_time_over_110"] == pytest.approx(30 / 140, rel=1e-12)
    assert out["mean_caseload_by_setting"] == pytest.approx(
        {"community": 110 / 80, "custody": 70 / 80}, rel=1e-12)
    assert out["mean_caseload_pressure_by_setting"]["custody"] == pytest.approx(52.5 / 60)
    assert out["share_manager_time_over_capacity_by_setting"] == pytest.approx(
        {"community": 30 / 80, "custody": 40 / 60})
    assert out["share_manager_time_over_110_by_setting"] == pytest.approx(
        {"community": 30 / 80, "custody": 0.0})


def test_a_leaver_stops_counting_in_the_caseload_denominator() -> None:
    rows = [ev(0.0, -1, "capacity", manager=1, cause="join", value=10.0),
            ev(0.0, -1, "capacity", manager=2, cause="join", value=10.0),
            ev(0.0, 1, "load", manager=1, cause="assign", value=1.0),
            ev(0.0, 2, "load", manager=2, cause="assign", value=1.0),
            ev(50.0, 1, "load", manager=1, cause="unassign", value=-1.0),
            ev(50.0, 1, "load", manager=2, cause="assign", value=1.0),
            ev(50.0, -1, "capacity", manager=1, cause="leave", value=-10.0)]
    ctx = ctx_for(staff_setting={1: "community", 2: "community"})
    out = summarize(frame(rows), register({}), ctx)
    # [0, 50): 2 cases over 2 in post; [50, 100): 2 cases over 1 in post -> (100 + 100) / (100 + 50)
    assert out["mean_caseload"] == pytest.approx(200 / 150, rel=1e-12)
    ts = timeseries(frame(rows), register({}), ctx).set_index("time")
    assert ts.loc[50.0, "mean_caseload"] == 1.0 and ts.loc[60.0, "mean_caseload"] == 2.0


def test_staff_load_segments_tile_the_run() -> None:
    seg = staff_load(staff_log(), ctx_for(**STAFF_CTX))
    two = seg[seg["manager"] == 2]
    assert two["start"].tolist() == [0.0, 30.0, 60.0, 80.0, 90.0]
    assert two["end"].tolist() == [30.0, 60.0, 80.0, 90.0, 100.0]
    assert two["capacity"].tolist() == [8.0, 8.0, 0.0, 8.0, 8.0]
    assert two["load"].tolist() == [0.0, 8.5, 8.5, 8.5, 8.0]
    assert two["count"].tolist() == [0, 1, 1, 1, 1]
    assert set(two["setting"]) == {"custody"}
    one = seg[seg["manager"] == 1]
    assert one["count"].tolist() == [1, 2, 1]
    assert list(seg.columns) == ["manager", "setting", "start", "end", "load", "count",
                                 "capacity"]


def test_staff_load_merges_same_instant_events_and_pads_start() -> None:
    rows = [ev(5.0, -1, "capacity", manager=3, cause="join", value=4.0),
            ev(5.0, 1, "load", manager=3, cause="assign", value=1.0),
            ev(5.0, 2, "load", manager=3, cause="assign", value=1.0)]
    seg = staff_load(frame(rows), ctx_for(horizon=20.0))
    assert seg["start"].tolist() == [0.0, 5.0]
    assert seg["end"].tolist() == [5.0, 20.0]
    assert seg["count"].tolist() == [0, 2]
    assert seg["setting"].tolist() == ["unknown", "unknown"]


def test_timeseries_staff_state_at_boundaries() -> None:
    ts = timeseries(staff_log(), register({}), ctx_for(**STAFF_CTX)).set_index("time")
    # just before 10: staff 1 holds 1 (the assign at 10 is not yet in), both available
    assert ts.loc[10.0, "mean_caseload"] == 0.5
    assert ts.loc[40.0, "mean_caseload"] == 1.5
    assert ts.loc[40.0, "mean_pressure"] == pytest.approx((1.2 + 8.5 / 8) / 2)
    assert ts.loc[40.0, "share_over_capacity"] == 1.0
    assert ts.loc[40.0, "share_over_110"] == 0.5
    # staff 2 absent but in post: caseload per member in post; pressure over staff 1 alone
    assert ts.loc[70.0, "mean_caseload"] == 1.0
    assert ts.loc[70.0, "mean_pressure"] == pytest.approx(0.8)
    assert ts.loc[70.0, "share_over_capacity"] == 0.0
    assert ts.loc[100.0, "mean_pressure"] == pytest.approx((0.8 + 1.0) / 2)


# ---------------------------------------------------------------- compliance


def test_compliance_by_risk_uses_risk_at_contact_time() -> None:
    rows = [
        ev(0.0, 1, "arrival", cause="initial", value=1),
        ev(0.0, 2, "arrival", cause="initial", value=1),
        ev(0.0, 1, "stage_enter", NON, cause="arrival"),
        ev(0.0, 2, "stage_enter", NON, cause="arrival"),
        ev(10.0, 1, "contact_kept", NON, 1, "face_to_face", 0.8),
        ev(15.0, 2, "contact_kept", NON, 1, "phone", 0.8),
        ev(20.0, 1, "contact_missed", NON, 1, "face_to_face", 0.8),
        # same instant: the contact logged before the change still has the old risk
        ev(30.0, 1, "contact_missed", NON, 1, "face_to_face", 0.8),
        ev(30.0, 1, "risk_change", NON, cause="HIGH", value=1),
        ev(30.0, 1, "contact_kept", NON, 1, "phone", 0.8),
        ev(40.0, 1, "contact_missed", NON, 1, "phone", 0.8),
        ev(50.0, 1, "contact_kept", NON, 1, "phone", 0.8),
    ]
    out = summarize(frame(rows), register({1: "LOW", 2: "HIGH"}), ctx_for())
    assert out["compliance_by_risk"] == {"LOW": pytest.approx(1 / 3), "HIGH": 0.75}
    assert out["contacts_required"] == 7
    assert out["compliance_rate_of_offered"] == pytest.approx(4 / 7)
    assert out["contacts_not_offered"] == 0 and out["compliance_rate_of_due"] == out["compliance_rate_of_offered"]
    assert out["compliance_by_mode"] == {"face_to_face": pytest.approx(1 / 3), "phone": 0.75}
    assert out["compliance_by_stage"] == {NON: pytest.approx(4 / 7)}
    ts = timeseries(frame(rows), register({1: "LOW", 2: "HIGH"}), ctx_for(tick=25.0))
    assert ts["risk:LOW"].tolist() == [1, 0, 0, 0]
    assert ts["risk:HIGH"].tolist() == [1, 2, 2, 2]
    assert ts["contacts_kept"].tolist() == [2, 1, 1, 0]
    assert ts["contacts_missed"].tolist() == [1, 2, 0, 0]
    assert ts["compliance_rate_of_offered"].iloc[0] == pytest.approx(2 / 3)
    assert np.isnan(ts["compliance_rate_of_offered"].iloc[3])


def test_no_contacts_gives_none() -> None:
    out = summarize(two_case_log(), register({1: "LOW", 2: "LOW"}), ctx_for(horizon=200.0))
    assert out["compliance_rate_of_offered"] is None and out["compliance_rate_of_due"] is None
    assert out["contacts_required"] == 0
    assert out["compliance_by_risk"] == {}
    assert out["mean_wait_days"] is None
    assert out["share_needs_met"] is None
    assert out["mean_caseload"] is None


# ---------------------------------------------------------------- continuity


def test_continuity_breaks_by_cause_and_per_case_year() -> None:
    rows = journey(1, 0.0, [], exits=False, initial=True)
    rows += journey(2, 0.0, [(NON, 55.0)], exits=True, initial=True)
    rows += [
        ev(0.0, 1, "allocation", manager=1, cause="new_case"),
        ev(0.0, 2, "allocation", manager=1, cause="new_case"),
        ev(5.0, 1, "manager_change", manager=2, cause="transfer", value=1),
        ev(20.0, 1, "manager_change", manager=3, cause="staff_leave", value=2),
        ev(30.0, 2, "manager_change", manager=2, cause="transfer", value=1),
        ev(40.0, 1, "manager_change", manager=4, cause="staff_leave", value=3),
    ]
    events = frame(rows)
    out = summarize(events, register({1: "LOW", 2: "LOW"}), ctx_for(warmup=10.0))
    case_years = (90.0 + 45.0) / YEAR
    assert out["case_years"] == pytest.approx(case_years, rel=1e-15)
    assert out["continuity_breaks"] == 3
    assert out["continuity_breaks_by_cause"] == {"staff_leave": 2, "transfer": 1}
    assert list(out["continuity_breaks_by_cause"]) == ["staff_leave", "transfer"]
    assert out["continuity_breaks_per_case_year"] == pytest.approx(3 / case_years)
    late = summarize(events, register({1: "LOW", 2: "LOW"}), ctx_for(warmup=35.0))
    assert late["continuity_breaks_by_cause"] == {"staff_leave": 1, "transfer": 0}
    ts = timeseries(events, register({1: "LOW", 2: "LOW"}), ctx_for(warmup=10.0))
    assert ts["continuity_breaks"].tolist() == [1, 0, 1, 1, 1, 0, 0, 0, 0, 0]


# ---------------------------------------------------------------- completion


def test_completion_rate_counts_only_order_stages() -> None:
    def leave(t: float, case: int, stage: str, cause: str) -> tuple:
        return ev(t, case, "stage_exit", stage, cause=cause, value=1.0)

    rows = [
        leave(5.0, 1, NON, "completed"),        # before the window: ignored
        leave(20.0, 2, NON, "completed"),
        leave(30.0, 3, NON, "breach"),
        leave(40.0, 4, CUS, "completed"),       # not an order stage
        leave(50.0, 5, SR, "completed"),
        leave(60.0, 6, PRE, "completed"),       # not an order stage
        leave(70.0, 7, CUS, "further_offence"),
    ]
    out = summarize(frame(rows), register({}), ctx_for(warmup=10.0))
    assert out["orders_ended"] == 3
    assert out["completion_rate"] == pytest.approx(2 / 3)
    none = summarize(frame(rows), register({}), ctx_for(warmup=10.0, order_stages=frozenset()))
    assert none["orders_ended"] == 0
    assert none["completion_rate"] is None


# ---------------------------------------------------------------- costs


def cost_log() -> pd.DataFrame:
    """Custody, recall, court return, contacts and interventions with known costs."""
    rows = [
        ev(0.0, 1, "arrival", cause="initial", value=1),
        ev(0.0, 1, "stage_enter", CUS, cause="arrival"),
        ev(40.0, 1, "stage_exit", CUS, cause="completed", value=40.0),
        ev(40.0, 1, "stage_enter", SR, cause="completed"),
        ev(60.0, 1, "recall", SR, cause="non_compliance"),
        ev(60.0, 1, "stage_exit", SR, cause="breach", value=20.0),
        ev(60.0, 1, "stage_enter", CUS, cause="recall"),
        ev(0.0, 2, "arrival", cause="initial", value=1),
        ev(0.0, 2, "stage_enter", NON, cause="arrival"),
        ev(5.0, 2, "contact_kept", NON, 1, "face_to_face", 0.9),   # before the window
        ev(20.0, 2, "contact_kept", NON, 1, "face_to_face", 0.9),
        ev(30.0, 2, "contact_missed", NON, 1, "phone", 0.9),
        ev(35.0, 2, "contact_kept", NON, 1, "phone", 0.9),
        ev(50.0, 2, "return_to_court", NON, cause="non_compliance"),
        ev(12.0, 2, "assessment", NON, 1, value=3),
        ev(14.0, 2, "referral", NON, 7, "accepted", 0),
        ev(14.0, 2, "referral", NON, 9, "declined", 1),
        ev(15.0, 2, "intervention_start", NON, 7, value=1.0),
        ev(45.0, 2, "intervention_end", NON, 7, "completed", 0),
        ev(80.0, 2, "intervention_start", NON, 8, value=4.0),     # provider 8 unpriced
        ev(90.0, 2, "intervention_start", NON, 7, value=7.0),     # censored at 100
    ]
    return frame(rows)


def test_costs_by_category_and_total() -> None:
    ctx = ctx_for(warmup=10.0)
    out = summarize(cost_log(), register({1: "HIGH", 2: "LOW"}), ctx)
    assert out["custody_days"] == 70.0  # [10, 40) + [60, 100)
    assert out["cost_by_category"] == {   # contact staff time is in staff (see test_costs.py); expenses here
        "staff": 0.0, "contact_expenses": 50.0 + 10.0 + 10.0, "custody": 7000.0,
        "interventions": (30 + 10) * 20.0, "courts": 1000.0, "recalls": 2000.0}
    assert out["cost_total"] == sum(out["cost_by_category"].values())
    assert out["cost_total"] == 10870.0
    assert out["cost_per_case_year"] == pytest.approx(10870.0 / (180.0 / YEAR))
    assert out["intervention_place_days"] == 30 + 20 + 10
    assert out["currency"] == "GBP"
    assert (out["referrals"], out["referral_acceptance_rate"]) == (2, 0.5)
    assert out["mean_wait_days"] == pytest.approx(4.0)
    assert out["interventions_completed"] == 1
    assert out["share_needs_met"] == pytest.approx(1 / 3)
    assert (out["recalls"], out["returns_to_court"]) == (1, 1)
    assert out["recalls_per_case_year"] == pytest.approx(YEAR / 180.0)


def test_doubling_custody_price_doubles_only_custody() -> None:
    ctx = ctx_for(warmup=10.0)
    base = summarize(cost_log(), register({1: "HIGH", 2: "LOW"}), ctx)
    dear = summarize(cost_log(), register({1: "HIGH", 2: "LOW"}),
                     replace(ctx, custody_cost_per_day=2 * ctx.custody_cost_per_day))
    assert dear["cost_by_category"]["custody"] == 2 * base["cost_by_category"]["custody"]
    for key in ("staff", "interventions", "courts", "recalls"):
        assert dear["cost_by_category"][key] == base["cost_by_category"][key]
    assert dear["cost_total"] == sum(dear["cost_by_category"].values())
    assert dear["cost_total"] - base["cost_total"] == base["cost_by_category"]["custody"]


def test_unpriced_contact_mode_is_reported() -> None:
    rows = [ev(1.0, 1, "contact_kept", NON, 1, "video", 0.5)]
    out = summarize(frame(rows), register({}), ctx_for(workload_hours={"contact:phone": 1.0}))
    assert out["workload_hours"] == 0.0
    assert out["unpriced_contact_modes"] == ["video"]


def test_summary_is_json_serialisable() -> None:
    out = summarize(cost_log(), register({1: "HIGH", 2: "LOW"}), ctx_for(warmup=10.0))
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    for value in out.values():
        assert not isinstance(value, np.generic)


# ---------------------------------------------------------------- Little's law


def test_littles_law_on_stationary_log() -> None:
    rng = np.random.default_rng(12345)
    horizon, rate, stay = 4000.0, 2.0, 10.0
    arrivals = np.cumsum(rng.exponential(1 / rate, size=int(rate * horizon * 1.2)))
    arrivals = arrivals[arrivals < horizon]
    rows = []
    for i, t in enumerate(arrivals):
        rows += [r for r in journey(i, float(t), [(NON, stay)], exits=True) if r[0] < horizon]
    ctx = ctx_for(warmup=100.0, horizon=horizon)
    occ = stage_occupancy(frame(rows), ctx).set_index("stage")
    row = occ.loc[NON]
    assert row["littles_ratio"] == pytest.approx(1.0, abs=0.02)
    assert row["L"] == pytest.approx(rate * stay, rel=0.1)
    assert row["W_mean"] <= stay + 1e-9
    assert row["W_mean"] == pytest.approx(stay, rel=0.01)
    assert row["censored"] > 0
    assert row["entries"] == int(((arrivals >= 100.0) & (arrivals < horizon)).sum())
    assert np.isnan(occ.loc[CUS, "littles_ratio"])


def test_stage_occupancy_hand_values() -> None:
    # stays: PRE [0, 10) and [20, 26); NON [10, 30) then open from 26 (censored at 40)
    rows = journey(1, 0.0, [(PRE, 10.0), (NON, 20.0)], exits=True)
    rows += [*journey(2, 20.0, [(PRE, 6.0)], exits=False), open_stay(2, 26.0, NON)]
    occ = stage_occupancy(frame(rows), ctx_for(warmup=5.0, horizon=40.0)).set_index("stage")
    span = 35.0
    assert occ.loc[PRE, "L"] == pytest.approx((5.0 + 6.0) / span)
    assert occ.loc[PRE, "entries"] == 1          # the stay from 0 started before warm-up
    assert occ.loc[PRE, "W_mean"] == 6.0
    assert occ.loc[NON, "L"] == pytest.approx((20.0 + 14.0) / span)
    assert occ.loc[NON, "W_mean"] == pytest.approx((20.0 + 14.0) / 2)
    assert occ.loc[NON, "censored"] == 1
    assert occ.loc[NON, "littles_ratio"] == pytest.approx(1.0)
    assert occ.loc[PRE, "littles_ratio"] == pytest.approx((11.0 / span) / (1 / span * 6.0))
    assert list(occ.index) == list(STAGES)
    assert occ.loc[CUS, "setting"] == "custody"


# ---------------------------------------------------------------- case table


def test_case_table_one_case() -> None:
    rows = [
        ev(2.0, 5, "arrival", cause="arrival", value=1),
        ev(2.0, 5, "allocation", manager=1, cause="new_case"),
        ev(2.0, 5, "mode_change", manager=1, cause="face_to_face", value=1.0),
        ev(2.0, 5, "stage_enter", NON, cause="arrival"),
        ev(10.0, 5, "contact_kept", NON, 1, "face_to_face", 0.7),
        ev(20.0, 5, "contact_missed", NON, 1, "face_to_face", 0.7),
        ev(20.0, 5, "warning", NON, 1, value=1),
        ev(30.0, 5, "contact_missed", NON, 1, "face_to_face", 0.7),
        ev(30.0, 5, "breach", NON, 1, "non_compliance"),
        ev(31.0, 5, "return_to_court", NON, cause="non_compliance"),
        ev(31.0, 5, "stage_exit", NON, cause="breach", value=29.0),
        ev(31.0, 5, "manager_change", manager=2, cause="custody_transfer", value=1),
        ev(31.0, 5, "stage_enter", CUS, cause="breach"),
        ev(61.0, 5, "stage_exit", CUS, cause="completed", value=30.0),
        ev(61.0, 5, "stage_enter", SR, cause="completed"),
        ev(70.0, 5, "risk_change", SR, cause="HIGH", value=1),
        ev(70.0, 5, "mode_change", SR, 3, "remote", 0.5),
        ev(72.0, 5, "referral", SR, 7, "accepted", 0),
        ev(80.0, 5, "intervention_start", SR, 7, value=8.0),
        ev(90.0, 5, "intervention_end", SR, 7, "completed", 0),
        ev(120.0, 5, "stage_exit", SR, cause="completed", value=59.0),
        ev(120.0, 5, "exit", cause="completed"),
        ev(50.0, 6, "arrival", cause="arrival", value=1),
        ev(100.0, 6, "stage_enter", CUS, cause="arrival"),
    ]
    reg = register({6: "LOW", 5: "MEDIUM"}, {5: 2.0, 6: 50.0})
    tab = case_table(frame(rows), reg, ctx_for(warmup=50.0, horizon=150.0))
    assert tab["case"].tolist() == [6, 5]  # register order kept
    for col in reg.columns:
        assert tab[col].tolist() == reg[col].tolist()
    one = tab.set_index("case").loc[5]
    assert one["exit_time"] == 120.0
    assert bool(one["exited"]) is True
    assert one["final_stage"] == SR
    assert one["n_stage_entries"] == 3
    assert one["continuity_breaks"] == 1
    assert (one["contacts_kept"], one["contacts_missed"]) == (1, 2)
    assert one["compliance_rate_of_offered"] == pytest.approx(1 / 3)
    assert (one["warnings"], one["breaches"], one["returns_to_court"], one["recalls"]) == (
        1, 1, 1, 0)
    assert (one["referrals"], one["interventions_completed"]) == (1, 1)
    assert one["custody_days"] == 30.0
    assert one["final_risk"] == "HIGH"
    assert one["final_mode"] == "remote"
    other = tab.set_index("case").loc[6]
    assert np.isnan(other["exit_time"])
    assert bool(other["exited"]) is False
    assert other["final_stage"] == CUS
    assert other["custody_days"] == 50.0
    assert other["final_risk"] == "LOW"
    assert pd.isna(other["final_mode"])
    assert np.isnan(other["compliance_rate_of_offered"])


def test_mode_columns_follow_latest_mode_of_active_cases() -> None:
    rows = journey(1, 0.0, [(NON, 25.0)], exits=True) + journey(2, 0.0, [], exits=False)
    rows += [ev(0.0, 1, "mode_change", manager=1, cause="face_to_face", value=1.0),
             ev(12.0, 1, "mode_change", manager=1, cause="phone", value=0.5),
             ev(15.0, 2, "mode_change", manager=1, cause="phone", value=0.5)]
    ts = timeseries(frame(rows), register({1: "LOW", 2: "LOW"}), ctx_for(horizon=30.0))
    assert ts["mode:face_to_face"].tolist() == [1, 0, 0]
    assert ts["mode:phone"].tolist() == [0, 2, 1]
    assert ts["active"].tolist() == [2, 2, 1]


# ---------------------------------------------------------------- robustness


def test_end_of_run_rows_are_censoring_not_exits() -> None:
    rows = [*journey(1, 0.0, [], exits=False), open_stay(1, 0.0, CUS),
            ev(100.0, 1, "stage_exit", CUS, cause="end_of_run"),
            ev(100.0, 1, "exit", cause="end_of_run")]
    out = summarize(frame(rows), register({1: "LOW"}), ctx_for())
    assert out["cases_exited"] == 0
    assert out["cases_active_end"] == 1
    assert out["custody_days"] == 100.0
    tab = case_table(frame(rows), register({1: "LOW"}), ctx_for())
    assert not tab["exited"].iloc[0]
    assert np.isnan(tab["exit_time"].iloc[0])
    assert tab["custody_days"].iloc[0] == 100.0


def test_empty_log() -> None:
    ctx = ctx_for()
    events = EventLog().to_frame()
    out = summarize(events, register({}), ctx)
    assert out["case_years"] == 0.0
    assert out["cost_total"] == 0.0
    assert out["continuity_breaks_per_case_year"] is None
    ts = timeseries(events, register({}), ctx)
    assert len(ts) == 10
    assert (ts["active"] == 0).all()
    assert staff_load(events, ctx).empty
    assert case_table(events, register({}), ctx).empty
    assert len(stage_occupancy(events, ctx)) == len(STAGES)


def test_context_validation() -> None:
    with pytest.raises(ValueError):
        ctx_for(warmup=100.0, horizon=100.0)
    with pytest.raises(ValueError):
        ctx_for(tick=0.0)


def test_latest_label_of_a_case_with_thousands_of_updates() -> None:
    # each query bisects its case's updates: a long history takes a dozen rounds, not one per update
    from casesim.metrics.tables import latest_label

    rng = np.random.default_rng(4)
    u_case = np.r_[np.zeros(3000, np.int32), np.ones(3, np.int32)]
    u_order = np.r_[np.arange(3000) * 2, [5, 5, 9]].astype(np.int64)   # case 1: two updates at one order
    u_label = np.r_[np.arange(3000) % 5, [1, 2, 3]].astype(np.int64)
    q_order = rng.integers(0, 6001, 20000)
    q_case = (rng.random(20000) < 0.1).astype(np.int32)
    got = latest_label(u_case, u_order, u_label, q_case, q_order)
    want = np.where(q_case == 0, np.where(q_order > 0, np.minimum((q_order - 1) // 2, 2999) % 5, -1),
                    np.where(q_order > 9, 3, np.where(q_order > 5, 2, -1)))
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 3)), max_size=25),
       st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.5, 6.0, math.inf])), max_size=25),
       st.sampled_from([1, 1_000_003]))
def test_latest_label_is_the_label_of_the_case_s_latest_earlier_update(updates: list, queries: list,
                                                                       spread: int) -> None:
    # by brute force: among the case's updates strictly before the query (an update at the same order is
    # not before it), the latest; of updates at the same order, the one listed last; -1 if none. ``spread``
    # scatters the case numbers (a table by case number is then too large: the sparse lookup)
    from casesim.metrics.tables import latest_label

    u_case = np.array([u[0] * spread for u in updates], dtype=np.int32)
    u_order = np.array([u[1] for u in updates], dtype=np.int64)
    u_label = np.array([u[2] for u in updates], dtype=np.int64)
    q_case = np.array([q[0] * spread for q in queries], dtype=np.int32)
    q_order = np.array([q[1] for q in queries], dtype=np.float64)
    got = latest_label(u_case, u_order, u_label, q_case, q_order)
    want = []
    for case, order in queries:
        before = [(o, i) for i, (c, o, _) in enumerate(updates) if c == case and o < order]
        want.append(updates[max(before)[1]][2] if before else -1)
    assert got.dtype == np.int64 and got.tolist() == want


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 40), shuffle=st.booleans(), gap=st.integers(0, 5),
       queries=st.lists(st.integers(-3, 50), max_size=60), seed=st.integers(0, 2**16))
def test_register_positions_are_those_of_a_hash_index(n: int, shuffle: bool, gap: int, queries: list,
                                                      seed: int) -> None:
    from casesim.metrics.tables import RegisterPositions

    cases = np.arange(n, dtype=np.int64)   # by row, as a run numbers its cases ...
    if gap:
        cases = cases * (gap + 1)           # ... or with gaps ...
    if shuffle:
        np.random.default_rng(seed).shuffle(cases)   # ... or out of order
    q = np.array(queries, dtype=np.int32)
    at = RegisterPositions(cases)
    assert at.by_row == np.array_equal(cases, np.arange(n))
    got = at(q)
    assert got.dtype == np.intp
    assert got.tolist() == pd.Index(cases).get_indexer(q).tolist()


def test_the_case_table_of_a_register_by_row_is_that_of_the_same_register_in_another_order() -> None:
    from casesim.outputs.results import run
    from tests.helpers import small

    res = run(small("time.horizon_days=300", "time.warmup_days=50"), seed=3)
    reg = res.register
    assert reg["case"].tolist() == list(range(len(reg)))   # the fast path is the one a run takes
    by_row = case_table(res.events, reg, res.context)
    flipped = case_table(res.events, reg.iloc[::-1].reset_index(drop=True), res.context)
    pd.testing.assert_frame_equal(flipped.iloc[::-1].reset_index(drop=True), by_row)
