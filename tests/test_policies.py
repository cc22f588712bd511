"""Each policy seam, exercised through a scenario file, changes what it should."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from casesim.models import build, names
from casesim.models.enforcement import Graduated, GraduatedParams
from casesim.outputs.results import Result, run
from casesim.scenario.schema import load_scenario
from tests.helpers import SCENARIOS, newcomers, scaled

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
    # a national scenario (hundreds of thousands of people) runs at 1 in 100 of that third: the same file, read,
    # scaled and run, in a second rather than a minute
    national = sum(load_scenario(path)[0].initial_population.by_stage.values()) > 50_000
    res = run(scaled(path, "time.horizon_days=120", "time.warmup_days=30",
                     *(("population_scale=0.01",) if national else ())), seed=SEED)
    ts = res.timeseries
    assert res.summary["cases_entered"] > 0
    assert (ts["entered_total"] == ts["exited_total"] + ts["active"]).all()
    assert res.summary["cost_total"] == pytest.approx(sum(res.summary["cost_by_category"].values()), rel=1e-12)


REQUIRED_METHODS = {
    "approach": ("keeps_across", "take_on", "assessment", "after_plan", "on_review", "let_go", "replacement"),
    "segmentation": ("ranked", "keeps", "choose", "handoff_cause"),
    "mode_assignment": ("mode_for",),
    "enforcement": ("on_missed",),
    "cover": ("on_absence", "on_return", "pods", "on_successor"),
}


@pytest.mark.parametrize("kind", sorted(REQUIRED_METHODS))
def test_every_registered_policy_answers_the_engines_questions(kind: str) -> None:
    from casesim.models.registry import _REGISTRY
    assert names(kind), kind
    for name in names(kind):
        params_model, cls = _REGISTRY[kind][name]
        assert params_model.model_fields["name"].default == name
        missing = [m for m in REQUIRED_METHODS[kind] if not callable(getattr(cls, m, None))]
        assert not missing, f"{kind} {name} lacks {missing}"


def test_every_declared_policy_is_implemented_and_follows_the_protocol_of_its_kind() -> None:
    from casesim import models
    from casesim.scenario.policies import POLICIES
    protocols = {"approach": models.Approach, "segmentation": models.Segmentation,
                 "mode_assignment": models.ModeAssignment, "enforcement": models.Enforcement,
                 "cover": models.Cover}
    assert models.unimplemented() == []
    for kind, declared in POLICIES.items():
        assert sorted(names(kind)) == sorted(p.model_fields["name"].default for p in declared)
        for params in declared:   # built from default parameters where they all have defaults
            fields = params.model_fields.values()
            data = {} if all(not f.is_required() for f in fields) else {"default": "BROKERAGE"}
            policy = build(kind, params.model_validate(data))
            assert isinstance(policy, protocols[kind]), (kind, params.__name__)
            assert set(REQUIRED_METHODS[kind]) <= {m for m in dir(protocols[kind]) if not m.startswith("_")}


def test_the_registry_takes_only_parameters_declared_in_the_scenario_layer() -> None:
    from casesim.models import policy
    from casesim.scenario.params import Strict

    class Undeclared(Strict):
        name: str = "undeclared"

    with pytest.raises(TypeError, match="not declared as a cover policy"):
        policy("cover", Undeclared)
    with pytest.raises(LookupError, match="no cover policy is implemented for Undeclared"):
        build("cover", Undeclared())


def test_the_cover_policy_decides_the_pods() -> None:
    from casesim.scenario.policies import NoCoverParams, PodParams, TemporaryParams
    teams = [list(range(10)), list(range(10, 13))]
    assert build("cover", PodParams(size=4)).pods(teams) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [10, 11, 12]]
    assert build("cover", NoCoverParams()).pods(teams) == []
    assert build("cover", TemporaryParams()).pods(teams) == []


def test_a_newcomer_takes_the_leavers_place_in_the_pod_and_nowhere_without_pods() -> None:
    """The cover policy places whoever fills a leaver's post: with pods, in the leaver's place in the
    leaver's pod (the pod keeps its size and order); without, nowhere."""
    from types import SimpleNamespace

    from casesim.scenario.policies import PodParams, TemporaryParams
    a, b, c, new = (SimpleNamespace(pod=0), SimpleNamespace(pod=0), SimpleNamespace(pod=0), SimpleNamespace(pod=None))
    sim = SimpleNamespace(pods={0: [a, b, c]})
    build("cover", TemporaryParams()).on_successor(sim, b, new)
    assert new.pod is None and sim.pods[0] == [a, b, c]
    build("cover", PodParams(size=3)).on_successor(sim, b, new)
    assert new.pod == 0 and sim.pods[0] == [a, new, c]


