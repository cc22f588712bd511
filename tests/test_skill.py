"""Skill: a matching specialist assesses, works and sees a case better; a deliverer not skilled in the case's
mode sees it less well (``scenario.skill``, docs/model.md). Paired over seeds: the same seeds in every arm."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

from casesim.agents.case_manager import CaseManager
from casesim.engine.process import ComplianceModel
from casesim.engine.simulation import Simulation
from casesim.scenario.schema import load_scenario
from tests.helpers import ROOT, SCENARIOS, scaled

SEEDS = (1, 2, 3)
#: A sixth of the service (tests.helpers.scaled, halved), warm-up 180 days, then most of a year.
SHORT = ("time.horizon_days=540", "population_scale=0.5")
ZERO = ("skill.specialist_detection=0", "skill.specialist_time_saving=0", "skill.specialist_compliance=0",
        "skill.unskilled_mode_compliance=0")
UNSKILLED = ROOT / "tests" / "data" / "skill_unskilled.yaml"
KEPT = ("contact_kept", "contact_missed")


@cache
def _run(name: str, extra: tuple[str, ...], seed: int) -> tuple[Simulation, pd.DataFrame]:
    sim = Simulation(scaled(SCENARIOS / name, *SHORT, *extra), seed=seed)
    sim.run_to_end()
    return sim, sim.log.to_frame()


def _figures(name: str, extra: tuple[str, ...], seed: int) -> dict[str, float]:
    """After warm-up, in the community: share of contacts kept, needs found per first assessment of a stay
    (re-assessments at reviews apart), continuity breaks; and the community staff's caseload hours at the end."""
    sim, ev = _run(name, extra, seed)
    sc = sim.scenario
    ev = ev[ev.time >= sc.time.warmup_days]
    community = [s for s, st in sc.journey.stages.items() if st.setting == "community"]
    here = ev.stage.isin(community)
    contacts = ev[ev.kind.isin(KEPT) & here]
    first = ev[(ev.kind == "assessment") & here & (ev.cause.astype(str) == "")]
    return {"kept": float((contacts.kind == "contact_kept").mean()), "found": float(first.value.mean()),
            "breaks": float((ev.kind == "manager_change").sum()),
            "reclassified": float(((ev.kind == "manager_change") & (ev.cause.astype(str) == "reclassification")).sum()),
            "load": sum(m.load for m in sim.staff["community"])}


def test_type_segmentation_by_risk_buys_skill_at_the_cost_of_continuity():
    """Risk specialists still break continuity more than generic staff pooled over the same area
    (pooled_allocation: the same pooling, no specialisms), and now their cases keep more contacts than
    there and have more needs found; with the skill effects at 0 the gain over pooled working disappears."""
    pooled = [_figures("pooled_allocation.yaml", (), s) for s in SEEDS]
    risk = [_figures("individual_type_risk.yaml", (), s) for s in SEEDS]
    flat = [_figures("individual_type_risk.yaml", ZERO, s) for s in SEEDS]
    assert sum(r["breaks"] for r in risk) > 1.02 * sum(p["breaks"] for p in pooled)
    for p, r in zip(pooled, risk, strict=True):   # a review that moves a case's risk level moves the case
        assert p["reclassified"] == 0 and r["reclassified"] > 0.05 * r["breaks"]
    for p, r, f in zip(pooled, risk, flat, strict=True):
        gain, flat_gain = r["kept"] - p["kept"], f["kept"] - p["kept"]
        assert 0.005 < gain - flat_gain < 0.04        # odds x1.22 at about 90% kept: about +1.5 points
        assert gain > 0.005 and flat_gain < 0.005     # the buy over pooled working is the skill's
        assert 0.0 < r["found"] - f["found"] < 0.1 * f["found"]   # odds x1.35 on each need: at most +5.5%
        assert 0.85 < r["load"] / f["load"] < 0.97    # a tenth less time for the cases specialists hold


def test_assessment_specialists_find_more_needs():
    """Under task segmentation by process the assessment unit assesses every case it holds, and finds more
    needs than the same unit without the skill effect (a plausible gain: odds x1.35 per need)."""
    for seed in SEEDS:
        skill = _figures("individual_task_process.yaml", (), seed)
        flat = _figures("individual_task_process.yaml", ZERO, seed)
        assert 0.0 < skill["found"] - flat["found"] < 0.1 * flat["found"]
    sim, ev = _run("individual_task_process.yaml", (), SEEDS[0])
    unit = {m.unique_id for m in sim.staff_ever if m.sk_assess}
    first = ev[(ev.kind == "assessment") & (ev.stage == "NON_CUSTODIAL") & (ev.cause.astype(str) == "")]
    assert first.manager.isin(unit).mean() > 0.9


@cache
def _unskilled_run(*extra: str, seed: int = 1):
    """The rural patch's unskilled staff hold its intensive cases: each contact's probability as offered,
    beside what the model gives with the skill effects at 0, and whether the deliverer had the mode's skill."""
    sc = load_scenario(UNSKILLED, [*SHORT, *extra])[0]
    sim = Simulation(sc, seed=seed)
    flat = ComplianceModel(load_scenario(UNSKILLED, [*SHORT, *extra, *ZERO])[0])
    model = sim.compliance
    offered = model.probability
    seen: list[tuple[bool, float, float]] = []

    def probability(case, now, pressure, staff=None):
        p = offered(case, now, pressure, staff)
        seen.append((case.mode in staff.modes, p, flat.probability(case, now, pressure, staff)))
        return p

    model.probability = probability
    sim.run_to_end()
    return sim, sim.log.to_frame(), seen


