"""Reoffending that responds to supervision (casesim/scenario/schema.py ``Reoffending``,
casesim/engine/process.py ``ReoffendingModel`` and ``CaseProcess._rehazard``): the offence clock is exact,
and the risk principle shows in paired runs."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

from casesim.engine.rng import REOFFEND, Luck
from casesim.engine.simulation import Simulation
from casesim.scenario.params import DAYS_PER_YEAR
from tests.helpers import small

SEEDS = (1, 2, 3)
OFF = ("reoffending.needs_met={}", "reoffending.intensity=0", "reoffending.motivation=0", "reoffending.after_custody=0",
       "reoffending.after_exit_rate_per_year=0", "reoffending.supervised_rate_per_year=0")
#: Further offences often enough to measure, and risk levels that stay as they arrived.
OFTEN = ("journey.stages.NON_CUSTODIAL.reoffending_rate_per_year=0.6",
         "journey.stages.SUPERVISED_RELEASE.reoffending_rate_per_year=0.6",
         "process.risk_review.p_down_if_compliant=0", "process.risk_review.p_up_if_noncompliant=0")
TABLE = "mode_assignment.table={{LOW: {LOW}, MEDIUM: BROKERAGE, HIGH: {HIGH}}}"


@cache
def simulate(*overrides: str, seed: int) -> Simulation:
    sim = Simulation(small("time.horizon_days=500", "time.warmup_days=100", *overrides), seed=seed)
    sim.run_to_end()
    return sim


def _stays(sim: Simulation) -> pd.DataFrame:
    """Every stay with its start (stage_enter), its stay number and its end (stage_exit; horizon if open)."""
    ev = sim.log.to_frame()
    enter = ev[ev["kind"] == "stage_enter"][["case", "time", "stage", "value"]].rename(
        columns={"time": "start", "value": "k"})
    exit_ = ev[ev["kind"] == "stage_exit"][["case", "time", "stage"]].rename(columns={"time": "end"})
    enter = enter.assign(n=enter.groupby("case").cumcount())
    exit_ = exit_.assign(n=exit_.groupby("case").cumcount())
    stays = enter.merge(exit_, on=["case", "n", "stage"], how="left")
    return stays.fillna({"end": sim.scenario.time.horizon_days})


def test_with_every_effect_off_each_offence_comes_at_the_stage_rate_from_the_cases_own_draw() -> None:
    """... times the person's own frailty, exactly."""
    sim = simulate(*OFF, *OFTEN, "reoffending.frailty_sd=1.2", seed=1)
    ev = sim.log.to_frame()
    off = ev[ev["kind"] == "offence"]
    assert len(off) > 200 and set(off["cause"].astype(str)) == {"supervised"}
    assert (off["value"] == 1.0).all()
    # one offence row per stay ended by a further offence, at the same time
    fo = ev[(ev["kind"] == "stage_exit") & (ev["cause"] == "further_offence")]
    assert list(zip(off["case"], off["time"], strict=True)) == list(zip(fo["case"], fo["time"], strict=True))
    stays = _stays(sim).merge(off[["case", "time"]].rename(columns={"time": "end"}), on=["case", "end"])
    reg = pd.DataFrame(sim.register).set_index("case")
    rates = {s: st.reoffending_rate_per_year for s, st in sim.scenario.journey.stages.items()}
    assert reg["frailty"].std() > 1.0   # (people differ in their own offending)
    for row in stays.itertuples():
        rate = rates[row.stage][reg.loc[row.case, "risk"]] * reg.loc[row.case, "frailty"]
        u = Luck.u(sim.luck.case_key(int(row.case)), REOFFEND, int(row.k))
        assert row.end == pytest.approx(row.start - DAYS_PER_YEAR * math.log(u) / rate, abs=1e-9)


