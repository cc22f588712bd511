"""Workload in hours: what a case asks of its holder, what a member gives, and pressure and FTE required made
from the same hours (casesim/scenario/schema.py ``Scenario.mode_hours_per_week``/``hours_per_week``,
casesim/engine/simulation.py, casesim/metrics/costs.py)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from casesim.engine.simulation import Simulation
from casesim.metrics.costs import WORK_KINDS
from casesim.metrics.summary import summarize
from casesim.outputs.results import Result, run
from tests.helpers import SCENARIOS, scaled, small
from tests.test_bounds import refused_run, write
from tests.test_metrics import NON, ctx_for, ev, frame, register

SEEDS = (1, 2, 3)


@cache
def scenario_run(name: str, seed: int) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml"), seed=seed)


def test_a_members_load_is_the_hours_of_what_it_carries_and_the_log_agrees() -> None:
    """At the horizon every member's load is the weekly hours of the cases it bears plus its team seats'
    hours, and the ``load`` rows of each member add up to it; a member at work and trained gives its group's
    hours a week."""
    sim = Simulation(small("time.horizon_days=400", "time.warmup_days=100"), seed=5)
    while sim.running:
        sim.step()
    expected = {m: 0.0 for m in sim.staff_ever}
    for case in sim.cases():
        if case.load_staff is not None:
            expected[case.load_staff] += case.load_weight
    seats = 0
    for m in sim.staff_ever:
        if m.in_post:
            expected[m] += sim.seat_hours * len(m.teams)
            seats += len(m.teams)
    assert seats > 0 and sim.seat_hours > 0                       # the custody teams sit
    events = sim.log.to_frame()
    logged = events[events["kind"] == "load"].groupby("manager")["value"].sum()
    groups = {g.name: g for g in sim.scenario.staff}
    for m in sim.staff_ever:
        assert m.load == pytest.approx(expected[m], abs=1e-6)
        assert logged.get(m.unique_id, 0.0) == pytest.approx(m.load, abs=1e-6)
        if m.in_post and not m.absent and m.starter_until <= sim.time:
            assert m.capacity == pytest.approx(sim.scenario.hours_per_week(groups[m.group]))


def test_mode_hours_are_contacts_and_the_review_cycle() -> None:
    sc = small()
    w, review = sc.costs.workload, sc.process.review_interval_days
    for mode, spec in sc.modes.items():
        want = w.contact[mode] * 7 / spec.contact_interval_days + (w.review + w.reassessment) * 7 / review
        assert sc.mode_hours_per_week(mode) == pytest.approx(want)
    # a year at work gives the role's productive hours
    g = sc.staff[0]
    at_work = 365.25 - sc.staffing.annual_leave_days - sc.staffing.sickness_days_per_year
    assert sc.hours_per_week(g) * at_work / 7 == pytest.approx(sc.costs.roles[sc.costs.role_of(g)].productive_hours)


def test_workload_hours_recomputed_from_the_log_by_another_route() -> None:
    """The summary's workload hours equal an independent sum over the log: each member's caseload hours
    integrated segment by segment, plus the hours of the work counted as it happens."""
    res = scenario_run("community_teams", 1)
    ev_, a, h = res.events, res.context.warmup, res.context.horizon
    load = ev_[ev_["kind"] == "load"][["time", "manager", "value"]]
    casework = 0.0
    for _, g in load.groupby("manager"):
        level = g["value"].cumsum().to_numpy()
        t = g["time"].to_numpy()
        ends = np.r_[t[1:], h]
        lo, hi = np.clip(t, a, h), np.clip(ends, a, h)
        casework += float((level * (hi - lo)).sum()) / 7
    w = res.context.workload_hours
    inw = ev_[(ev_["time"] >= a) & (ev_["time"] < h)]
    one_off = 0.0
    for kind, act in WORK_KINDS.items():
        rows = inw[inw["kind"] == kind]
        if kind == "assessment":
            rows = rows[rows["cause"] != "review"]
        one_off += len(rows) * w.get(act, 0.0)
    reports = inw[(inw["kind"] == "arrival") & (inw["cause"] != "initial")]
    one_off += len(reports) * w["pre_sentence_report"]
    s = res.summary
    assert s["workload_hours_by_activity"]["casework"] == pytest.approx(casework, rel=1e-9)
    assert s["workload_hours"] == pytest.approx(casework + one_off, rel=1e-9)
    # the same hours make pressure and FTE required: they cannot disagree
    assert s["workload_pressure"] == pytest.approx(s["fte_required"] / s["fte_at_work"], rel=1e-12)
    for setting, p in s["workload_pressure_by_setting"].items():
        assert p == pytest.approx(s["fte_required_by_setting"][setting] / s["fte_at_work_by_setting"][setting])


@pytest.mark.parametrize("seed", SEEDS)
def test_community_teams_need_more_hours_than_individual_holders_and_it_shows_in_pressure_and_fte(seed: int) -> None:
    """The same staff; team members sit in meetings, so the community needs more hours: FTE required, the
    workload pressure and the caseload pressure all rise together."""
    base, teams = scenario_run("baseline", seed), scenario_run("community_teams", seed)
    b, t = base.summary, teams.summary
    assert base.scenario.staff == teams.scenario.staff
    ratio = t["fte_required_by_setting"]["community"] / b["fte_required_by_setting"]["community"]
    assert 1.03 < ratio < 1.5
    assert t["workload_pressure_by_setting"]["community"] > b["workload_pressure_by_setting"]["community"]
    assert (t["mean_caseload_pressure_by_setting"]["community"]
            > 1.1 * b["mean_caseload_pressure_by_setting"]["community"])


@pytest.mark.parametrize("seed", SEEDS)
def test_through_the_gate_moves_staff_and_halves_the_boundary_breaks(seed: int) -> None:
    base, ttg = scenario_run("baseline", seed), scenario_run("through_the_gate", seed)
    assert sum(g.count for g in ttg.scenario.staff) == sum(g.count for g in base.scenario.staff)

    def boundary(res: Result) -> float:
        return (res.summary["continuity_breaks_by_cause"].get("custody_community_boundary", 0)
                / res.summary["case_years"])

    assert boundary(ttg) < 0.6 * boundary(base)
    assert ttg.summary["continuity_breaks_per_case_year"] < base.summary["continuity_breaks_per_case_year"]
    # the moved posts follow the work: neither setting's staff idle nor swamped
    for setting in ("community", "custody"):
        assert 0.6 < ttg.summary["workload_pressure_by_setting"][setting] < 1.6


@pytest.mark.parametrize("seed", SEEDS)
def test_fewer_staff_mean_more_excessive_workload(seed: int) -> None:
    base, short = scenario_run("baseline", seed), scenario_run("understaffed", seed)
    b, s = base.summary, short.summary
    assert s["workload_pressure_by_setting"]["community"] > 1.15 * b["workload_pressure_by_setting"]["community"]
    assert (s["share_staff_excessive_workload_by_setting"]["community"]
            > 2 * b["share_staff_excessive_workload_by_setting"]["community"])
    assert s["fte_required"] == pytest.approx(b["fte_required"], rel=0.1)   # the same work, fewer hands


def _one_member(weeks_over: int, level: float = 1.2) -> dict:
    """One member giving 35 hours a week from day 0, whose caseload asks ``level`` times that for
    ``weeks_over`` weeks from day 70 and 0.9 times it otherwise, over a window of days 70-350 (40 weeks)."""
    ctx = ctx_for(warmup=70.0, horizon=350.0, staff_setting={1: "community"}, staff_role={1: "po"},
                  setting_role={"community": "po"}, role_hours={"po": 1500.0}, role_annual_cost={"po": 1.0})
    cap = 35.0
    rows = [ev(0.0, -1, "capacity", "", 1, "join", cap), ev(0.0, 1, "load", NON, 1, "assign", 0.9 * cap)]
    if weeks_over:
        rows += [ev(70.0, 1, "load", NON, 1, "reweigh", (level - 0.9) * cap),
                 ev(70.0 + 7 * weeks_over, 1, "load", NON, 1, "reweigh", (0.9 - level) * cap)]
    return summarize(frame(rows), register({1: "LOW"}), ctx)


def test_excessive_workload_is_the_workload_measurement_tools_four_week_rule() -> None:
    assert _one_member(0)["share_staff_excessive_workload"] == 0.0
    assert _one_member(3)["share_staff_excessive_workload"] == 0.0          # three weeks over: not yet
    assert _one_member(4)["share_staff_excessive_workload"] == pytest.approx(1 / 40)
    assert _one_member(10)["share_staff_excessive_workload"] == pytest.approx(7 / 40)
    assert _one_member(10, level=1.09)["share_staff_excessive_workload"] == 0.0   # over 100%, under 110%


def test_capacity_in_weighted_cases_is_refused_as_retired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, "staff:\n  - {name: probation, setting: community, count: 10, capacity: 40}\n")
    (line,) = refused_run(capsys, tmp_path, file)
    assert line.startswith(f"{file}:3: staff.0.capacity: retired: capacity is now hours")
    file = write(tmp_path, "modes:\n  BROKERAGE: {contact_interval_days: 14, workload_weight: 1, "
                 "cost_per_contact: 2, intensity: 0.3}\n", name="modes.yaml")
    (line,) = refused_run(capsys, tmp_path, file)
    assert line.startswith(f"{file}:3: modes.BROKERAGE.workload_weight: retired")


def test_part_time_staff_give_hours_in_proportion() -> None:
    full, part = small(), small("staff.0.fte=0.5")
    assert part.hours_per_week(part.staff[0]) == pytest.approx(0.5 * full.hours_per_week(full.staff[0]))
    a, b = run(full, seed=3).summary, run(part, seed=3).summary
    assert b["fte_available_by_setting"]["community"] == pytest.approx(
        0.5 * a["fte_available_by_setting"]["community"], rel=0.05)     # half the posts' time is paid
    assert b["fte_at_work_by_setting"]["community"] < 0.6 * a["fte_at_work_by_setting"]["community"]
    assert b["workload_pressure_by_setting"]["community"] > 1.6 * a["workload_pressure_by_setting"]["community"]
