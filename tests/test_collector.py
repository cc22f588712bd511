"""The garbage collector: a Simulation built from Python leaves the process's collector as it found it, and
the policy of the programs that own their process (``collector_off``) changes no result."""

from __future__ import annotations

import gc

import pandas as pd

from casesim.engine.simulation import Simulation
from casesim.outputs.collector import collector_off
from tests.helpers import small


def _log(scenario: object) -> pd.DataFrame:
    sim = Simulation(scenario, 11)
    sim.run_to_end()
    return sim.log.to_frame()


def test_the_collector_policy_changes_no_result() -> None:
    scenario = small("time.horizon_days=400")
    with collector_off():
        assert not gc.isenabled()
        off = _log(scenario)
    assert gc.isenabled()
    threshold = gc.get_threshold()
    gc.set_threshold(1)   # collecting at every allocation: as much collection as can be
    try:
        on = _log(scenario)
    finally:
        gc.set_threshold(*threshold)
    pd.testing.assert_frame_equal(on, off)


def test_a_simulation_leaves_the_callers_collector_alone() -> None:
    frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    sim = Simulation(small("time.horizon_days=60", "time.warmup_days=10"), 3)
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            sim.step()
            assert gc.isenabled() == enabled
            assert (gc.get_freeze_count(), gc.get_threshold()) == (frozen, threshold)
        finally:
            gc.enable()


def test_collector_off_keeps_a_callers_choice() -> None:
    gc.disable()
    try:
        with collector_off():
            pass
        assert not gc.isenabled()   # a caller that had turned it off keeps it off
    finally:
        gc.enable()


def test_with_the_collector_off_the_finished_simulation_is_freed_before_the_metrics(monkeypatch) -> None:
    """A finished model is a reference cycle (agents and model point at each other): with automatic
    collection off (as ``casesim run`` runs), ``run`` frees it explicitly before computing the figures, so
    the figures' peak does not hold the whole simulation too."""
    from casesim.outputs import results

    alive: list[int] = []
    real = results.timeseries
    # models other tests keep (cached runs) are not this run's: only those made since count
    before = {id(o) for o in gc.get_objects() if isinstance(o, Simulation)}

    def spy(*args, **kwargs):   # noqa: ANN002, ANN003, ANN202 - the metrics' first function, spied on
        alive.append(sum(isinstance(o, Simulation) and id(o) not in before for o in gc.get_objects()))
        return real(*args, **kwargs)

    monkeypatch.setattr(results, "timeseries", spy)
    with collector_off():
        results.run(small("time.horizon_days=60", "time.warmup_days=10"), seed=2)
    assert alive == [0]