def test_a_supervised_rate_no_higher_than_the_stages_changes_nothing() -> None:
    """Every offence ends the stay when the supervised rate is at or below the stage's: no draw is made."""
    plain = simulate(*OFF, *OFTEN, seed=1).log.to_frame()
    below = simulate(*OFF[:-1], "reoffending.supervised_rate_per_year=0.6", *OFTEN, seed=1).log.to_frame()
    pd.testing.assert_frame_equal(plain, below)


def test_offences_alongside_a_stay_come_at_the_supervised_rate_and_end_it_in_the_stages_share() -> None:
    """With every effect off the ratio is 1, and with everyone offending alike (no frailty) all further offences
    in a supervised stage come at the supervised rate (Poisson), and each ends the stay with probability stage
    rate / supervised rate."""
    total = 1.5
    sims = [simulate(*OFF[:-1], f"reoffending.supervised_rate_per_year={total}", "reoffending.frailty_sd=0",
                     "process.risk_review.p_down_if_compliant=0", "process.risk_review.p_up_if_noncompliant=0",
                     seed=seed) for seed in SEEDS]
    years = offences = ending = 0.0
    for sim in sims:
        ev = sim.log.to_frame()
        stays = _stays(sim)
        stays = stays[stays["stage"].isin(["NON_CUSTODIAL", "SUPERVISED_RELEASE"])]
        years += float((stays["end"] - stays["start"]).sum()) / DAYS_PER_YEAR
        off = ev[(ev["kind"] == "offence") & ev["stage"].isin(["NON_CUSTODIAL", "SUPERVISED_RELEASE"])]
        offences += len(off)
        ending += float((off["cause"] == "supervised").sum())
        assert set(off["cause"].astype(str)) == {"supervised", "during_stay"}
        # an offence alongside leaves the case in its stay: no stage_exit at that instant
        during = off[off["cause"] == "during_stay"][["case", "time"]]
        ends = ev[ev["kind"] == "stage_exit"][["case", "time"]]
        assert during.merge(ends, on=["case", "time"]).empty
    rate = offences / years
    assert abs(rate - total) < 3 * math.sqrt(offences) / years, (rate, total)
    # the ending share lies between the lowest and highest stage rates over the supervised rate (0.04 .. 0.12)
    share = ending / offences
    assert 0.04 / total < share < 0.12 / total, share
    assert ending > 30


def test_a_constant_ratio_stretches_every_offence_time_exactly() -> None:
    """Motivation alone (needs and intensity off, motivation held at its draw): each case's ratio is fixed,
    exp(b (m - 0.5)), so its offence
    comes at the stage rate times that ratio from the same draw, as the hazard's integral says."""
    b = -0.8
    sim = simulate("reoffending.needs_met={}", "reoffending.intensity=0", f"reoffending.motivation={b}",
                   "reoffending.after_custody=0", "reoffending.after_exit_rate_per_year=0",
                   "reoffending.supervised_rate_per_year=0", "motivation.rate=0", *OFTEN, seed=2)
    ev = sim.log.to_frame()
    off = ev[ev["kind"] == "offence"]
    stays = _stays(sim).merge(off[["case", "time", "value"]].rename(columns={"time": "end"}), on=["case", "end"])
    reg = pd.DataFrame(sim.register).set_index("case")
    rates = {s: st.reoffending_rate_per_year for s, st in sim.scenario.journey.stages.items()}
    assert len(stays) > 200
    for row in stays.itertuples():
        ratio = math.exp(b * (reg.loc[row.case, "motivation"] - 0.5))
        assert row.value == pytest.approx(ratio, rel=1e-12)
        rate = rates[row.stage][reg.loc[row.case, "risk"]] * reg.loc[row.case, "frailty"] * ratio
        u = Luck.u(sim.luck.case_key(int(row.case)), REOFFEND, int(row.k))
        assert row.end == pytest.approx(row.start - DAYS_PER_YEAR * math.log(u) / rate, abs=1e-7)


