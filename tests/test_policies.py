"""Each policy seam, exercised through a scenario file, changes what it should."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from casesim.agents.case_manager import CaseManager
from casesim.models import build, names
from casesim.models.enforcement import Graduated, GraduatedParams
from casesim.results import Result, run
from tests.helpers import SCENARIOS, scaled

SEED = 17


@cache
def run_scenario(name: str) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml"), seed=SEED)


def per_case_year(res: Result, kind: str) -> float:
    ev = res.events
    w = res.scenario.time.warmup_days
    return int(((ev["kind"] == kind) & (ev["time"] >= w)).sum()) / res.summary["case_years"]


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_validates_and_runs(path: Path) -> None:
    res = run(scaled(path, "time.horizon_days=120", "time.warmup_days=30"), seed=SEED)
    ts = res.timeseries
    assert res.summary["cases_entered"] > 0
    assert (ts["entered_total"] == ts["exited_total"] + ts["active"]).all()
    assert res.summary["cost_total"] == pytest.approx(sum(res.summary["cost_by_category"].values()), rel=1e-12)


def test_registry_lists_the_policies_of_each_seam() -> None:
    assert names("approach") == ["individual", "team"]
    assert names("segmentation") == ["patch"]
    assert names("mode_assignment") == ["risk_table"]
    assert names("enforcement") == ["graduated", "strict"]


def test_strict_enforcement_breaches_more_than_graduated() -> None:
    base, strict = run_scenario("baseline"), run_scenario("strict_enforcement")
    assert strict.summary["warnings"] == 0 < base.summary["warnings"]
    assert strict.summary["breaches_per_case_year"] > 1.3 * base.summary["breaches_per_case_year"]
    assert strict.summary["completion_rate"] < base.summary["completion_rate"]


def test_intensive_modes_mean_more_contacts_workload_and_cost() -> None:
    base, intense = run_scenario("baseline"), run_scenario("intensive_supervision")
    assert per_case_year(intense, "contact_kept") > 1.2 * per_case_year(base, "contact_kept")
    assert intense.summary["cost_by_category"]["contacts"] > 1.2 * base.summary["cost_by_category"]["contacts"]
    assert intense.summary["mean_caseload_pressure"] > base.summary["mean_caseload_pressure"]
    assert base.summary["compliance_by_mode"].get("THERAPEUTIC") is None
    assert intense.summary["compliance_by_mode"]["THERAPEUTIC"] is not None


def test_team_approach_holds_custody_cases_with_meetings_and_tasks() -> None:
    res = run_scenario("baseline")
    ev = res.events
    teams = ev[ev["kind"].isin(["team_formed", "team_meeting", "task_assigned"])]
    settings = {s: st.setting for s, st in res.scenario.journey.stages.items()}
    assert len(teams) > 0
    assert {settings[str(s)] for s in teams["stage"].unique()} == {"custody"}
    assert (teams["kind"] == "team_meeting").sum() > 0
    assert (teams["kind"] == "task_assigned").sum() > 0
    # every custody stay is held by a team: the holder named at its contacts formed a team for that case
    formed = set(zip(ev.loc[ev["kind"] == "team_formed", "case"], ev.loc[ev["kind"] == "team_formed", "manager"],
                     strict=True))
    custody_contacts = ev[ev["kind"].isin(["contact_kept", "contact_missed"])
                          & ev["stage"].astype(str).map(settings).eq("custody")]
    assert len(custody_contacts) > 0
    assert all((c, m) in formed for c, m in zip(custody_contacts["case"], custody_contacts["manager"], strict=True))


def test_team_approach_in_the_community_is_reachable_from_yaml() -> None:
    res = run_scenario("community_teams")
    ev = res.events
    meet = ev[ev["kind"] == "team_meeting"]
    assert {"NON_CUSTODIAL", "SUPERVISED_RELEASE"} <= set(meet["stage"].astype(str))


def test_patch_segmentation_keeps_cases_within_their_patch() -> None:
    res = run_scenario("baseline")
    sim_staff_patch = _staff_patches(res)
    ev = res.events
    assign = ev[(ev["kind"] == "load") & (ev["cause"] == "assign")]
    patch_of_case = res.register.set_index("case")["patch"]
    community = assign[assign["manager"].map(lambda m: sim_staff_patch[m][0] == "community")]
    staff_patch = community["manager"].map(lambda m: sim_staff_patch[m][1])
    assert (staff_patch.to_numpy() == patch_of_case.loc[community["case"]].to_numpy()).all()


def test_pooled_allocation_crosses_patches_and_spreads_pressure() -> None:
    base, pooled = run_scenario("baseline"), run_scenario("pooled_allocation")
    staff = _staff_patches(pooled)
    ev = pooled.events
    assign = ev[(ev["kind"] == "load") & (ev["cause"] == "assign")]
    patch_of_case = pooled.register.set_index("case")["patch"]
    staff_patch = assign["manager"].map(lambda m: staff[m][1])
    crossed = staff_patch.to_numpy() != patch_of_case.loc[assign["case"]].to_numpy()
    assert crossed.mean() > 0.3
    assert (pooled.summary["share_manager_time_over_capacity"]
            <= base.summary["share_manager_time_over_capacity"])


def test_understaffing_raises_pressure_and_enforcement() -> None:
    base, under = run_scenario("baseline"), run_scenario("understaffed")
    assert under.summary["mean_caseload_pressure_by_setting"]["community"] > \
        1.2 * base.summary["mean_caseload_pressure_by_setting"]["community"]
    assert under.summary["compliance_rate"] < base.summary["compliance_rate"]
    # same people: common random numbers
    assert under.register.equals(base.register)


def _staff_patches(res: Result) -> dict[int, tuple[str, str | None]]:
    """Staff id -> (setting, patch), rebuilt the way the engine numbers staff."""
    from casesim.simulation import Simulation
    sim = Simulation(res.scenario, seed=SEED)
    return {m.unique_id: (m.setting, m.patch) for m in sim.all_staff()}


class _FakeCase:
    def __init__(self) -> None:
        self.warning_times: list[float] = []


def test_graduated_enforcement_warns_then_breaches_within_the_window() -> None:
    pol = build("enforcement", GraduatedParams(acceptable_absence_share=0.5, warnings_before_breach=2,
                                               window_days=365))
    assert isinstance(pol, Graduated)
    case = _FakeCase()
    assert pol.on_missed(case, 0.0, 0.2) == "none"          # acceptable absence
    assert pol.on_missed(case, 0.0, 0.9) == "warning"
    case.warning_times.append(0.0)
    assert pol.on_missed(case, 10.0, 0.9) == "warning"
    case.warning_times.append(10.0)
    assert pol.on_missed(case, 20.0, 0.9) == "breach"
    assert pol.on_missed(case, 400.0, 0.9) == "warning"     # both warnings expired


def test_case_manager_without_the_skill_cannot_hold_the_mode() -> None:
    staff = ("staff=[{name: generic, setting: community, count: 20, modes: [ADMINISTRATIVE, BROKERAGE]},"
             " {name: specialists, setting: community, count: 4, modes: [COMPREHENSIVE]},"
             " {name: custody, setting: custody, count: 8}]")
    res = run(scaled(SCENARIOS / "baseline.yaml", staff, "time.horizon_days=200", "time.warmup_days=0"),
              seed=SEED)
    ev = res.events
    sim_staff = {m.unique_id: m for m in _sim_staff(res)}
    held = ev[(ev["kind"].isin(["contact_kept", "contact_missed"])) & (ev["manager"].isin(sim_staff))]
    assert len(held) > 0 and (held["cause"] == "COMPREHENSIVE").sum() > 0
    for mode, manager in zip(held["cause"].astype(str), held["manager"], strict=True):
        assert mode in sim_staff[manager].modes


def _sim_staff(res: Result) -> list[CaseManager]:
    from casesim.simulation import Simulation
    return Simulation(res.scenario, seed=SEED).all_staff()
