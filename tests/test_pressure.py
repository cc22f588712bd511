"""What workload pressure does to practice: contacts kept less often and not delivered, reviews that slip
(casesim/scenario/schema.py ``Pressure``, ``Compliance.pressure``; casesim/engine/process.py)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from casesim.agents.case_manager import CaseManager
from casesim.engine.simulation import Simulation
from casesim.outputs.results import Result, run
from tests.helpers import SCENARIOS, scaled, small

SEEDS = (1, 2, 3)
#: Every effect of pressure on practice off.
#: Every effect of pressure on practice and on the people: on compliance directly and through motivation, on
#: contacts delivered, on reviews, and on the consistency of enforcement.
NO_EFFECT = ("compliance.pressure=0", "pressure.contacts_not_delivered=0", "pressure.review_delay=0",
             "motivation.pressure=0", "enforcement.inconsistency=0")


@cache
def scenario_run(name: str, seed: int, *extra: str) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml", *extra), seed=seed)


def test_workload_pressure_is_caseload_plus_the_recent_work_over_capacity() -> None:
    sim = Simulation(small("time.horizon_days=60", "time.warmup_days=10"), seed=1)
    m = next(iter(sim.staff_ever))
    assert isinstance(m, CaseManager)
    m.load, m.capacity = 20.0, 32.0
    m.recent.clear()
    m.recent_hours = 0.0
    assert m.workload_pressure(100.0, 28.0) == pytest.approx(20 / 32)
    m.did(80.0, 3.0)
    m.did(90.0, 4.0)
    assert m.workload_pressure(100.0, 28.0) == pytest.approx((20 + 7 * 7 / 28) / 32)
    assert m.workload_pressure(108.5, 28.0) == pytest.approx((20 + 4 * 7 / 28) / 32)   # the first is 28.5 days old
    assert m.workload_pressure(120.0, 28.0) == pytest.approx(20 / 32) and m.recent_hours == 0.0
    m.capacity = 0.0
    assert m.workload_pressure(120.0, 28.0) == float("inf")


def test_the_engine_counts_the_work_the_metrics_count_in_each_members_weeks() -> None:
    """At the horizon each member's recent work is the hours of the rows the metrics give that member
    (its id in the row's manager column) in the last ``pressure.window_days``."""
    sim = Simulation(small("time.horizon_days=400", "time.warmup_days=100"), seed=2)
    while sim.running:
        sim.step()
    now, window = sim.time, sim.scenario.pressure.window_days
    ev = sim.log.to_frame()
    w = sim.scenario.costs.workload
    hours = {"assessment": w.assessment, "plan": w.plan, "warning": w.warning, "breach": w.breach,
             "return_to_court": w.breach_report}
    recent = ev[(ev["time"] > now - window) & ev["kind"].isin(list(hours))]
    recent = recent[~((recent["kind"] == "assessment") & (recent["cause"] == "review"))]
    booked = recent.assign(h=recent["kind"].map(hours).astype(float))[["manager", "h"]]
    # and the contacts that waited for someone at work, caught up on top of the caseload (the hours of the
    # mode (the cause column) of the contact offered with the late row, which the holder delivers under temporary cover)
    seen = ev[(ev["time"] > now - window) & ev["kind"].isin(["contact_kept", "contact_missed"])]
    late = ev[(ev["time"] > now - window) & (ev["kind"] == "contact_late")]
    late = late[["time", "case", "manager"]].merge(seen[["time", "case", "cause"]].rename(columns={"cause": "mode"}),
                                                  on=["time", "case"])
    assert len(late) > 0
    caught_up = late.assign(h=late["mode"].astype(str).map(w.contact).astype(float))[["manager", "h"]]
    by_member = pd.concat([booked, caught_up]).groupby("manager")["h"].sum()
    checked = 0
    for m in sim.staff_ever:
        m.workload_pressure(now, window)   # expires what is older than the window
        assert m.recent_hours == pytest.approx(by_member.get(m.unique_id, 0.0), abs=1e-9)
        checked += m.recent_hours > 0
    assert checked > 10


def dropped(res: Result) -> int:
    ev = res.events
    return int(((ev["kind"] == "contact_cancelled") & (ev["cause"] == "staff_pressure")).sum())


def share_dropped(res: Result) -> float:
    """Contacts not delivered because the staff member was too pressed, as a share of the contacts due."""
    due = int(res.events["kind"].isin(["contact_kept", "contact_missed", "contact_cancelled"]).sum())
    return dropped(res) / due


def test_fewer_staff_drop_more_than_twice_the_contacts_over_the_seeds() -> None:
    short = sum(share_dropped(scenario_run("understaffed", seed)) for seed in SEEDS)
    base = sum(share_dropped(scenario_run("baseline", seed)) for seed in SEEDS)
    assert short > 2 * base > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_fewer_staff_lower_compliance_and_deliver_fewer_contacts_through_pressure(seed: int) -> None:
    base, short = scenario_run("baseline", seed), scenario_run("understaffed", seed)
    b, s = base.summary, short.summary
    assert s["workload_pressure_by_setting"]["community"] > 1.2 * b["workload_pressure_by_setting"]["community"]
    assert b["compliance_rate_of_offered"] - s["compliance_rate_of_offered"] > 0.004
    assert s["breaches_per_case_year"] > 1.05 * b["breaches_per_case_year"]

    # contacts not delivered through pressure as a share of those due: several times the baseline's (2-4 times
    # by seed; the baseline's own drops vary most, as one pressed team more or less moves them)
    assert share_dropped(short) > 1.5 * share_dropped(base) > 0
    # with every effect of pressure off, understaffing leaves compliance where it was: the effect is the mechanism
    b0, s0 = scenario_run("baseline", seed, *NO_EFFECT), scenario_run("understaffed", seed, *NO_EFFECT)
    assert abs(b0.summary["compliance_rate_of_offered"] - s0.summary["compliance_rate_of_offered"]) < 0.003
    assert dropped(s0) == 0


def _review_gaps(res: Result) -> np.ndarray:
    """Days between successive reviews of a case within one stay."""
    ev = res.events
    rows = ev[ev["kind"].isin(["review", "stage_enter"])][["time", "case", "kind"]]
    gaps = []
    for _, g in rows.groupby("case"):
        last = None
        for t, kind in zip(g["time"], g["kind"], strict=True):
            if kind == "stage_enter":
                last = None
            else:
                if last is not None:
                    gaps.append(t - last)
                last = t
    return np.array(gaps)


def test_reviews_slip_under_pressure_and_not_below_the_threshold() -> None:
    interval = scaled(SCENARIOS / "baseline.yaml").process.review_interval_days
    calm = scenario_run("understaffed", 1, "pressure.threshold=100")
    gaps = _review_gaps(calm)
    assert len(gaps) > 100 and np.allclose(gaps, interval)          # exactly on time below the threshold
    pressed = _review_gaps(scenario_run("understaffed", 1))
    assert pressed.min() == pytest.approx(interval) and pressed.mean() > interval * 1.01