def _offence_rate(sim: Simulation, risk: str) -> tuple[int, float]:
    """(further offences, years in the community stages with a further-offence hazard) of the cases that
    arrived at ``risk`` (their risk stays: reviews do not change it in these runs)."""
    stays = _stays(sim)
    reg = pd.DataFrame(sim.register).set_index("case")
    stays = stays[stays["stage"].isin(["NON_CUSTODIAL", "SUPERVISED_RELEASE"])]
    stays = stays[reg.loc[stays["case"], "risk"].to_numpy() == risk]
    ev = sim.log.to_frame()
    off = ev[(ev["kind"] == "offence") & (ev["cause"] == "supervised")]
    n = int(off["case"].isin(stays["case"]).sum())
    return n, float((stays["end"] - stays["start"]).sum()) / DAYS_PER_YEAR


def _paired_ratio(risk: str, low: tuple[str, str], high: tuple[str, str]) -> float:
    """Offences per year in the community for ``risk`` cases under the more intensive table over the less."""
    n0 = y0 = n1 = y1 = 0.0
    for seed in SEEDS:
        a = _offence_rate(simulate(*OFTEN, TABLE.format(LOW=low[0], HIGH=high[0]), seed=seed), risk)
        b = _offence_rate(simulate(*OFTEN, TABLE.format(LOW=low[1], HIGH=high[1]), seed=seed), risk)
        n0, y0, n1, y1 = n0 + a[0], y0 + a[1], n1 + b[0], y1 + b[1]
    assert min(n0, n1) > 150
    return (n1 / y1) / (n0 / y0)


def test_intensive_supervision_lowers_reoffending_for_high_risk_people() -> None:
    # brokerage -> comprehensive (0.67 of intensity) at -0.45 per unit: a hazard ratio of exp(-0.30) = 0.74
    ratio = _paired_ratio("HIGH", ("ADMINISTRATIVE", "ADMINISTRATIVE"), ("BROKERAGE", "COMPREHENSIVE"))
    assert 0.6 < ratio < 0.88, ratio


def test_intensive_supervision_does_not_lower_reoffending_for_low_risk_people() -> None:
    # administrative -> therapeutic (0.67) at +0.15 per unit: a hazard ratio of exp(0.10) = 1.105
    ratio = _paired_ratio("LOW", ("ADMINISTRATIVE", "THERAPEUTIC"), ("COMPREHENSIVE", "COMPREHENSIVE"))
    assert ratio > 0.98, ratio


def test_needs_met_lower_the_hazard_and_are_picked_up_at_the_next_happening() -> None:
    """Every need met halves the hazard: offences fall against the same runs where meeting needs does nothing,
    and every offence row carries the ratio of the needs the case had met by then."""
    half = "reoffending.needs_met={substance_misuse: 0.5, mental_health: 0.5, accommodation: 0.5, " \
           "employment: 0.5, education: 0.5}"
    base = ("reoffending.intensity=0", "reoffending.motivation=0", "reoffending.after_custody=0", *OFTEN)
    n_none = n_half = 0
    for seed in SEEDS:
        none = simulate("reoffending.needs_met={}", *base, seed=seed)
        met = simulate(half, *base, seed=seed)
        ev = none.log.to_frame()
        n_none += int(((ev["kind"] == "offence") & (ev["cause"] == "supervised")).sum())
        ev = met.log.to_frame()
        off = ev[(ev["kind"] == "offence") & (ev["cause"] == "supervised")]
        n_half += len(off)
        ratios = np.sort(off["value"].unique())
        assert set(np.round(np.log2(ratios), 9)) <= {0.0, -1.0, -2.0, -3.0, -4.0, -5.0}
    assert n_half < 0.97 * n_none, (n_half, n_none)


