"""The model's agent registry holds agents without weak references (casesim/engine/agents/held.py) and behaves as
Mesa's own; a case's needs are bit masks whose names match the log."""

from __future__ import annotations

import random
import sys
import weakref

import mesa
import pandas as pd
import pytest

from casesim.engine.agents import Case, CaseManager, Team
from casesim.engine.agents.held import HeldAgentSet, HeldRegistry
from casesim.engine.simulation import Simulation
from tests.helpers import small

TEAMS = ("management.community.approach={name: team}", "time.horizon_days=500", "time.warmup_days=50")


class MesaRegistered(Simulation):
    """The same simulation with Mesa 3.3's own registry (two weak sets per agent)."""

    register_agent = mesa.Model.register_agent
    deregister_agent = mesa.Model.deregister_agent

    def _hold_agents(self) -> None:
        pass


def _registry(sim: Simulation) -> dict[str, list[int]]:
    out = {"all": [a.unique_id for a in sim.agents]}
    for kind, agents in sim.agents_by_type.items():
        out[kind.__name__] = [a.unique_id for a in agents]
    return out


def test_the_held_registry_lists_what_mesas_lists_in_the_same_order_at_every_tick() -> None:
    """Cases arrive and leave, teams form and disband, staff leave and are replaced: after every tick the
    model's set of agents and each class's set hold the same agents in the same order as with Mesa's
    registry, and the runs log the same rows."""
    held, mesas = Simulation(small(*TEAMS), 4), MesaRegistered(small(*TEAMS), 4)
    assert isinstance(held.agents, HeldAgentSet) and not isinstance(mesas.agents, HeldAgentSet)
    changed = set()
    while held.running:
        held.step()
        mesas.step()
        a, b = _registry(held), _registry(mesas)
        assert a == b
        changed |= {k for k, v in a.items() if v}
    assert {"Case", "Team", "CaseManager"} <= changed
    ev = held.log.to_frame()
    pd.testing.assert_frame_equal(ev, mesas.log.to_frame())
    assert (ev["kind"] == "team_formed").sum() > 0 and (ev["kind"] == "exit").sum() > 0
    # every live case is known to the model exactly once per set, with no weak reference to it
    cases = list(held.cases())
    assert len(cases) == len(set(cases)) > 0
    assert all(weakref.getweakrefcount(c) == 0 for c in cases)
    assert all(weakref.getweakrefcount(c) == 2 for c in mesas.cases())   # Mesa's: all agents, the class
    assert set(held.agents) == set().union(*(set(s) for s in held.agents_by_type.values()))


def test_a_removed_agent_is_gone_from_every_set() -> None:
    sim = Simulation(small(*TEAMS), 2)
    for _ in range(20):
        sim.step()
    case = next(iter(sim.cases()))
    n_all, n_cases = len(sim.agents), len(sim.cases())
    case.remove()
    assert case not in sim.agents and case not in sim.cases()
    assert (len(sim.agents), len(sim.cases())) == (n_all - 1, n_cases - 1)
    case.remove()   # a second removal is ignored, as in Mesa
    assert len(sim.agents) == n_all - 1


