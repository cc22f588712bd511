"""`casesim check`: the theory it uses, that each check passes on the shipped quick settings, and
that each check fails when the simulation and the theory disagree."""

from __future__ import annotations

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


def test_conservation_notices_a_corrupted_counter() -> None:
    sim = Simulation(check.validation_scenario(horizon=60.0), seed=3)
    for _ in range(4):
        sim.step()
    assert check.conservation_violations(sim) == []
    busy = next(p for p in sim.providers if p.busy > 0)
    busy.busy -= 1
    assert any(busy.name in v for v in check.conservation_violations(sim))
    busy.busy += 1
    sim.cases_created += 1
    assert any("active" in v for v in check.conservation_violations(sim))


# ---------------------------------------------------------------- the command
def test_quick_check_passes_and_writes_json(tmp_path) -> None:
    out = tmp_path / "check.json"
    assert main(["check", "--quick", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["passed"] is True and doc["quick"] is True
    rows = doc["checks"]
    assert {r["check"] for r in rows} == set(check.CHECKS)
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
    assert all(abs(r["difference"]) < 1e-9 for r in little if "time in window" in r["name"])
    for name in ("conservation", "crn"):
        assert [r["simulated"] for r in rows if r["check"] == name] == [0.0]


def test_a_failing_check_exits_1_and_bad_input_exits_2(tmp_path, capsys) -> None:
    out = tmp_path / "fail.json"
    assert main(["check", "--only", "mmc", "--fault", "mmc-places", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["passed"] is False
    assert main(["check", "--seed", "-1"]) == 2
    missing = tmp_path / "no" / "x.json"
    assert main(["check", "--only", "crn", "--json", str(missing)]) == 2
    assert "--json" in capsys.readouterr().err
    assert main(["check", "--scenario", str(tmp_path / "none.yaml")]) == 2
    assert not missing.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["fail.json"]
