"""`casesim check`: the theory it uses, that each check passes on the shipped quick settings, and
that each check fails when the simulation and the theory disagree."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from casesim.cli import main
from casesim.engine.simulation import Simulation
from casesim.studies import check


# ---------------------------------------------------------------- queueing formulas
def test_erlang_b_matches_table_values() -> None:
    # Erlang B tables (e.g. Gross & Harris, Fundamentals of Queueing Theory)
    assert check.erlang_b(1, 1.0) == pytest.approx(0.5)
    assert check.erlang_b(5, 3.0) == pytest.approx(0.1101, abs=5e-5)
    assert check.erlang_b(10, 5.0) == pytest.approx(0.01838, abs=5e-5)


def test_erlang_c_matches_closed_forms_and_table_values() -> None:
    for rho in (0.1, 0.5, 0.9):
        assert check.erlang_c(1, rho) == pytest.approx(rho)                      # M/M/1: P(wait) = rho
        assert check.erlang_c(2, 2 * rho) == pytest.approx(2 * rho ** 2 / (1 + rho))   # M/M/2 closed form
    assert check.erlang_c(10, 8.0) == pytest.approx(0.4092, abs=5e-5)           # textbook table value
    direct = (8.0 ** 10 / math.factorial(10) / 0.2) / (
        sum(8.0 ** k / math.factorial(k) for k in range(10)) + 8.0 ** 10 / math.factorial(10) / 0.2)
    assert check.erlang_c(10, 8.0) == pytest.approx(direct, rel=1e-12)
    big = check.erlang_c(2000, 1980.0)   # factorials would overflow; the recursion does not
    assert 0.0 < big < 1.0 and math.isfinite(big)


def test_mmc_wq_reduces_to_mm1_and_rejects_unstable_loads() -> None:
    lam, mu = 0.8, 1.0
    assert check.mmc_wq(lam, mu, 1) == pytest.approx(lam / (mu * (mu - lam)))
    with pytest.raises(ValueError):
        check.erlang_c(2, 2.0)


def test_fcfs_recursion_by_hand() -> None:
    # two servers: arrivals 0, 0, 0, 1 with services 4, 2, 3, 1 -> third waits 2, fourth waits 3
    assert check.fcfs_waits([0, 0, 0, 1], [4, 2, 3, 1], 2) == [0, 0, 2, 3]


def test_control_variate_recovers_the_intercept_exactly() -> None:
    x = np.linspace(-1, 1, 10)
    est, half = check.cv_interval(5.0 + 2.0 * x, [x])
    assert est == pytest.approx(5.0) and half == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- the checks can fail
def test_mmc_fails_when_the_provider_has_one_place_fewer_than_the_theory() -> None:
    rows = check.check_mmc(3, 0.5, check.QUICK, seed=5, places=2, per_rep=2000)
    stat, path = rows
    assert not stat.passed
    assert stat.simulated > 2 * stat.theory          # 2 places at load 1.5 wait far longer than 3 places
    assert path.passed and path.simulated == 0.0     # it is still an exact FCFS queue, with 2 places


def test_little_rows_fail_on_a_wrong_occupancy() -> None:
    start = np.arange(0.0, 1000.0, 0.5)                 # one entry every half day, stays of 10 days
    end = start + 10.0
    true_l = check._little_rows("x", start, end, 20.0, 100.0, 900.0, 1000.0, "cases")
    assert all(r.passed for r in true_l)
    wrong = check._little_rows("x", start, end, 20.0 * 1.05, 100.0, 900.0, 1000.0, "cases")
    assert not any(r.passed for r in wrong)


def test_live_consistency_notices_a_corrupted_counter() -> None:
    sim = Simulation(check.validation_scenario(horizon=60.0), seed=3)
    for _ in range(4):
        sim.step()
    assert check.conservation_violations(sim) == []
    busy = next(p for p in sim.providers if p.busy > 0)
    busy.busy -= 1
    assert any(busy.name in v for v in check.conservation_violations(sim))
    busy.busy += 1
    m = next(m for m in sim.all_staff() if m.count > 0)
    m.count += 1
    assert any(f"staff {m.unique_id}" in v for v in check.conservation_violations(sim))


def test_replay_follows_the_event_contract_and_reports_breaches_of_it() -> None:
    from casesim.log.events import EventLog

    log = EventLog()
    log.arrival(0.0, 0, cause="arrival")
    log.stage_enter(0.0, 0, stage="A", cause="arrival", stay=0.0)
    log.load_change(0.0, 0, stage="A", staff=5, change="assign", weight=2.0)
    log.arrival(1.0, 1, cause="arrival")
    log.stage_enter(1.0, 1, stage="A", cause="arrival", stay=0.0)
    log.stage_exit(2.0, 0, stage="A", outcome="completed", days=2.0)
    log.stage_enter(2.0, 0, stage="B", cause="completed", stay=1.0)
    log.load_change(3.0, 0, stage="B", staff=5, change="unassign", weight=-2.0)
    log.stage_exit(3.0, 0, stage="B", outcome="completed", days=1.0)
    log.exit(3.0, 0, outcome="completed")
    rep = check.replay_log(log, [3, 5, 10])
    assert rep.stages == ["A", "B"]
    assert rep.population.tolist() == [[1, 0], [2, 0], [1, 0]]
    assert rep.active.tolist() == [1, 2, 1] and rep.arrivals.tolist() == [1, 2, 2]
    assert rep.count[0] == {5: 1} and rep.count[2] == {} and rep.load[2] == {5: 0.0}
    assert rep.n_problems == 0
    log.stage_enter(4.0, 1, stage="B", cause="completed", stay=1.0)     # never left A
    log.stage_exit(4.0, 1, stage="A", outcome="completed", days=3.0)    # leaves A too late: it is in B
    log.exit(5.0, 1, outcome="completed")                               # exits while in B
    log.load_change(5.0, 1, stage="B", staff=5, change="unassign", weight=0.0)   # was never carried
    rep = check.replay_log(log, [len(log)])
    assert rep.n_problems == 4 and "while still in A" in rep.problems[0] and "but is in B" in rep.problems[1]
    assert rep.population.tolist() == [[1, 1]]      # nothing is mended: the broken rows leave their trace


@pytest.mark.parametrize("fault, failing", [("drop-exit", {"live agents", "contract"}),
                                            ("drop-unassign", {"caseloads", "contract"})])
def test_conservation_fails_when_the_engine_loses_log_rows(fault, failing) -> None:
    short = dataclasses.replace(check.QUICK, conservation_days=42.0)
    good = check.check_conservation(short, seed=4)
    assert all(r.passed for r in good), [r.detail for r in good if not r.passed]
    bad = check.check_conservation(short, seed=4, fault=fault)
    failed = {key for r in bad if not r.passed for key in ("live agents", "caseloads", "contract", "time series")
              if key in r.name}
    assert failed == failing


def test_conservation_fails_when_the_time_series_is_wrong(monkeypatch) -> None:
    from casesim.metrics import summary

    real = summary.timeseries

    def off_by_one(*args, **kwargs):
        out = real(*args, **kwargs)
        out.loc[2, "stage:CUSTODY"] += 1
        return out

    monkeypatch.setattr(summary, "timeseries", off_by_one)
    rows = check.check_conservation(dataclasses.replace(check.QUICK, conservation_days=42.0), seed=4)
    assert [r.passed for r in rows if "time series" in r.name] == [False]
    assert all(r.passed for r in rows if "time series" not in r.name)


# ---------------------------------------------------------------- M/G/inf
def test_mginf_closed_forms() -> None:
    rng = np.random.default_rng(1)
    s2 = math.log1p(0.5 ** 2)
    x = np.exp(math.log(60) - s2 / 2 + math.sqrt(s2) * rng.standard_normal(400_000))
    for t in (30.0, 60.0, 120.0):
        assert check.lognormal_excess(60.0, 0.5, t) == pytest.approx(np.clip(x - t, 0, None).mean(), rel=0.02)
    assert check.exponential_excess(2.0, 3.0) == pytest.approx(2.0 * math.exp(-1.5))
    bias = check.mginf_warmup_bias()
    assert bias["LONG"] < check.MGINF_TOLERANCE / 10 and bias["SHORT"] < 1e-9
    # the window-mean correction: a long window leaves the index ~1; integrating C(u) numerically agrees
    m, t = 1.0, 50.0
    u = np.linspace(0, t, 200_001)
    num = 1 - 2 / t * np.trapezoid((1 - u / t) * np.exp(-u / m), u)
    assert check.mm_inf_dispersion_expectation(m, t) == pytest.approx(num, rel=1e-8)


def test_mginf_sampler_population_matches_theory_for_one_run() -> None:
    r = check.mginf_replication(400.0, seed=11)
    assert r["SHORT_mean"] == pytest.approx(check.MGINF_RATE * check.MGINF_SHORT_DAYS, rel=0.1)
    assert r["LONG_mean"] == pytest.approx(check.MGINF_RATE * check.MGINF_ROUTE_SHARE * check.MGINF_LONG_DAYS,
                                           rel=0.1)


def test_mginf_fails_when_stays_are_longer_than_the_theory_says() -> None:
    small = dataclasses.replace(check.QUICK, mginf_replications=4, mginf_window_days=600.0)
    short, long, index = check.check_mginf(small, seed=9, fault="stay-scale")
    for r in (short, long):
        assert not r.passed and r.difference == pytest.approx(check.MGINF_STAY_SCALE - 1, abs=0.03)
    assert abs(index.difference) < check.MGINF_DISPERSION_TOLERANCE   # still Poisson: only the means move


def test_mginf_dispersion_fails_when_arrivals_come_in_bursts() -> None:
    small = dataclasses.replace(check.QUICK, mginf_replications=4, mginf_window_days=600.0)
    short, long, index = check.check_mginf(small, seed=9, fault="arrival-bursts")
    assert not index.passed and index.simulated > 3    # on/off arrivals: the population is over-dispersed
    assert abs(short.difference) < 0.05 and abs(long.difference) < 0.05   # at the same mean rate


# ---------------------------------------------------------------- the command
def test_quick_check_passes_and_writes_json(tmp_path) -> None:
    out = tmp_path / "check.json"
    assert main(["check", "--quick", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["passed"] is True and doc["quick"] is True
    rows = doc["checks"]
    assert {r["check"] for r in rows} == set(check.DEFAULT_CHECKS)   # facts run only when asked
    mmc = [r for r in rows if r["check"] == "mmc" and r["relative"]]
    assert len(mmc) == len(check.MMC_LOADS)
    for r in mmc:
        assert abs(r["difference"]) <= check.MMC_TOLERANCE
        assert (r["ci_high"] - r["ci_low"]) / 2 < check.MMC_TOLERANCE * r["theory"]   # enough power
        assert r["extra"]["erlang_c"] == pytest.approx(check.erlang_c(r["extra"]["c"],
                                                                      r["extra"]["rho"] * r["extra"]["c"]))
    assert max(r["extra"]["rho"] for r in mmc) >= 0.9
    little = [r for r in rows if r["check"] == "little"]
    assert len(little) >= 2 * 6                      # two rows per stage, and per staff group
    assert all(abs(r["difference"]) < 1e-9 for r in little if "identity" in r["name"])
    assert all(r["name"].startswith("Little consistency") for r in little)
    assert [r["simulated"] for r in rows if r["check"] == "crn"] == [0.0]
    conservation = [r for r in rows if r["check"] == "conservation"]
    assert len(conservation) == 5 and all(r["simulated"] == 0.0 for r in conservation)
    mginf = [r for r in rows if r["check"] == "mginf"]
    assert len(mginf) == 3
    for r in mginf:
        assert r["ci_low"] <= r["theory"] * (1 + r["tolerance"]) and r["ci_high"] >= r["theory"] * (1 - r["tolerance"])


def test_a_failing_check_exits_1_and_bad_input_exits_2(tmp_path, capsys) -> None:
    out = tmp_path / "fail.json"
    assert main(["check", "--only", "mmc", "--fault", "mmc-places", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["passed"] is False
    assert main(["check", "--quick", "--only", "conservation", "--fault", "drop-exit", "--json", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert doc["passed"] is False and doc["fault"] == "drop-exit"
    assert main(["check", "--seed", "-1"]) == 2
    missing = tmp_path / "no" / "x.json"
    assert main(["check", "--only", "crn", "--json", str(missing)]) == 2
    assert "--json" in capsys.readouterr().err
    assert main(["check", "--scenario", str(tmp_path / "none.yaml")]) == 2
    assert not missing.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["fail.json"]
