"""Changes from a date (``changes:`` in a scenario; docs/scenarios.md#changes-from-a-date): validation, the
engine's adoption of the scenario in force, reorganisation breaks, staff ramps and common random numbers before
the date."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casesim.agents import CaseManager
from casesim.cli import main
from casesim.engine.simulation import Simulation
from casesim.scenario.schema import load_scenario
from casesim.scenario.yamlio import ScenarioError, dump_yaml
from tests.helpers import SCENARIOS, SMALL

DAY = 120.0
#: The small scenario over 240 days, the community pooled (no patch rule) until the change.
BASE = f"""\
extends: {SMALL}
time: {{horizon_days: 240, warmup_days: 60}}
management:
  community:
    segmentation: {{name: patch, match_patch: false}}
"""
TO_PATCH = f"""\
changes:
  - at_day: {DAY:g}
    set:
      management.community.segmentation: {{name: patch}}
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


@cache
def _run(text: str, seed: int = 7) -> Simulation:
    """A finished run of the scenario ``text`` (cached: several tests read the same runs)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        scenario = load_scenario(_write(Path(tmp), "s.yaml", text))[0]
    sim = Simulation(scenario, seed)
    sim.run_to_end()
    return sim


def _community_holders_match(sim: Simulation) -> float:
    """The share of community cases held by one case manager whose holder serves the case's patch."""
    held = [c for c in sim.cases() if c.stage is not None and sim.journey.setting[c.stage] == "community"
            and isinstance(c.holder, CaseManager) and c.holder.setting == "community"]
    assert len(held) > 100
    return float(np.mean([c.holder.patch in (None, c.patch) for c in held]))


# --------------------------------------------------------------------------- (a) the log before the date


def test_log_before_the_date_is_identical_and_differs_after() -> None:
    without, with_change = _run(BASE), _run(BASE + TO_PATCH)
    a, b = without.log.to_frame(), with_change.log.to_frame()
    before_a = a[a["time"] < DAY].reset_index(drop=True)
    before_b = b[b["time"] < DAY].reset_index(drop=True)
    assert len(before_a) > 10_000
    for column in before_a.columns:   # (categories may differ: compare the values)
        assert np.array_equal(before_a[column].astype(str if column in ("kind", "stage", "cause") else float),
                              before_b[column].astype(str if column in ("kind", "stage", "cause") else float)), column
    after_a, after_b = a[a["time"] >= DAY], b[b["time"] >= DAY]
    assert len(after_a) != len(after_b) or not np.array_equal(after_a["manager"], after_b["manager"])
    # the people arriving are the same: the change leaves the arrivals stream alone
    reg_a, reg_b = pd.DataFrame(without.register), pd.DataFrame(with_change.register)
    first = reg_a[reg_a["previous"] < 0].drop(columns=["case", "person", "previous"]).reset_index(drop=True)
    second = reg_b[reg_b["previous"] < 0].drop(columns=["case", "person", "previous"]).reset_index(drop=True)
    n = min(len(first), len(second))
    pd.testing.assert_frame_equal(first.iloc[:n], second.iloc[:n])


@pytest.mark.parametrize("change", [
    "changes:\n  - {at_day: 90, over_days: 60, set: {staff.0.count: 31, staff.1.count: 6}}\n",
    "changes:\n  - {at_day: 90, set: {management.community.cover: {name: pod, size: 3}, arrivals.rate_per_day: 5}}\n",
    "changes:\n  - {at_day: 90, set: {management.custody.approach: {name: individual}, "
    "enforcement: {name: strict}, compliance.intercept: 0.5}}\n",
], ids=["staff", "cover_and_arrivals", "approach_enforcement_compliance"])
def test_every_kind_of_change_leaves_the_log_before_it_alone(change: str) -> None:
    a, b = _run(BASE).log.to_frame(), _run(BASE + change).log.to_frame()
    before_a, before_b = a[a["time"] < 90].reset_index(drop=True), b[b["time"] < 90].reset_index(drop=True)
    pd.testing.assert_frame_equal(before_a.astype({c: str for c in ("kind", "stage", "cause")}),
                                  before_b.astype({c: str for c in ("kind", "stage", "cause")}))
    after = b[b["time"] >= 90]
    assert (after["kind"] == "policy_change").sum() == 1
    assert len(after) != len(a[a["time"] >= 90]) or not np.array_equal(after["manager"], a[a["time"] >= 90]["manager"])