def test_the_seams_offer_the_documented_policies() -> None:
    assert {"individual", "team", "hybrid"} <= set(names("approach"))
    assert {"patch"} <= set(names("segmentation"))
    assert {"risk_table"} <= set(names("mode_assignment"))
    assert {"graduated", "strict"} <= set(names("enforcement"))
    assert {"none", "pod", "temporary", "permanent"} <= set(names("cover"))


def test_strict_enforcement_breaches_more_than_graduated() -> None:
    base, strict = run_scenario("baseline"), run_scenario("strict_enforcement")
    assert strict.summary["warnings"] == 0 < base.summary["warnings"]
    assert strict.summary["breaches_per_case_year"] > 1.3 * base.summary["breaches_per_case_year"]
    assert strict.summary["completion_rate"] < base.summary["completion_rate"]


def test_graduated_sanctions_replace_breaches_with_closer_reporting() -> None:
    """Sanctions lengthen the ladder (warning, sanction, sanction, breach) and deter nothing by default: fewer
    breaches, returns to court and recalls, bought with more contacts per case under sanction; compliance of
    the contacts offered no better (the closer reporting falls on those who miss)."""
    base, sanc = run_scenario("baseline"), run_scenario("graduated_sanctions")
    b, s = base.summary, sanc.summary
    assert b["sanctions"] == 0 < s["sanctions"]
    assert s["breaches_per_case_year"] < 0.75 * b["breaches_per_case_year"]
    assert per_case_year(sanc, "recall") < per_case_year(base, "recall")
    assert per_case_year(sanc, "return_to_court") < per_case_year(base, "return_to_court")
    assert s["completion_rate"] > b["completion_rate"]
    assert s["compliance_rate_of_offered"] <= b["compliance_rate_of_offered"] + 0.002
    ev = sanc.events
    assert int((ev["kind"] == "sanction").sum()) > 0
    assert set(ev.loc[ev["kind"] == "sanction", "cause"].astype(str)) <= {"start", "end"}


def test_intensive_modes_mean_more_contacts_workload_and_cost() -> None:
    base, intense = run_scenario("baseline"), run_scenario("intensive_supervision")
    assert per_case_year(intense, "contact_kept") > 1.2 * per_case_year(base, "contact_kept")
    assert (intense.summary["workload_hours_by_activity"]["casework"]   # contacts are the caseload's hours
            > 1.2 * base.summary["workload_hours_by_activity"]["casework"])
    assert intense.summary["fte_required"] > base.summary["fte_required"]
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


STATIC_STAFF = ("staffing.annual_leave_days=0", "staffing.sickness_days_per_year=0",
                "staffing.turnover_per_year=0")


def _assignments_outside_patch(res: Result) -> np.ndarray:
    staff = _staff_patches(res)
    ev = res.events
    assign = ev[(ev["kind"] == "load") & (ev["cause"] == "assign")]
    community = assign[assign["manager"].map(lambda m: staff[m][0] == "community")]
    patch_of_case = res.register.set_index("case")["patch"]
    staff_patch = community["manager"].map(lambda m: staff[m][1]).to_numpy()
    return staff_patch != patch_of_case.loc[community["case"]].to_numpy()


