"""Task and type segmentation, the patch rule they share, and their scenario checks.

Each scenario test runs a scaled scenario file (a third of the service, two years) with one seed,
so comparisons see the same people (common random numbers). The segmentation rules are checked
exactly with staff always at work (``STATIC``: no leave, sickness or turnover), where eligible
staff are always there to take a case; with staff dynamics on, a case may go outside its segment
when every eligible manager is away (``fallback_any``) or come back to its manager after
temporary cover, so there the rules are checked on nearly all contacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from casesim.models import names
from casesim.models.segmentation import ASSESSMENT, labels
from casesim.outputs.results import Result, run
from casesim.scenario.schema import load_scenario
from casesim.scenario.yamlio import ScenarioError
from tests.helpers import SCENARIOS, newcomers, scaled

SEED = 17
NEW = ("individual_patch", "individual_task_stage", "individual_task_process", "individual_type_risk")
CONTACTS = ("contact_kept", "contact_missed")
HOLDS = ("allocation", "manager_change")
SHORT = ("time.horizon_days=240", "time.warmup_days=0")
STATIC = ("staffing.annual_leave_days=0", "staffing.sickness_days_per_year=0", "staffing.turnover_per_year=0")
RULE = {"individual_task_stage": "stage", "individual_task_process": "task", "individual_type_risk": "risk"}


@cache
def run_scenario(name: str, static: bool = False) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml", *(STATIC if static else ())), seed=SEED)


def run_short(name: str, *overrides: str) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml", *SHORT, *STATIC, *overrides), seed=SEED)


@dataclass(frozen=True)
class Staff:
    """What the tests need of one staff member (from the run's staff table)."""

    setting: str
    patch: str | None
    group: str
    specialisms: frozenset[str]


def staff_of(res: Result) -> dict[int, Staff]:
    """Everyone who held a post in the run (new starters included), by id."""
    return {int(r.manager): Staff(r.setting, r.patch or None, r.group,
                                  frozenset(s for s in r.specialisms.split("+") if s))
            for r in res.staff.itertuples()}


def community_stages(res: Result) -> set[str]:
    return {s for s, st in res.scenario.journey.stages.items() if st.setting == "community"}


def rows(ev: pd.DataFrame, *kinds: str) -> Iterator[tuple[float, int, str, str, int, str]]:
    """(time, case, kind, stage, manager, cause) of the events of ``kinds``, in log order."""
    sel = ev[ev["kind"].isin(kinds)]
    yield from zip(sel["time"], sel["case"], sel["kind"].astype(str), sel["stage"].astype(str),
                   sel["manager"], sel["cause"].astype(str), strict=True)


def breaks(res: Result, cause: str) -> int:
    ev = res.events
    return int(((ev["kind"] == "manager_change") & (ev["cause"] == cause)).sum())


def fits(res: Result, rule: str) -> Iterator[tuple[str, bool, tuple[int, str, int]]]:
    """For each first assessment and contact in a community stage: (when, whether the holder's labels suit
    the case under ``rule``, (case, stage, holder)). ``when`` is ``before`` or ``after`` the stay's
    plan; the risk at each moment comes from the register and the ``risk_change`` events."""
    staff, community = staff_of(res), community_stages(res)
    risk = dict(zip(res.register["case"], res.register["risk"], strict=True))
    planned: dict[int, bool] = {}
    for _, case, kind, stage, manager, cause in rows(res.events, "stage_enter", "plan", "risk_change",
                                                      "assessment", *CONTACTS):
        if kind in ("stage_enter", "plan"):
            planned[case] = kind == "plan"
        elif kind == "risk_change":
            risk[case] = cause
        elif stage in community and not (kind == "assessment" and cause == "review"):
            # (a review's re-assessment is done by the holder the review may then hand the case on from)
            mine = labels(staff[manager].specialisms, rule)
            if rule == "stage":
                ok = not mine or stage in mine
            elif rule == "risk":
                ok = not mine or risk[case] in mine
            else:   # the assessment unit until the plan, a supervising manager after
                ok = (ASSESSMENT in mine) == (kind == "assessment" or not planned[case])
            yield ("after" if planned[case] else "before"), ok, (case, stage, manager)


# --- scenario files and checks ------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_every_new_scenario_file_validates(name: str) -> None:
    s, _ = load_scenario(SCENARIOS / f"{name}.yaml")
    base, _ = load_scenario(SCENARIOS / "baseline.yaml")
    community = [g for g in s.staff if g.setting == "community"]
    assert sum(g.count for g in community) == 75
    assert {g.fte for g in community} == {1.0}
    assert s.management["custody"] == base.management["custody"]
    assert s.arrivals == base.arrivals and s.journey == base.journey


def test_registry_lists_task_and_type() -> None:
    assert {"patch", "task", "type"} <= set(names("segmentation"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\n{text}")
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _problems(path: Path) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    return str(err.value)


STAGE_STAFF = """staff:
  - {name: court, setting: community, count: 5, specialisms: ["stage:PRE_SENTENCE", "stage:BREACH_COURT"]}
  - {name: orders, setting: community, count: 45, specialisms: [%s]}
  - {name: prison, setting: custody, count: 25}
management:
  community:
    approach: {name: individual}
    segmentation: {name: task, by: stage}
"""


def test_task_by_stage_without_licence_staff_fails_with_path_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, STAGE_STAFF % '"stage:NON_CUSTODIAL"')
    text = _problems(path)
    where = f"{path}:{_line(path, 'segmentation:')}: management.community.segmentation:"
    assert where in text and "SUPERVISED_RELEASE" in text
    assert "NON_CUSTODIAL" not in text.split(where)[1].splitlines()[0]


def test_unknown_or_misplaced_stage_labels_point_at_the_specialism(tmp_path: Path) -> None:
    path = _write(tmp_path, STAGE_STAFF % '"stage:NON_CUSTODIAL", "stage:SUPERVISED_RELAESE", "stage:CUSTODY"')
    text = _problems(path)
    line = _line(path, "name: orders")
    assert f"{path}:{line}: staff.1.specialisms.1: unknown stage 'SUPERVISED_RELAESE'" in text
    assert f"{path}:{line}: staff.1.specialisms.2: stage 'CUSTODY' is in setting custody" in text


def test_task_by_process_needs_an_assessment_unit_and_supervisors(tmp_path: Path) -> None:
    text = _problems(_write(tmp_path, """staff:
  - {name: all, setting: community, count: 75, specialisms: ["task:asessment"]}
  - {name: prison, setting: custody, count: 25}
management:
  community: {approach: {name: individual}, segmentation: {name: task, by: process}}
"""))
    assert "staff.0.specialisms.0: unknown task 'asessment'" in text
    assert "management.community.segmentation: by: process needs a community staff group labelled" in text


def test_type_by_risk_needs_every_risk_level_covered(tmp_path: Path) -> None:
    text = _problems(_write(tmp_path, """staff:
  - {name: low, setting: community, count: 30, specialisms: ["risk:LOW"]}
  - {name: high, setting: community, count: 45, specialisms: ["risk:HIGH", "risk:high"]}
  - {name: prison, setting: custody, count: 25}
management:
  community: {approach: {name: individual}, segmentation: {name: type, by: risk}}
"""))
    assert "staff.1.specialisms.1: unknown risk 'high'" in text
    assert "management.community.segmentation: no community staff group is eligible for risk MEDIUM" in text
    assert "risk LOW" not in text and "risk HIGH" not in text


# --- task by stage ------------------------------------------------------------------------------

def test_task_by_stage_breaks_continuity_more_than_patch_with_stage_handoffs() -> None:
    patch, task = run_scenario("baseline"), run_scenario("individual_task_stage")
    assert task.summary["continuity_breaks_per_case_year"] > 1.5 * patch.summary["continuity_breaks_per_case_year"]
    assert breaks(task, "stage_handoff") > 0 == breaks(patch, "stage_handoff")
    assert newcomers(task.register).equals(newcomers(patch.register))     # the same people


def _assert_every_fit(res: Result, rule: str) -> dict[str, int]:
    """Assert the rule holds at every assessment and contact; count them before and after the plan."""
    counts = {"before": 0, "after": 0}
    for when, ok, where in fits(res, rule):
        assert ok, where
        counts[when] += 1
    return counts


def test_task_by_stage_every_community_contact_is_held_by_staff_of_that_stage() -> None:
    counts = _assert_every_fit(run_scenario("individual_task_stage", static=True), "stage")
    assert min(counts.values()) > 100, counts


# --- task by process ----------------------------------------------------------------------------

def test_task_by_process_assessment_unit_until_the_plan_then_a_supervisor() -> None:
    res = run_scenario("individual_task_process", static=True)
    assert breaks(res, "task_handoff") > 0
    counts = _assert_every_fit(res, "task")
    assert min(counts.values()) > 100, counts
    # every first assessment in a stage with a plan was held by the unit (checked above): there are many
    with_plan = {s for s, st in res.scenario.journey.stages.items()
                 if st.setting == "community" and "plan" in st.activities}
    ev = res.events
    first = (ev["kind"] == "assessment") & (ev["cause"] != "review")
    assert (first & ev["stage"].astype(str).isin(with_plan)).sum() > 100


# --- type by risk -------------------------------------------------------------------------------

def _risk_changed(ev: pd.DataFrame) -> set[tuple[int, float]]:
    sel = ev[ev["kind"] == "risk_change"]
    return set(zip(sel["case"], sel["time"], strict=True))


def test_type_by_risk_reclassifies_when_a_review_changes_risk() -> None:
    res = run_scenario("individual_type_risk", static=True)
    ev = res.events
    recl = ev[(ev["kind"] == "manager_change") & (ev["cause"] == "reclassification")]
    assert len(recl) > 20
    changed = _risk_changed(ev)
    assert all(k in changed for k in zip(recl["case"], recl["time"], strict=True))
    counts = _assert_every_fit(res, "risk")
    assert sum(counts.values()) > 1000
    assert res.summary["continuity_breaks_per_case_year"] > \
        run_scenario("baseline", static=True).summary["continuity_breaks_per_case_year"]


@pytest.mark.parametrize("name", sorted(RULE))
def test_with_staff_dynamics_nearly_every_contact_keeps_to_the_segment(name: str) -> None:
    """Leave, sickness and turnover on: only fallbacks while a segment is away, and hand-backs after
    temporary cover, may put a case outside its segment."""
    got = [ok for _, ok, _ in fits(run_scenario(name), RULE[name])]
    assert len(got) > 1000 and sum(got) / len(got) > 0.99


def test_a_fallback_holder_keeps_the_case_until_its_segment_can_take_it() -> None:
    """High-risk staff who cannot hold the comprehensive mode: high-risk cases fall back to other staff,
    who keep them at reviews (no hand-over from one outsider to another) unless the risk changes."""
    res = run_short("individual_type_risk", "staff.2.modes=[ADMINISTRATIVE, BROKERAGE, THERAPEUTIC]")
    ev = res.events
    high_staff = {i for i, m in staff_of(res).items() if "risk:HIGH" in m.specialisms}
    held = ev[ev["kind"].isin(CONTACTS) & (ev["cause"] == "COMPREHENSIVE")]
    assert len(held) > 100 and not held["manager"].isin(high_staff).any()
    changed = _risk_changed(ev)
    moves = ev[(ev["kind"] == "manager_change") & ev["cause"].isin(["reclassification", "reallocation"])]
    assert all(k in changed for k in zip(moves["case"], moves["time"], strict=True))


# --- type by offence and need, and the patch rule -----------------------------------------------

def test_type_by_offence_and_need_route_cases_to_their_specialists() -> None:
    offence = run_short("individual_type_risk", "staff.2.specialisms=[offence:sexual]", "staff.0.specialisms=[]",
                        "staff.1.specialisms=[]", "management.community.segmentation.by=offence")
    need = run_short("individual_type_risk", "staff.2.specialisms=[need:substance_misuse]",
                     "staff.0.specialisms=[]", "staff.1.specialisms=[]",
                     "management.community.segmentation.by=need")
    for res, column, value in ((offence, "offence", "sexual"), (need, "needs", "substance_misuse")):
        staff = staff_of(res)
        specialists = {i for i, m in staff.items() if m.group == "high_risk_managers"}
        attr = dict(zip(res.register["case"], res.register[column], strict=True))
        ev = res.events
        held = ev[ev["kind"].isin(CONTACTS) & ev["manager"].isin(specialists)]
        assert len(held) > 50
        assert all(value in str(attr[c]).split("+") for c in held["case"])


def test_match_patch_keeps_task_and_type_within_the_case_patch() -> None:
    two = ("patches={North: 1, South: 1}", *(f"staff.{i}.patches=[North, South]" for i in range(3)),
           "management.community.segmentation.match_patch=true")
    for name in ("individual_type_risk", "individual_task_stage"):
        res = run_short(name, *two)
        assert sum(_assert_every_fit(res, RULE[name]).values()) > 100
        staff = staff_of(res)
        community = {i: m.patch for i, m in staff.items() if m.setting == "community"}
        patch = dict(zip(res.register["case"], res.register["patch"], strict=True))
        ev = res.events
        assign = ev[(ev["kind"] == "load") & (ev["cause"] == "assign") & ev["manager"].isin(community)]
        assert len(assign) > 100
        assert all(community[m] == patch[c] for c, m in zip(assign["case"], assign["manager"], strict=True))


# --- prefer the previous manager ----------------------------------------------------------------

def _share_back_to_previous(res: Result) -> tuple[float, int]:
    """Share of returns to the community after custody that go to the case's last community manager."""
    staff = staff_of(res)
    last: dict[int, int] = {}
    away: set[int] = set()
    back = total = 0
    for _, case, _, _, manager, _ in rows(res.events, *HOLDS):
        m = staff.get(manager)
        if m is None or m.setting != "community":   # a custody team or manager
            away.add(case)
            continue
        if case in away and case in last:
            total += 1
            back += manager == last[case]
        away.discard(case)
        last[case] = manager
    return back / total, total


def test_prefer_previous_manager_returns_released_cases_to_their_manager() -> None:
    without, n_without = _share_back_to_previous(run_scenario("baseline"))
    with_flag, n_with = _share_back_to_previous(run_scenario("individual_patch"))
    assert min(n_without, n_with) > 100
    assert with_flag > 0.5 > without
    assert with_flag > 2 * without


def _scan(seg, sim, case, stage: str) -> list:  # noqa: ANN001 - the reference the staff index must reproduce
    """Every candidate by a full scan of the setting's staff, least pressed first."""
    pool = [m for m in sim.staff[sim.journey.setting[stage]] if m.can_hold(case.mode)]
    chosen = [m for m in pool if seg.eligible(sim, case, stage, m)]
    found = chosen or (pool if seg.params.fallback_any else [])
    return sorted(found, key=lambda m: (m.pressure, m.load, m.unique_id))


@pytest.mark.parametrize("name", ["individual_patch", "individual_type_risk", "pooled_allocation"])
def test_staff_index_ranks_exactly_as_a_full_scan(name: str) -> None:
    """After four months of allocations, absences and leavers, the index's ranking and choice equal a
    full scan of the staff for every live community case (including the previous-manager preference)."""
    from casesim.engine.simulation import Simulation

    sim = Simulation(scaled(SCENARIOS / f"{name}.yaml", "time.horizon_days=120", "time.warmup_days=30",
                            "staffing.turnover_per_year=0.5"), seed=SEED)
    while sim.running:
        sim.step()
    checked = 0
    for case in sim.cases():
        if case.stage is None or sim.journey.setting[case.stage] != "community":
            continue
        seg = sim.segmentation_for(case.stage)
        scan = _scan(seg, sim, case, case.stage)
        assert seg.ranked(sim, case, case.stage, 3) == scan[:3]
        expected = scan[0] if scan else None
        prev = case.last_manager
        if seg.params.prefer_previous_manager and prev in scan and prev.pressure < 1.0:
            expected = prev
        assert seg.choose(sim, case, case.stage) is expected
        checked += 1
    assert checked > 300
    assert any(m.absent for m in sim.staff["community"])   # the index was exercised by absences too