def test_same_scenario_and_seed_give_the_same_log() -> None:
    one = _run(BASE + TO_PATCH).log.to_frame()
    again = Simulation(_run(BASE + TO_PATCH).scenario, 7)
    again.run_to_end()
    pd.testing.assert_frame_equal(one, again.log.to_frame())


def test_the_change_is_logged_once_on_its_day() -> None:
    ev = _run(BASE + TO_PATCH).log.to_frame()
    rows = ev[ev["kind"] == "policy_change"]
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["time"], row["case"], row["cause"], row["value"]) == (DAY, -1, "management.community.segmentation",
                                                                       0.0)
    assert (_run(BASE).log.to_frame()["kind"] == "policy_change").sum() == 0


# --------------------------------------------------------------------------- (b) a reorganisation to patch


def test_reorganisation_breaks_on_the_day_only_and_patch_after() -> None:
    sim = _run(BASE + TO_PATCH)
    ev = sim.log.to_frame()
    reorganised = ev[(ev["kind"] == "manager_change") & (ev["cause"] == "reorganisation")]
    assert len(reorganised) > 100
    assert set(reorganised["time"]) == {DAY}
    assert set(reorganised["stage"]) <= {s for s, st in sim.current.journey.stages.items() if st.setting == "community"}
    base = _run(BASE)
    assert (base.log.to_frame()["cause"] == "reorganisation").sum() == 0
    # the pooled run mixes patches; after the change nearly every holder serves its case's patch
    assert _community_holders_match(base) < 0.5
    assert _community_holders_match(sim) > 0.95


def test_adopt_rederives_the_policies() -> None:
    sim = _run(BASE + TO_PATCH)
    assert sim.segmentation["community"].params.match_patch is True
    assert sim.scenario.management["community"].segmentation.match_patch is False   # the run's input stays
    assert sim.current.management["community"].segmentation.match_patch is True


# --------------------------------------------------------------------------- (c) recruiting over a period

RECRUIT_DAY, RECRUIT_OVER, RECRUITS = 40.0, 80.0, 10
RAMP_BASE = BASE.replace("management:", "staffing: {recruitment_lag_days: 5}\nmanagement:")
RECRUIT = f"""\
changes:
  - at_day: {RECRUIT_DAY:g}
    over_days: {RECRUIT_OVER:g}
    set:
      staff.probation_practitioners.count: {25 + RECRUITS}
"""


def _mean_caseload(sim: Simulation) -> float:
    staff = [m for m in sim.staff["community"] if m.capacity > 0 or m.absent]
    return float(np.mean([m.count for m in staff]))


def test_recruiting_adds_posts_over_the_period() -> None:
    base, ramp = _run(RAMP_BASE), _run(RAMP_BASE + RECRUIT)
    posts = lambda sim: sim.staff_table()["post"].nunique()   # noqa: E731
    assert posts(ramp) == posts(base) + RECRUITS
    table = ramp.staff_table()
    new = table[table["post"] >= 33]   # 25 + 8 posts at the start
    assert set(new["group"]) == {"probation_practitioners"} and len(set(new["post"])) == RECRUITS
    ev = ramp.log.to_frame()
    joins = ev[(ev["kind"] == "capacity") & (ev["cause"] == "join") & ev["manager"].isin(new["manager"])]
    first_join = joins.groupby("manager")["time"].min()
    assert first_join.min() > RECRUIT_DAY
    assert first_join.max() - first_join.min() > 0.5 * RECRUIT_OVER   # spread over the period, not at once
    assert len(ramp.staff["community"]) > len(base.staff["community"])
    assert _mean_caseload(ramp) < _mean_caseload(base)


def test_a_cut_removes_posts_only_as_they_fall_vacant(tmp_path: Path) -> None:
    cut = RAMP_BASE.replace("management:", "staffing: {recruitment_lag_days: 5, turnover_per_year: 0.3}\n"
                            "management:", 1).replace("staffing: {recruitment_lag_days: 5}\n", "")
    base = _run(cut)
    sim = _run(cut + "changes:\n  - {at_day: 30, set: {staff.0.count: 20}}\n")
    ev = sim.log.to_frame()
    leaves = ev[(ev["kind"] == "capacity") & (ev["cause"] == "leave") & (ev["time"] >= 30)
                & ev["manager"].isin([m.unique_id for m in sim.staff_ever if m.setting == "community"])]
    assert len(leaves) >= 1
    in_post, before = len(sim.staff["community"]), len(base.staff["community"])
    assert 20 <= in_post < before   # fewer posts, but nobody dismissed: the group shrinks as people leave
    assert before - in_post == min(5, len(leaves)) or in_post == 20
    # none dismissed on the day of the change
    assert not ((ev["kind"] == "capacity") & (ev["cause"] == "leave") & (ev["time"] == 30)).any()