def test_an_unknown_need_in_needs_met_is_refused_naming_the_field() -> None:
    from casesim.scenario.yamlio import ScenarioError

    with pytest.raises(ScenarioError, match=r"reoffending\.needs_met\.gambling.*unknown need 'gambling'"):
        small("reoffending.needs_met={gambling: 0.9}")


# --------------------------------------------------------------------------- after exit, and people who come back

def test_every_return_is_a_person_who_left_and_offended_and_comes_back_as_themselves() -> None:
    sim = simulate(seed=1)
    ev = sim.log.to_frame()
    reg = pd.DataFrame(sim.register).set_index("case")
    back = reg[reg["previous"] >= 0]
    assert len(back) > 50
    arrived = ev[ev["kind"] == "arrival"].set_index("case")
    assert (arrived.loc[back.index, "cause"] == "return").all()
    assert int((arrived["cause"] == "return").sum()) == len(back)
    exits = ev[ev["kind"] == "exit"].set_index("case")["time"]
    after = ev[(ev["kind"] == "offence") & (ev["cause"] == "after_exit")].groupby("case")["time"]
    follow = sim.scenario.reoffending.after_exit_follow_days
    changes = ev[ev["kind"] == "risk_change"]
    last_risk = dict(zip(changes["case"], changes["cause"].astype(str), strict=True))   # (the last one wins)
    for no, row in back.iterrows():
        prev = int(row["previous"])
        left, offended, came = exits.loc[prev], after.get_group(prev).to_numpy(), row["arrival_time"]
        # left, offended (perhaps more than once: a fine or a caution leaves them out), then came back after the
        # last of those offences, the one that brought them back: none after it
        assert (left < offended).all() and (offended <= left + follow).all() and (offended < came).all()
        before = reg.loc[prev]
        assert row["person"] == before["person"] and reg.loc[int(row["person"]), "previous"] == -1
        assert (row["offence"], row["needs"], row["patch"]) == (before["offence"], before["needs"], before["patch"])
        assert (row["propensity"], row["motivation"]) == (before["propensity"], before["motivation"])
        steps = ["LOW", "MEDIUM", "HIGH"]
        at_exit = last_risk.get(prev, before["risk"])   # reviews may have moved it since arrival
        assert steps.index(row["risk"]) - steps.index(at_exit) in (0, 1)
        assert no > prev


def test_offending_after_exit_changes_nothing_until_someone_comes_back() -> None:
    """With nobody coming back (return_share 0) the run is the run without offending after exit, but for the
    after-exit offence rows: newcomers keep their luck, and an offence after exit touches nobody."""
    quiet = simulate("reoffending.after_exit_rate_per_year=0", seed=3).log.to_frame()
    logged = simulate("reoffending.return_share=0", seed=3).log.to_frame()
    after = (logged["kind"] == "offence") & (logged["cause"] == "after_exit")
    assert after.sum() > 100
    pd.testing.assert_frame_equal(logged[~after].reset_index(drop=True).astype({"kind": str, "cause": str}),
                                  quiet.reset_index(drop=True).astype({"kind": str, "cause": str}))


def test_newcomers_are_the_same_people_with_the_same_luck_whether_or_not_others_come_back() -> None:
    on = simulate(seed=2)
    off = simulate("reoffending.return_share=0", seed=2)
    reg_on, reg_off = pd.DataFrame(on.register), pd.DataFrame(off.register)
    first = reg_on[reg_on["previous"] < 0].drop(columns=["case", "person"]).reset_index(drop=True)
    assert len(reg_on) > len(reg_off) == len(first)
    pd.testing.assert_frame_equal(first, reg_off.drop(columns=["case", "person"]).reset_index(drop=True))
    # the same newcomer has the same luck: its first stay's length is the same wherever its number moved
    ev_on, ev_off = on.log.to_frame(), off.log.to_frame()
    no_on = reg_on.loc[reg_on["previous"] < 0, "case"].to_numpy()

    def first_exit(ev: pd.DataFrame) -> pd.Series:
        return ev[ev["kind"] == "stage_exit"].groupby("case")["value"].first()

    a, b = first_exit(ev_on), first_exit(ev_off)
    newcomer = dict(zip(no_on, reg_off["case"], strict=True))   # case number with returns -> without
    arrivals_before_any_return = ev_on.loc[ev_on["cause"] == "return", "time"].min()
    early = reg_on[(reg_on["previous"] < 0) & (reg_on["arrival_time"] < arrivals_before_any_return)]["case"]
    assert len(early) > 100
    shared = [c for c in early if c in a.index and newcomer[c] in b.index]
    assert sum(a[c] == b[newcomer[c]] for c in shared) > 0.95 * len(shared)


