"""Task and type segmentation, the patch rule they share, and their scenario checks.

Each scenario test runs a scaled scenario file (a third of the service, two years) with one seed,
so comparisons see the same people (common random numbers).
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
from casesim.results import Result, run
from casesim.scenario import load_scenario
from casesim.yamlio import ScenarioError
from tests.helpers import SCENARIOS, scaled

SEED = 17
NEW = ("individual_patch", "individual_task_stage", "individual_task_process", "individual_type_risk")
CONTACTS = ("contact_kept", "contact_missed")
HOLDS = ("allocation", "manager_change")
SHORT = ("time.horizon_days=240", "time.warmup_days=0")


@cache
def run_scenario(name: str) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml"), seed=SEED)


def run_short(name: str, *overrides: str) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml", *SHORT, *overrides), seed=SEED)


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


# --- scenario files and checks ------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_every_new_scenario_file_validates(name: str) -> None:
    s, _ = load_scenario(SCENARIOS / f"{name}.yaml")
    base, _ = load_scenario(SCENARIOS / "baseline.yaml")
    community = [g for g in s.staff if g.setting == "community"]
    assert sum(g.count for g in community) == 75
    assert {g.capacity for g in community} == {40}
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

def test_task_by_stage_hands_on_at_every_stage_and_breaks_continuity_more_than_patch() -> None:
    patch, task = run_scenario("baseline"), run_scenario("individual_task_stage")
    assert task.summary["continuity_breaks_per_case_year"] > 1.5 * patch.summary["continuity_breaks_per_case_year"]
    assert breaks(task, "stage_handoff") > 0 == breaks(patch, "stage_handoff")
    assert task.register.equals(patch.register)     # the same people
    staff, community = staff_of(task), community_stages(task)
    seen = 0
    for _, _, _, stage, manager, _ in rows(task.events, *CONTACTS, "assessment"):
        if stage in community:
            stages = labels(staff[manager].specialisms, "stage")
            assert not stages or stage in stages, (stage, stages)
            seen += 1
    assert seen > 1000


# --- task by process ----------------------------------------------------------------------------

def test_task_by_process_assessment_unit_until_the_plan_then_a_supervisor() -> None:
    res = run_scenario("individual_task_process")
    assert breaks(res, "task_handoff") > 0
    staff = staff_of(res)
    with_plan = {s for s, st in res.scenario.journey.stages.items()
                 if st.setting == "community" and "plan" in st.activities}
    community = community_stages(res)
    planned: dict[int, bool] = {}
    counts = {"assessment": 0, "before": 0, "after": 0}
    for _, case, kind, stage, manager, _ in rows(res.events, "stage_enter", "plan", "assessment", *CONTACTS):
        if kind == "stage_enter":
            planned[case] = False
        elif kind == "plan":
            planned[case] = True
        elif stage in community:
            unit = ASSESSMENT in labels(staff[manager].specialisms, "task")
            if kind == "assessment":
                assert unit, (case, stage)
                counts["assessment"] += stage in with_plan
            elif planned[case]:
                assert not unit, (case, stage)   # contacts after the plan: a supervising manager
                counts["after"] += 1
            else:
                assert unit, (case, stage)       # contacts before the plan: still the assessment unit
                counts["before"] += 1
    assert min(counts.values()) > 100, counts


# --- type by risk -------------------------------------------------------------------------------

def _check_risk_labels(res: Result) -> int:
    """Assert each community contact's holder serves the case's risk at that time; return the count."""
    staff, community = staff_of(res), community_stages(res)
    risk = dict(zip(res.register["case"], res.register["risk"], strict=True))
    seen = 0
    for _, case, kind, stage, manager, cause in rows(res.events, "risk_change", *CONTACTS):
        if kind == "risk_change":
            risk[case] = cause
        elif stage in community:
            served = labels(staff[manager].specialisms, "risk")
            assert not served or risk[case] in served, (case, risk[case], served)
            seen += 1
    return seen


def test_type_by_risk_reclassifies_when_a_review_changes_risk() -> None:
    res = run_scenario("individual_type_risk")
    ev = res.events
    recl = ev[(ev["kind"] == "manager_change") & (ev["cause"] == "reclassification")]
    assert len(recl) > 20
    changed = set(zip(ev.loc[ev["kind"] == "risk_change", "case"], ev.loc[ev["kind"] == "risk_change", "time"],
                      strict=True))
    assert all(k in changed for k in zip(recl["case"], recl["time"], strict=True))
    assert _check_risk_labels(res) > 1000
    assert res.summary["continuity_breaks_per_case_year"] > \
        run_scenario("baseline").summary["continuity_breaks_per_case_year"]


def test_a_fallback_holder_keeps_the_case_until_its_segment_can_take_it() -> None:
    """High-risk staff who cannot hold the comprehensive mode: high-risk cases fall back to other staff,
    who keep them at reviews (no hand-over from one outsider to another) unless the risk changes."""
    res = run_short("individual_type_risk", "staff.2.modes=[ADMINISTRATIVE, BROKERAGE, THERAPEUTIC]")
    ev = res.events
    staff = staff_of(res)
    high_staff = {i for i, m in staff.items() if "risk:HIGH" in m.specialisms}
    held = ev[ev["kind"].isin(CONTACTS) & (ev["cause"] == "COMPREHENSIVE")]
    assert len(held) > 100 and not held["manager"].isin(high_staff).any()
    changed = set(zip(ev.loc[ev["kind"] == "risk_change", "case"], ev.loc[ev["kind"] == "risk_change", "time"],
                      strict=True))
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
        staff = staff_of(res)
        community = {i: m.patch for i, m in staff.items() if m.setting == "community"}
        patch = dict(zip(res.register["case"], res.register["patch"], strict=True))
        ev = res.events
        assign = ev[(ev["kind"] == "load") & (ev["cause"] == "assign") & ev["manager"].isin(community)]
        assert len(assign) > 100
        assert all(community[m] == patch[c] for c, m in zip(assign["case"], assign["manager"], strict=True))
        if name == "individual_type_risk":
            assert _check_risk_labels(res) > 100


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