# --------------------------------------------------------------------------- scale


def test_population_scale_scales_the_changes_once(tmp_path: Path) -> None:
    text = BASE + "population_scale: 0.5\n" + RECRUIT
    s = load_scenario(_write(tmp_path, "scaled.yaml", text))[0]
    assert s.staff[0].count == 13   # 25 * 0.5, rounded half up
    assert s.changes[0].set["staff.probation_practitioners.count"] == 18   # 35 * 0.5, rounded half up
    again = load_scenario(_write(tmp_path, "resolved.yaml", dump_yaml(s.model_dump(mode="json"))))[0]
    assert again == s   # a resolved scenario is not scaled twice, its changes neither


def test_an_arrival_rate_change_applies_from_the_date(tmp_path: Path) -> None:
    text = BASE + "changes:\n  - {at_day: 100, set: {arrivals.rate_per_day: 30}}\n"
    sim = _run(text)
    reg = pd.DataFrame(sim.register)
    arrived = reg[reg["previous"] < 0]["arrival_time"]
    before = ((arrived > 0) & (arrived < 100)).sum() / 100
    after = (arrived >= 100).sum() / 140
    assert before < 5 and after > 20
    base = pd.DataFrame(_run(BASE).register)
    base_arrived = base[base["previous"] < 0]["arrival_time"]
    assert np.array_equal(base_arrived[base_arrived < 100].to_numpy(), arrived[arrived < 100].to_numpy())


# --------------------------------------------------------------------------- (d) bad changes


BAD = [
    ("changes:\n  - at_day: 30\n    set:\n      management.community.segmentaton: {name: patch}\n",
     4, "changes.0.set.management.community.segmentaton", "unknown field"),
    ("changes:\n  - at_day: 240\n    set:\n      arrivals.rate_per_day: 2\n",
     2, "changes.0.at_day", "less than time.horizon_days"),
    ("changes:\n  - at_day: 30\n    set:\n      seed: 3\n", 4, "changes.0.set.seed", "cannot change mid-run"),
    ("changes:\n  - at_day: 30\n    set:\n      time.horizon_days: 300\n", 4, "changes.0.set.time.horizon_days",
     "cannot change mid-run"),
    ("changes:\n  - at_day: 30\n    set:\n      journey.entry: CUSTODY\n", 4, "changes.0.set.journey.entry",
     "cannot change mid-run"),
    ("changes:\n  - at_day: 30\n    set:\n      staff.nobody.count: 3\n", 4, "changes.0.set.staff.nobody.count",
     "is a list"),
    ("changes:\n  - at_day: 30\n    set:\n      staff.0.count: -4\n", 4, "changes.0.set.staff.0.count",
     "greater than or equal"),
]


@pytest.mark.parametrize(("change", "line", "field", "message"), BAD)
def test_a_bad_change_names_file_line_and_field(tmp_path: Path, change: str, line: int, field: str,
                                                message: str) -> None:
    path = _write(tmp_path, "bad.yaml", BASE + change)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert any(p.file == str(path) and p.line == line + BASE.count("\n") and p.path == field
               and message in p.message for p in problems), str(info.value)


def test_a_bad_change_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "bad.yaml", BASE + BAD[2][0])
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:{BASE.count(chr(10)) + 4}: changes.0.set.seed: cannot change mid-run" in err
    assert not out.exists()


def test_the_shipped_example_loads() -> None:
    s = load_scenario(SCENARIOS / "reorganise_to_patch.yaml")[0]
    assert s.changes and all(0 <= c.at_day < s.time.horizon_days for c in s.changes)


@pytest.mark.parametrize(("key", "allowed"), [
    ("management.community.cover", True), ("staff.0.count", True), ("staff.0.fte", False),
    ("arrivals.rate_per_day", True), ("arrivals.propensity_sd", True), ("initial_population.by_stage.CUSTODY", False),
    ("journey.stages.CUSTODY.reoffending_rate_per_year", True), ("journey.stages.CUSTODY.setting", False),
    ("modes.BROKERAGE.contact_interval_days", True), ("modes.BROKERAGE.cost_per_contact", False),
    ("costs.workload.review", False), ("population_scale", False), ("providers.0.places", False),
])
def test_what_may_change_mid_run(key: str, allowed: bool) -> None:
    from casesim.scenario.changes import refusal

    path = tuple(int(p) if p.isdigit() else p for p in key.split("."))
    assert (refusal(path) is None) is allowed