def test_a_service_that_meets_more_needs_has_fewer_people_coming_back_over_five_years() -> None:
    """Better programmes (every provider's completion probability 0.95): more needs met, so fewer further
    offences during supervision and after it, and fewer returns, paired over seeds on five years."""
    base = small()
    better = tuple(f"providers.{i}.completion_probability=0.95" for i in range(len(base.providers)))
    returns = {"base": 0, "better": 0}
    offences = {"base": 0, "better": 0}
    for seed in SEEDS:
        for name, extra in (("base", ()), ("better", better)):
            ev = simulate("time.horizon_days=1826", *extra, seed=seed).log.to_frame()
            returns[name] += int(((ev["kind"] == "arrival") & (ev["cause"] == "return")).sum())
            offences[name] += int((ev["kind"] == "offence").sum())
    assert returns["base"] > 1500
    assert returns["better"] < returns["base"], returns
    assert offences["better"] < 0.99 * offences["base"], offences


# --------------------------------------------------------------------------- motivation that moves

def test_motivation_moves_by_the_documented_rule() -> None:
    sim = Simulation(small("time.horizon_days=60", "time.warmup_days=10"), seed=1)
    while sim.time < 20:
        sim.step()
    case = next(c for c in sim.cases() if c.holder is not None)
    mv, sat = sim.scenario.motivation, sim.scenario.compliance.continuity_saturation_days
    threshold = sim.scenario.pressure.threshold
    case.drive, case.motivation, case.done = 0.4, 0.6, 0b101   # two needs met
    case.holder_since = 10.0
    now, pressure = 10.0 + 0.75 * sat, threshold + 0.3
    target = 0.4 + mv.relationship * (0.75 - 0.5) - mv.pressure * 0.3 + mv.need_met * 2
    sim.engage(case, now, pressure)
    assert case.motivation == pytest.approx(0.6 + mv.rate * (target - 0.6), abs=1e-12)
    case.motivation = 0.995
    sim.engage(case, now, pressure)
    assert case.motivation <= 0.99


def test_with_every_coefficient_off_motivation_stays_at_the_draw() -> None:
    sim = simulate("motivation.relationship=0", "motivation.pressure=0", "motivation.need_met=0", seed=1)
    reg = pd.DataFrame(sim.register).set_index("case")
    live = [c for c in sim.cases()]
    assert len(live) > 500
    assert all(c.motivation == reg.loc[c.no, "motivation"] == c.drive for c in live)


@cache
def _scaled(name: str, seed: int, *extra: str):  # noqa: ANN202 - a Result
    from casesim.outputs.results import run
    from tests.helpers import SCENARIOS, scaled
    return run(scaled(SCENARIOS / f"{name}.yaml", "time.horizon_days=1461", *extra), seed=seed)