def test_agentset_methods_give_mesas_results_on_held_sets() -> None:
    """Every AgentSet method on a held set gives what it gives on Mesa's own set of the same agents in the
    same order, with the same random state where it draws: copies, selections, sorts and shuffles (in place
    too), do, shuffle_do, map, get, agg and groupby."""
    sim = Simulation(small(*TEAMS), 3)
    for _ in range(30):
        sim.step()
    held = sim.cases()
    assert [c.no for c in held] == sorted(c.no for c in held)   # registration order: arrival order

    def pair() -> tuple[HeldAgentSet, mesa.agent.AgentSet]:
        return (HeldAgentSet(list(held), random=random.Random(0)),
                mesa.agent.AgentSet(list(held), random=random.Random(0)))

    def ids(agents: object) -> list[int]:
        return [a.unique_id for a in agents]

    h, w = pair()
    assert ids(h) == ids(w) == ids(held) and len(h) == len(w) and h[0] is w[0] and ids(h[1:4]) == ids(w[1:4])
    assert ids(h.shuffle()) == ids(w.shuffle())
    high = lambda c: c.risk == "HIGH"   # noqa: E731
    assert ids(h.select(high)) == ids(w.select(high)) and ids(h.select(at_most=0.5)) == ids(w.select(at_most=0.5))
    assert ids(h.sort("no", ascending=True)) == ids(w.sort("no", ascending=True))
    assert h.map(lambda c: c.no) == w.map(lambda c: c.no) and h.get(["no", "risk"]) == w.get(["no", "risk"])
    assert h.agg("contacts", max) == w.agg("contacts", max)
    assert h.groupby("risk").count() == w.groupby("risk").count()
    seen_h: list[int] = []
    seen_w: list[int] = []
    h.do(lambda c: seen_h.append(c.no))
    w.do(lambda c: seen_w.append(c.no))
    h.shuffle_do(lambda c: seen_h.append(c.no))
    w.shuffle_do(lambda c: seen_w.append(c.no))
    assert seen_h == seen_w and len(seen_h) == 2 * len(held)
    for change in (lambda s: s.shuffle(inplace=True), lambda s: s.sort("contacts", inplace=True),
                   lambda s: s.select(high, inplace=True)):
        h, w = pair()
        assert change(h) is h and change(w) is w
        assert ids(h) == ids(w)
    before = [weakref.getweakrefcount(c) for c in held]
    copy = held.select()   # a copy is Mesa's weak set, as Mesa makes it
    assert type(copy) is mesa.agent.AgentSet and ids(copy) == ids(held)
    assert [weakref.getweakrefcount(c) for c in held] == [n + 1 for n in before]


def test_changing_the_set_of_all_agents_leaves_the_registry_as_mesas() -> None:
    """``model.agents`` shares the model's dict, but changing it gives it its own, as Mesa's set of all agents
    is apart from its registry: after the same changes on both, the registries match and removals work."""
    held, mesas = Simulation(small(*TEAMS), 9), MesaRegistered(small(*TEAMS), 9)
    for _ in range(15):
        held.step()
        mesas.step()
    for sim in (held, mesas):
        first, second = list(sim.cases())[:2]
        everyone = sim.agents
        everyone.discard(first)
        everyone -= {second}
        assert first not in sim.agents and first in sim.cases() and second in sim.cases()
    assert _registry(held) == _registry(mesas)
    for sim in (held, mesas):
        first = next(iter(sim.cases()))
        first.remove()   # still registered, so removed from the class's set and the model
        assert first not in sim.cases() and first not in sim._agents
    for _ in range(15):
        held.step()
        mesas.step()
    assert _registry(held) == _registry(mesas)
    pd.testing.assert_frame_equal(held.log.to_frame(), mesas.log.to_frame())


def test_a_class_set_is_a_view_of_the_models_dict_until_it_is_changed_itself() -> None:
    """Each class's set lists the model's agents of that class (no dict of its own, one slot an agent in
    all); changed itself (a discard, an in-place shuffle), it takes a dict of its own, as Mesa's class set
    is apart from its registry, and the registry keeps it: after the same changes and more ticks on both,
    with cases arriving and leaving, the registries match, the changed sets' own order included."""
    held, mesas = Simulation(small(*TEAMS), 11), MesaRegistered(small(*TEAMS), 11)
    for _ in range(15):
        held.step()
        mesas.step()
    cases = held.cases()
    assert cases.shares(held._agents) and len(cases) == sum(type(a) is Case for a in held._agents)
    staff = held.agents_by_type[CaseManager]
    assert next(iter(staff)) not in cases and next(iter(cases)) in cases
    for sim in (held, mesas):
        first = list(sim.cases())[0]
        sim.cases().discard(first)
        assert first not in sim.cases() and first in sim.agents
        sim.cases().add(first)   # back, at the end of the set's own order
        sim.agents_by_type[CaseManager].shuffle(inplace=True)
    assert not held.cases().shares(held._agents) and not staff.shares(held._agents)
    assert _registry(held) == _registry(mesas) and _registry(held)["Case"][-1] == first.unique_id
    assert [a.unique_id for a in held.agents if type(a) is Case] != _registry(held)["Case"]
    for _ in range(20):
        held.step()
        mesas.step()
    assert _registry(held) == _registry(mesas)
    pd.testing.assert_frame_equal(held.log.to_frame(), mesas.log.to_frame())


