"""The model is built from keyword arguments, so Mesa's ``batch_run`` builds it from a scenario file."""

from __future__ import annotations

import mesa
import pandas as pd
import pytest

from casesim.engine.simulation import Simulation
from tests.helpers import SMALL, batch_run_seeds, small

pytestmark = pytest.mark.mesa_facing

SETS = ["time.horizon_days=120", "time.warmup_days=10"]


def test_batch_run_builds_the_model_from_a_scenario_file() -> None:
    """Two seeds give different figures, the same seed twice identical rows, and a row is what a direct
    run gives at the same step."""
    rows = mesa.batch_run(Simulation, max_steps=6, number_processes=1, data_collection_period=-1,
                          display_progress=False,
                          **batch_run_seeds({"scenario": str(SMALL), "overrides": [SETS]}, [1, 2, 1]))
    frame = pd.DataFrame(rows)
    assert list(frame["seed"]) == [1, 2, 1]
    figures = ["active_cases", "mean_pressure"]
    one, two, again = (frame.iloc[i][figures].tolist() for i in range(3))
    assert one == again and one != two
    sim = Simulation(scenario=SMALL, seed=2, overrides=SETS)
    while sim.time < frame.iloc[1]["time"]:   # (Mesa versions differ on whether max_steps counts the last)
        sim.step()
    assert sim.time == frame.iloc[1]["time"] >= 6 * sim.tick
    assert [len(sim.cases()), sim.mean_pressure()] == two


def test_the_model_is_built_from_a_path_a_scenario_or_the_baseline() -> None:
    by_path = Simulation(scenario=str(SMALL), seed=3, overrides=SETS)
    given = Simulation(small(*SETS), 3)
    assert by_path.scenario == given.scenario and by_path.seed == given.seed == 3
    assert Simulation().scenario.name == "baseline"
    with pytest.raises(ValueError, match="overrides"):
        Simulation(small(*SETS), 3, overrides=SETS)


def test_the_scenario_is_fixed_and_a_step_past_the_horizon_is_refused() -> None:
    """The model reads its scenario once, when built: another one is refused, not half taken; a value that
    is no scenario is refused too. A step past the horizon is refused, and changes nothing."""
    sim = Simulation(small(*SETS), 3)
    with pytest.raises(AttributeError, match="fixed"):
        sim.scenario = small("time.tick_days=1")
    with pytest.raises(TypeError, match="casesim Scenario"):
        sim.scenario = "scenarios/baseline.yaml"
    sim.run_to_end()
    rows, now = len(sim.log), sim.time
    with pytest.raises(RuntimeError, match="horizon"):
        sim.step()
    assert (len(sim.log), sim.time, sim.running) == (rows, now, False) and now == sim.horizon