def test_fewer_staff_raise_reoffending_through_pressure_and_more_people_come_back() -> None:
    """understaffed.yaml against the baseline, paired over seeds on four years: pressed staff's contacts lower
    motivation, so more of the year's cohort reoffend and more people come back; with pressure no longer
    moving motivation the gap in reoffending shrinks. (Fewer staff also mean more breaches and custody, which
    stop some offending: the reoffending rate is measured from each cohort start, as the statistics do.)"""
    def pooled(name: str, *extra: str) -> tuple[float, int]:
        rate = returned = 0
        for seed in SEEDS:
            s = _scaled(name, seed, *extra).summary
            rate += s["proven_reoffending_1y"]["all"] / len(SEEDS)
            returned += s["cases_returned"]
        return rate, returned

    base, short = pooled("baseline"), pooled("understaffed")
    assert short[0] > base[0] and short[1] > base[1], (base, short)
    calm = ("motivation.pressure=0",)
    base0, short0 = pooled("baseline", *calm), pooled("understaffed", *calm)
    assert short0[0] - base0[0] < short[0] - base[0], (base0, short0, base, short)


# --------------------------------------------------------------------------- people who offend more than others

def test_a_persons_frailty_is_a_lognormal_multiplier_of_mean_one_that_comes_back_with_them() -> None:
    sd = 1.2
    sim = simulate(f"reoffending.frailty_sd={sd}", "time.horizon_days=1000", seed=1)
    reg = pd.DataFrame(sim.register).set_index("case")
    first = reg[reg["previous"] < 0]
    z = np.log(first["frailty"].to_numpy())
    n = len(z)
    assert n > 2000
    # the log is normal with mean -sd^2/2 and standard deviation sd (so the multiplier's mean is 1)
    assert abs(z.mean() + sd * sd / 2) < 4 * sd / math.sqrt(n)
    assert abs(z.std() / sd - 1) < 4 / math.sqrt(2 * n)
    assert abs(first["frailty"].mean() - 1) < 0.15
    # it is drawn from the person's own luck, and a return is the same person with the same multiplier
    from casesim.engine.rng import FRAILTY, sample
    cv = math.sqrt(math.expm1(sd * sd))
    for no in first.index[:50]:
        key = sim.luck.case_key(int(np.searchsorted(first.index.to_numpy(), no)))
        assert first.loc[no, "frailty"] == sample("lognormal", 1.0, cv, Luck.u(key, FRAILTY))
    back = reg[reg["previous"] >= 0]
    assert len(back) > 100
    assert (back["frailty"].to_numpy() == reg.loc[back["previous"], "frailty"].to_numpy()).all()
    # with no spread everyone offends at their risk level's rate
    flat = pd.DataFrame(simulate("reoffending.frailty_sd=0", seed=1).register)
    assert (flat["frailty"] == 1.0).all()


def test_offending_after_exit_goes_on_at_the_persons_rate_until_the_follow_up_ends() -> None:
    """Nobody comes back (return_share 0), every effect off: after exit each person offends as a Poisson process
    at the rate after exit for their risk times their frailty, until ``after_exit_follow_days`` after exit (or
    the horizon), so the count of offences after exit is the sum of those rates times those spells."""
    sim = simulate(*OFF[:4], "reoffending.supervised_rate_per_year=0", "reoffending.after_exit_rate_per_year=0.8",
                   "reoffending.return_share=0", "reoffending.after_exit_follow_days=300", "motivation.rate=0",
                   "time.horizon_days=1200", seed=2)
    ev = sim.log.to_frame()
    reg = pd.DataFrame(sim.register).set_index("case")
    exits = ev[ev["kind"] == "exit"].set_index("case")["time"]
    h = sim.scenario.time.horizon_days
    spell = np.minimum(exits.to_numpy() + 300, h) - exits.to_numpy()
    expected = float((0.8 * reg.loc[exits.index, "frailty"].to_numpy() * spell).sum()) / DAYS_PER_YEAR
    after = ev[(ev["kind"] == "offence") & (ev["cause"] == "after_exit")]
    assert expected > 1000
    assert abs(len(after) - expected) < 4 * math.sqrt(expected), (len(after), expected)
    assert (after.groupby("case").size() > 1).sum() > 100   # people offend again after a fine or a caution
    t_exit = exits.loc[after["case"]].to_numpy()
    assert ((after["time"].to_numpy() > t_exit) & (after["time"].to_numpy() <= t_exit + 300)).all()
    # when every offence brings the person back, nobody offends twice after one exit
    once = simulate(*OFF[:4], "reoffending.supervised_rate_per_year=0", "reoffending.after_exit_rate_per_year=0.8",
                    "reoffending.return_share=1", "motivation.rate=0", seed=2).log.to_frame()
    once = once[(once["kind"] == "offence") & (once["cause"] == "after_exit")]
    assert len(once) > 300 and once["case"].is_unique