def test_unskilled_delivery_lowers_the_probability_of_its_contacts():
    """Exact: a contact delivered by staff without the mode's skill has its logit lowered by exactly
    ``skill.unskilled_mode_compliance`` (others unchanged), and that lower probability is the one logged."""
    sim, ev, seen = _unskilled_run()
    skilled = np.array([s for s, _, _ in seen])
    p = np.array([x for _, x, _ in seen])
    p0 = np.array([x for _, _, x in seen])
    assert (~skilled).sum() > 200
    assert np.array_equal(p[skilled], p0[skilled])
    shift = np.log(p / (1 - p)) - np.log(p0 / (1 - p0))
    assert np.allclose(shift[~skilled], sim.scenario.skill.unskilled_mode_compliance, atol=1e-9)
    logged = ev[ev.kind.isin(KEPT)].value.to_numpy()
    assert np.array_equal(np.sort(logged), np.sort(p))
    st = sim.staff_table().set_index("manager")
    contacts = ev[ev.kind.isin(KEPT)]
    modes = st.modes.reindex(contacts.manager.to_numpy()).fillna("").to_numpy()   # ("": a custody team)
    by_unskilled = np.array([ms != "" and m not in ms.split("+")
                             for m, ms in zip(contacts.cause.astype(str), modes, strict=True)])
    assert by_unskilled.sum() == (~skilled).sum()   # (the holder delivers: no pod cover in this scenario)


def test_unskilled_delivery_keeps_fewer_contacts_paired_over_seeds():
    """Over two seeds, the contacts the unskilled rural staff deliver are kept less often with the effect than
    without it (odds x0.74: about 3 points at 85-90%), and without ``fallback_unskilled`` those cases go
    unallocated and more contacts are never delivered."""
    for seed in SEEDS[:2]:
        rates = []
        for extra in ((), ("skill.unskilled_mode_compliance=0",)):
            _, ev, seen = _unskilled_run(*extra, seed=seed)
            unskilled = [p for s, p, _ in seen if not s]
            rates.append(float(np.mean(unskilled)))
        assert 0.01 < rates[1] - rates[0] < 0.08
    _, ev, _ = _unskilled_run()
    _, strict, seen = _unskilled_run("management.community.segmentation.fallback_unskilled=false")
    assert all(s for s, _, _ in seen)
    assert (strict.kind == "contact_cancelled").sum() > 1.5 * (ev.kind == "contact_cancelled").sum()


@pytest.mark.parametrize("name", ["individual_type_risk.yaml"])
def test_zero_skill_effects_leave_the_log_exactly_as_without_them(name, monkeypatch):
    """Every skill effect at 0 gives exactly the log of a model in which specialisms and skills do nothing
    (no match, no deliverer passed to the compliance model): the effects are exactly additive."""
    _, zero = _run(name, ZERO, SEEDS[0])
    offered = ComplianceModel.probability
    monkeypatch.setattr(CaseManager, "matches", lambda self, case: False)
    monkeypatch.setattr(ComplianceModel, "probability",
                        lambda self, case, now, pressure, staff=None: offered(self, case, now, pressure))
    sim = Simulation(scaled(SCENARIOS / name, *SHORT, *ZERO), seed=SEEDS[0])
    sim.run_to_end()
    pd.testing.assert_frame_equal(sim.log.to_frame(), zero)


def test_generic_skilled_staff_are_untouched_by_the_skill_effects():
    """The baseline has no specialists and every member skilled in every mode: its log is the same whatever
    the skill effects."""
    pd.testing.assert_frame_equal(_run("baseline.yaml", (), SEEDS[0])[1], _run("baseline.yaml", ZERO, SEEDS[0])[1])


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_a_matching_specialist_adds_exactly_its_terms():
    """At the end of a type-by-risk run, every community case its holder carries asks exactly its mode's weekly
    hours times the stage's factor, less the time saving when the holder matches it (nearly all do); and a
    contact from that holder has its logit raised by exactly ``skill.specialist_compliance`` over one with
    nobody's skill counted (no deliverer), a contact from a generic member by nothing."""
    sim, _ = _run("individual_type_risk.yaml", (), SEEDS[0])
    skill, now = sim.scenario.skill, sim.env.now
    held = [c for m in sim.staff["community"] for c in m.held if c.load_staff is m and c.cover is None]
    matched = 0
    for case in held:
        m = case.holder
        weight = sim.mode_hours[case.mode] * sim.journey.stages[case.stage].workload_factor
        if m.matches(case):
            matched += 1
            weight *= 1.0 - skill.specialist_time_saving
        assert case.load_weight == pytest.approx(weight, rel=1e-12)
        shift = _logit(sim.compliance.probability(case, now, 0.0, m)) - _logit(
            sim.compliance.probability(case, now, 0.0))
        assert shift == pytest.approx(skill.specialist_compliance if m.matches(case) else 0.0, abs=1e-9)
    assert len(held) > 100 and matched > 0.9 * len(held)
    custody = sim.staff["custody"][0]   # generic, skilled in every mode
    case = held[0]
    assert sim.compliance.probability(case, now, 0.0, custody) == sim.compliance.probability(case, now, 0.0)