def test_the_models_dict_is_copied_when_it_has_grown_and_every_set_still_lists_what_mesas_lists(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A dict keeps the slots of removed keys, so the registry copies the model's dict when it has grown by
    half since its last copy (here every registration is looked at): the copy replaces it in the sets
    that share it, and not in a set that has a dict of its own (the set of all agents, changed mid-run);
    after every tick each set lists what Mesa's registry lists, in the same order."""
    monkeypatch.setattr(HeldRegistry, "_LOOK_EVERY", 1)
    long = (*TEAMS, "time.horizon_days=2000")
    held, mesas = Simulation(small(*long), 12), MesaRegistered(small(*long), 12)
    copies = [0, 0]   # while the set of all shares the dict; after it has one of its own
    ticks = 0
    while held.running:
        before = held._agents
        held.step()
        mesas.step()
        ticks += 1
        copies[ticks > 40] += held._agents is not before
        if ticks == 40:
            for sim in (held, mesas):
                sim.agents.discard(next(iter(sim.cases())))   # the set of all takes a dict of its own
        assert _registry(held) == _registry(mesas)
        assert held.cases().shares(held._agents) and held.agents.shares(held._agents) == (ticks < 40)
        assert sys.getsizeof(held._agents) * 2 <= held._copied_size * 3   # looked at after every registration
    assert min(copies) >= 2
    pd.testing.assert_frame_equal(held.log.to_frame(), mesas.log.to_frame())


def test_a_class_set_combines_and_iterates_as_mesas_does() -> None:
    """Set operators on a class's set give the agents Mesa's give, in the same order (as a held set), and
    walking a class's set goes on while agents of another class come and go."""
    held, mesas = Simulation(small(*TEAMS), 13), MesaRegistered(small(*TEAMS), 13)
    for _ in range(20):
        held.step()
        mesas.step()

    def ids(agents: object) -> list[int]:
        return [a.unique_id for a in agents]

    for combine in (lambda s, few: s | few, lambda s, few: s & few, lambda s, few: s - few,
                    lambda s, few: s ^ few):
        a = combine(held.cases(), list(held.cases())[2:7])   # (a list: a set's own order is by address)
        b = combine(mesas.cases(), list(mesas.cases())[2:7])
        assert isinstance(a, HeldAgentSet) and ids(a) == ids(b)
    walked, formed = 0, []
    for case in held.cases():   # a team formed while the cases are walked
        if walked == 3:
            formed.append(Team(held, case, held.all_staff()[0], []))
        walked += 1
    assert walked == len(held.cases()) > 3 and formed[0] in held.agents


def test_reordering_the_set_of_all_agents_keeps_the_registry_whole() -> None:
    """An in-place shuffle of ``model.agents`` gives it a dict of its own (as Mesa's gives it a new weak
    dict); agents made and removed afterwards still reach it, and the model's own dict is untouched."""
    sim = Simulation(small(*TEAMS), 5)
    for _ in range(10):
        sim.step()
    before = list(sim._agents)
    sim.agents.shuffle(inplace=True)
    assert list(sim._agents) == before and set(sim.agents) == set(before)
    for _ in range(20):
        sim.step()
    assert set(sim.agents) == set(sim._agents)
    assert len(sim.agents) == sum(len(s) for s in sim.agents_by_type.values())


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
        assert (row["propensity"], row["motivation"]) == (c.propensity, c.motivation)
    unchanged = set(reg["case"]) - set(ev.loc[ev["kind"] == "risk_change", "case"])
    same_risk = [c for c in live if c.no in unchanged]
    assert len(same_risk) > 20 and all(by_no.loc[c.no, "risk"] == c.risk for c in same_risk)
    assert reg["n_needs"].dtype == "int64"
    with pytest.raises(ValueError, match="out of order"):
        sim._register.add(0, 0.0, "LOW", "general", (), 0.0, 0.5, "North")


def test_a_held_set_made_without_a_generator_takes_its_agents_models() -> None:
    sim = Simulation(small(*TEAMS), 7)
    for _ in range(5):
        sim.step()
    cases = list(sim.cases())[:5]
    made = HeldAgentSet(cases)
    assert made.random is sim.random and list(made) == cases
