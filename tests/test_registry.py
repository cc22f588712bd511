"""The model's agents live in Mesa's own registry, seen through Mesa's public API (``model.agents``,
``model.agents_by_type``); a case's needs are bit masks whose names match the log."""

from __future__ import annotations

import weakref

import pandas as pd
import pytest

from casesim.agents import CaseManager, Team
from casesim.engine.simulation import Simulation
from tests.helpers import small

pytestmark = pytest.mark.mesa_facing

TEAMS = ("management.community.approach={name: team}", "time.horizon_days=500", "time.warmup_days=50")


def _ids(agents: object) -> list[int]:
    return [a.unique_id for a in agents]


def test_the_registry_holds_exactly_the_live_agents_in_arrival_order_at_every_tick() -> None:
    """Cases arrive and leave, teams form and disband, staff leave and are replaced: after every tick
    ``model.agents`` and each class's set hold exactly the live cases, teams and staff, each once, in the
    order they were made, and nothing that has left."""
    sim = Simulation(small(*TEAMS), 4)
    seen: set[str] = set()
    while sim.running:
        sim.step()
        by_type = {kind: _ids(agents) for kind, agents in sim.agents_by_type.items()}
        cases = [c for c in sim.cases()]
        assert _ids(cases) == sorted(_ids(cases)) and [c.no for c in cases] == sorted(c.no for c in cases)
        assert all(c.stage is not None for c in cases)             # no case that has exited
        staff = list(sim.agents_by_type.get(CaseManager, []))
        assert {id(m) for m in staff} == {id(m) for group in sim.staff.values() for m in group}
        assert all(m.in_post for m in staff)                       # no leaver
        teams = list(sim.agents_by_type.get(Team, []))
        assert all(t.case is not None and t.case in sim.cases() for t in teams)   # no disbanded team
        everyone = _ids(sim.agents)
        assert everyone == sorted(everyone) and len(everyone) == len(set(everyone))
        assert sorted(everyone) == sorted(i for ids in by_type.values() for i in ids)
        seen |= {kind.__name__ for kind, ids in by_type.items() if ids}
    assert {"Case", "Team", "CaseManager"} <= seen
    ev = sim.log.to_frame()
    assert (ev["kind"] == "team_formed").sum() > 0 and (ev["kind"] == "exit").sum() > 0
    assert sim.cases_created > len(sim.cases()) and len(sim.all_staff()) > len(sim.agents_by_type[CaseManager])


def test_a_removed_agent_is_gone_from_every_set() -> None:
    sim = Simulation(small(*TEAMS), 2)
    for _ in range(20):
        sim.step()
    case = next(iter(sim.cases()))
    n_all, n_cases = len(sim.agents), len(sim.cases())
    case.remove()
    assert case not in sim.agents and case not in sim.cases()
    assert (len(sim.agents), len(sim.cases())) == (n_all - 1, n_cases - 1)


def test_a_class_set_can_be_walked_while_other_agents_come_and_go() -> None:
    """Walking the cases goes on while a team is formed and another class's agent leaves; the walk sees
    every case once, and the registry then holds the new team and not the removed one."""
    sim = Simulation(small(*TEAMS), 13)
    for _ in range(20):
        sim.step()
    walked, formed = [], []
    for case in sim.cases():
        if len(walked) == 3:
            formed.append(Team(sim, case, sim.all_staff()[0], []))
        walked.append(case)
    assert len(walked) == len(sim.cases()) > 3 and len(set(map(id, walked))) == len(walked)
    assert formed[0] in sim.agents and formed[0] in sim.agents_by_type[Team]
    formed[0].remove()
    assert formed[0] not in sim.agents and formed[0] not in sim.agents_by_type[Team]


def test_a_dropped_simulation_and_its_agents_are_freed() -> None:
    """Nothing outside the model keeps it or its agents alive (Mesa 3.3's class-level id counters are held
    weakly, casesim/engine/mesa_compat.py)."""
    import gc

    sim = Simulation(small("time.horizon_days=120", "time.warmup_days=10"), 5)
    sim.run_to_end()
    ref, first_case = weakref.ref(sim), weakref.ref(next(iter(sim.cases())))
    del sim
    gc.collect()
    assert ref() is None and first_case() is None


def test_a_case_needs_found_and_met_are_what_the_log_says() -> None:
    """Bit masks stand for the needs: for every live case, the names of the needs found number what its
    assessments found, those met are the needs of its completed interventions, and unmet counts the rest."""
    sim = Simulation(small("time.horizon_days=700", "time.warmup_days=50"), 8)
    sim.run_to_end()
    ev = sim.log.to_frame()
    found = ev[ev["kind"] == "assessment"].groupby("case")["value"].sum()
    done = ev[(ev["kind"] == "intervention_end") & (ev["cause"] == "completed")]
    met = done.groupby("case")["value"].apply(lambda v: {sim.needs[int(i)] for i in v})
    checked = with_met = 0
    for case in sim.cases():
        assert len(case.identified) == found.get(case.no, 0)
        assert case.identified <= set(case.needs)
        assert case.met == met.get(case.no, set())
        assert case.open_needs == case.identified - case.met
        assert case.unmet == len(case.open_needs)
        checked += 1
        with_met += bool(case.met)
    assert checked > 50 and with_met > 5


def test_need_sets_name_the_bits() -> None:
    sim = Simulation(small("time.horizon_days=10", "time.warmup_days=1"), 1)
    needs = sim.needs
    assert len(needs) >= 4
    assert sim.need_set(0) == frozenset()
    assert sim.need_set(0b1010) == {needs[1], needs[3]}
    assert sim.need_set((1 << len(needs)) - 1) == set(needs)
    assert sim.need_set(0b1010) is sim.need_set(0b1010)   # made once per mask


def test_the_register_of_cases_matches_the_log_and_the_live_cases() -> None:
    """The register keeps labels as codes and numbers cases by row: its table must still give, for every
    case created, the arrival the log records and the attributes the live case holds."""
    sim = Simulation(small(*TEAMS), 6)
    sim.run_to_end()
    reg = pd.DataFrame(sim.register)
    ev = sim.log.to_frame()
    arrivals = ev[ev["kind"] == "arrival"].sort_values("case", kind="stable")
    assert reg["case"].tolist() == list(range(sim.cases_created)) == arrivals["case"].tolist()
    assert reg["arrival_time"].tolist() == arrivals["time"].tolist()
    by_no = reg.set_index("case")
    live = list(sim.cases())
    assert len(live) > 50
    for c in live:
        row = by_no.loc[c.no]
        assert (row["offence"], row["patch"], row["needs"], row["n_needs"]) == (
            c.offence, c.patch, "+".join(c.needs), len(c.needs))
        assert (row["propensity"], row["motivation"]) == (c.propensity, c.drive)   # motivation at arrival
    unchanged = set(reg["case"]) - set(ev.loc[ev["kind"] == "risk_change", "case"])
    same_risk = [c for c in live if c.no in unchanged]
    assert len(same_risk) > 20 and all(by_no.loc[c.no, "risk"] == c.risk for c in same_risk)
    assert reg["n_needs"].dtype == "int64"
    with pytest.raises(ValueError, match="out of order"):
        sim._register.add(0, 0.0, "LOW", "general", (), 0.0, 0.5, "North")