def test_a_prolific_minority_concentrates_offending_in_fewer_people() -> None:
    """The same mean rate, spread over people (frailty) or not: with the spread fewer people reoffend within a
    year and each reoffender commits more offences (Jensen's inequality on 1 - exp(-z rate)), paired over seeds."""
    def pooled(sd: float) -> tuple[float, float]:
        share = per = 0.0
        for seed in SEEDS:
            s = _scaled("baseline", seed, f"reoffending.frailty_sd={sd}").summary
            share += s["proven_reoffending_1y"]["all"] / len(SEEDS)
            per += s["proven_reoffences_per_reoffender"] / len(SEEDS)
        return share, per

    flat, spread = pooled(0.0), pooled(1.9)
    assert spread[0] < 0.9 * flat[0], (flat, spread)
    assert spread[1] > 1.5 * flat[1], (flat, spread)


# --------------------------------------------------------------------------- what time in custody does afterwards

def test_time_in_custody_multiplies_the_hazard_ratio_from_release_on_and_for_good() -> None:
    """Every other effect off: an offence's hazard ratio is exactly exp(after_custody) once the person has left a
    stay in custody (in this journey or, for a person come back, an earlier one) and exactly 1 before."""
    b = 0.3
    sim = simulate(*OFF[:3], f"reoffending.after_custody={b}", "reoffending.after_exit_rate_per_year=0.5",
                   "reoffending.supervised_rate_per_year=0", *OFTEN, "time.horizon_days=1000", seed=3)
    ev = sim.log.to_frame()
    reg = pd.DataFrame(sim.register).set_index("case")
    custody = {s for s, st in sim.scenario.journey.stages.items() if st.setting == "custody"}
    left_custody = ev[(ev["kind"] == "stage_exit") & ev["stage"].isin(custody)]
    first_release = {}   # person -> when they first left a stay in custody
    for case, t in zip(left_custody["case"], left_custody["time"], strict=True):
        person = int(reg.loc[case, "person"])
        first_release[person] = min(t, first_release.get(person, math.inf))
    off = ev[ev["kind"] == "offence"]
    marked = unmarked = 0
    for case, t, value in zip(off["case"], off["time"], off["value"], strict=True):
        if first_release.get(int(reg.loc[case, "person"]), math.inf) <= t:
            assert value == pytest.approx(math.exp(b), rel=1e-12)
            marked += 1
        else:
            assert value == 1.0
            unmarked += 1
    assert marked > 100 and unmarked > 100, (marked, unmarked)


def test_more_custody_means_more_reoffending_afterwards() -> None:
    """Strict enforcement recalls and sends to custody more people; with time in custody raising later offending
    the gap in proven reoffending between strict enforcement and the baseline is higher than without it (paired
    over seeds): custody's cost after release, against its incapacitation while it lasts."""
    def gap(*extra: str) -> float:
        d = 0.0
        for seed in SEEDS:
            strict = _scaled("strict_enforcement", seed, *extra).summary["proven_reoffending_1y"]["all"]
            base = _scaled("baseline", seed, *extra).summary["proven_reoffending_1y"]["all"]
            d += (strict - base) / len(SEEDS)
        return d

    assert gap() > gap("reoffending.after_custody=0"), (gap(), gap("reoffending.after_custody=0"))