def test_patch_segmentation_keeps_cases_within_their_patch() -> None:
    """With everyone at work, every community allocation stays in the case's patch; with absences
    and turnover, a case leaves its patch only when nobody of the patch can take it (rarely)."""
    static = run(scaled(SCENARIOS / "baseline.yaml", *STATIC_STAFF), seed=SEED)
    assert not _assignments_outside_patch(static).any()
    assert _assignments_outside_patch(run_scenario("baseline")).mean() < 0.05


def test_pooled_allocation_crosses_patches_and_spreads_pressure() -> None:
    base, pooled = run_scenario("baseline"), run_scenario("pooled_allocation")
    assert _assignments_outside_patch(pooled).mean() > 0.3
    assert (pooled.summary["share_manager_time_over_capacity"]
            <= base.summary["share_manager_time_over_capacity"])


def test_understaffing_raises_pressure_and_enforcement() -> None:
    base, under = run_scenario("baseline"), run_scenario("understaffed")
    assert under.summary["mean_caseload_pressure_by_setting"]["community"] > \
        1.2 * base.summary["mean_caseload_pressure_by_setting"]["community"]
    assert under.summary["compliance_rate_of_offered"] < base.summary["compliance_rate_of_offered"]
    # same people: common random numbers
    assert newcomers(under.register).equals(newcomers(base.register))


def _staff_patches(res: Result) -> dict[int, tuple[str, str | None]]:
    """Staff id -> (setting, patch) of everyone who held a post in the run."""
    return {int(r.manager): (r.setting, r.patch or None) for r in res.staff.itertuples()}


class _FakeCase:
    def __init__(self) -> None:
        self.warning_times: tuple[float, ...] = ()   # as on Case: replaced, never mutated
        self.sanction_times: tuple[float, ...] = ()
        self.luck, self.holder = 12345, None


class _CalmSim:
    def practice_lapse(self, m: object) -> float:   # nobody over the pressure threshold: the rule applies
        return 0.0


def test_graduated_enforcement_warns_then_breaches_within_the_window() -> None:
    from casesim.engine.rng import ACCEPTABLE, Luck
    pol = build("enforcement", GraduatedParams(acceptable_absence_share=0.5, warnings_before_breach=2,
                                               window_days=365))
    assert isinstance(pol, Graduated)
    case, sim = _FakeCase(), _CalmSim()
    draws = [Luck.u(case.luck, ACCEPTABLE, k) for k in range(50)]
    ok = next(k for k, u in enumerate(draws) if u < 0.5)     # contacts whose absence is acceptable / not
    bad = next(k for k, u in enumerate(draws) if u >= 0.5)
    assert pol.on_missed(sim, case, None, 0.0, ok) == "none"          # acceptable absence
    assert pol.on_missed(sim, case, None, 0.0, bad) == "warning"
    case.warning_times = (*case.warning_times, 0.0)    # what the engine does after a warning
    assert pol.on_missed(sim, case, None, 10.0, bad) == "warning"
    case.warning_times = (*case.warning_times, 10.0)
    assert pol.on_missed(sim, case, None, 20.0, bad) == "breach"
    assert pol.on_missed(sim, case, None, 400.0, bad) == "warning"     # both warnings expired


def test_case_manager_without_the_skill_cannot_hold_the_mode() -> None:
    staff = ("staff=[{name: generic, setting: community, count: 20, modes: [ADMINISTRATIVE, BROKERAGE]},"
             " {name: specialists, setting: community, count: 4, modes: [COMPREHENSIVE]},"
             " {name: custody, setting: custody, count: 8}]")
    res = run(scaled(SCENARIOS / "baseline.yaml", staff, "time.horizon_days=200", "time.warmup_days=0"),
              seed=SEED)
    ev = res.events
    sim_staff = {int(r.manager): set(r.modes.split("+")) for r in res.staff.itertuples()}
    held = ev[(ev["kind"].isin(["contact_kept", "contact_missed"])) & (ev["manager"].isin(sim_staff))]
    assert len(held) > 0 and (held["cause"] == "COMPREHENSIVE").sum() > 0
    for mode, manager in zip(held["cause"].astype(str), held["manager"], strict=True):
        assert mode in sim_staff[manager]

