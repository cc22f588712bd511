"""The garbage collector is kept off the engine's objects while it runs, without changing a result,
without leaving the process's collector altered, and without keeping a finished run alive."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Iterator

import pandas as pd
import pytest

from casesim.engine import simulation
from casesim.engine.simulation import Simulation
from tests.helpers import small


def _log(scenario: object) -> pd.DataFrame:
    sim = Simulation(scenario, 11)
    sim.run_to_end()
    return sim.log.to_frame()


def test_pausing_the_collector_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = small("time.horizon_days=400")
    paused = _log(scenario)

    @contextlib.contextmanager
    def as_python_does() -> Iterator[None]:
        gc.collect()   # and collect at every tick, to move allocations about as much as possible
        yield

    monkeypatch.setattr(simulation, "collector_paused", as_python_does)
    pd.testing.assert_frame_equal(_log(scenario), paused)


def test_the_collector_is_restored_after_every_tick() -> None:
    sim = Simulation(small("time.horizon_days=60", "time.warmup_days=10"), 3)
    assert gc.isenabled()
    sim.step()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0   # what the tick left alive is out of the collector's way
    gc.disable()                       # a caller that turned it off keeps it off
    try:
        sim.step()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_finished_run_hands_its_objects_back_and_is_collected_once_dropped() -> None:
    sim = Simulation(small("time.horizon_days=120", "time.warmup_days=10"), 5)
    sim.run_to_end()
    assert gc.get_freeze_count() == 0
    ref = weakref.ref(sim)
    first_case = weakref.ref(next(iter(sim.cases())))
    del sim
    gc.collect()
    assert ref() is None and first_case() is None


def test_a_run_dropped_before_its_horizon_is_collected_after_the_next_is_built() -> None:
    sim = Simulation(small("time.horizon_days=400"), 5)
    for _ in range(20):
        sim.step()
    assert sim.running and gc.get_freeze_count() > 0
    ref = weakref.ref(sim)
    del sim
    gc.collect()
    assert ref() is not None           # frozen: the collector does not look at it yet
    other = Simulation(small("time.horizon_days=30", "time.warmup_days=10"), 6)
    gc.collect()
    assert ref() is None
    other.run_to_end()
