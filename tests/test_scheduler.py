"""The engine schedules on SimPy's own environment, and the model's clock is SimPy's."""

from __future__ import annotations

import math

import pytest
import simpy

from casesim.engine.simulation import Simulation
from tests.helpers import small

pytestmark = pytest.mark.mesa_facing


def test_the_model_runs_on_simpys_environment_and_keeps_its_clock() -> None:
    """Every step runs SimPy to the end of the tick (the last one stops at the horizon), ``model.time`` is
    SimPy's clock in days, and Mesa counts the steps, on Mesa 3.3 and on Mesa 3.5 (whose own clock would
    advance by one a step)."""
    sim = Simulation(small("time.horizon_days=100", "time.warmup_days=10", "time.tick_days=7"), seed=4)
    assert type(sim.env) is simpy.Environment and sim.time == 0.0
    days = []
    while sim.running:
        sim.step()
        assert sim.time == sim.env.now
        days.append(sim.time)
    assert days == [*(7.0 * k for k in range(1, 15)), 100.0]
    assert sim.steps == len(days) == math.ceil(100 / 7)
    assert sim.env.peek() >= 100.0   # nothing left undone before the horizon
