"""Random numbers: per-case luck is uniform and independent; distributions have their moments;
named streams do not shift each other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from casesim.engine.rng import CONTACT, DURATION, Luck, Streams, sample
from casesim.scenario.journey import Journey, JourneyRuntime


def _uniforms(n: int, purpose: int = CONTACT) -> np.ndarray:
    luck = Luck(Streams(123))
    keys = [luck.case_key(c) for c in range(n // 100)]
    return np.array([Luck.u(k, purpose, j) for k in keys for j in range(100)])


def test_luck_is_uniform_on_the_open_unit_interval() -> None:
    u = _uniforms(200_000)
    assert u.min() > 0.0 and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.003)
    assert u.var() == pytest.approx(1 / 12, abs=0.001)
    counts = np.histogram(u, bins=50, range=(0, 1))[0]
    expected = len(u) / 50
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 90   # 49 degrees of freedom: the 99.9th percentile is about 85.4


def test_luck_draws_are_uncorrelated_across_counters_purposes_and_cases() -> None:
    u = _uniforms(100_000).reshape(-1, 100)
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 0.01       # k vs k+1
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.01             # case vs case+1
    v = _uniforms(100_000, DURATION).reshape(-1, 100)
    assert abs(np.corrcoef(u.ravel(), v.ravel())[0, 1]) < 0.01                       # purpose vs purpose


def test_luck_depends_only_on_seed_case_purpose_and_counter() -> None:
    a, b = Luck(Streams(5)), Luck(Streams(5))
    assert Luck.u(a.case_key(42), CONTACT, 3) == Luck.u(b.case_key(42), CONTACT, 3)
    assert Luck.u(a.case_key(42), CONTACT, 3) != Luck.u(Luck(Streams(6)).case_key(42), CONTACT, 3)


def test_named_streams_are_independent_of_creation_order() -> None:
    s1, s2 = Streams(9), Streams(9)
    s1["staff"].random(1000)
    assert s1["arrivals"].random() == s2["arrivals"].random()
    assert Streams(9)["arrivals"].random() != Streams(9)["attributes"].random()


@pytest.mark.parametrize(("dist", "cv"), [("exponential", 1.0), ("lognormal", 0.5), ("lognormal", 1.2),
                                          ("uniform", 0.3), ("fixed", 0.0)])
def test_sampled_durations_have_the_requested_mean_and_cv(dist: str, cv: float) -> None:
    x = np.array([sample(dist, 100.0, cv, u) for u in _uniforms(100_000)])
    assert x.mean() == pytest.approx(100.0, rel=0.02)
    assert x.std() / x.mean() == pytest.approx(cv, abs=0.04)
    assert (x >= 0).all()


def test_next_stage_frequencies_match_the_journey_probabilities() -> None:
    j = JourneyRuntime(Journey.default())
    u = _uniforms(60_000)
    picks = [j.next_stage("PRE_SENTENCE", "MEDIUM", x) for x in u]
    p = j.stages["PRE_SENTENCE"].next
    for target, probs in p.items():
        share = picks.count(target) / len(picks)
        se = math.sqrt(probs.MEDIUM * (1 - probs.MEDIUM) / len(picks))
        assert abs(share - probs.MEDIUM) < 4 * se + 1e-12


def test_the_inlined_luck_is_the_splitmix_finaliser_of_the_documented_input() -> None:
    """``Luck.u`` inlines ``_mix`` for speed; the two must never drift apart (every result depends on it)."""
    from casesim.engine.rng import _COUNTER_MUL, _M64, _PURPOSE_MUL, _TO_UNIT, _mix

    luck = Luck(Streams(7))
    for c in (0, 1, 17, 2**20, 10**6):
        key = luck.case_key(c)
        for purpose in range(1, 16):
            for k in (0, 1, 5, 63, 4097):
                x = _mix((key + purpose * _PURPOSE_MUL + (k + 1) * _COUNTER_MUL) & _M64)
                assert Luck.u(key, purpose, k) == ((x >> 11) + 0.5) * _TO_UNIT
