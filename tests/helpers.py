"""Shared helpers for the tests: small scenarios and cached runs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from casesim.outputs.results import Result, run
from casesim.scenario.schema import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "data" / "small.yaml"
SCENARIOS = ROOT / "scenarios"


def small(*overrides: str) -> Scenario:
    """The small test scenario with ``--set`` style overrides."""
    return load_scenario(SMALL, overrides)[0]


def newcomers(register: pd.DataFrame) -> pd.DataFrame:
    """The people who arrived from outside (or were there at the start), without their case numbers, which
    returns move: what common random numbers keep the same in every scenario that shares a seed (how many
    people come back after a further offence, and when, is what a scenario changes)."""
    reg = register[register["previous"] < 0]
    return reg.drop(columns=["case", "person", "previous"]).reset_index(drop=True)


@cache
def run_small(*overrides: str, seed: int | None = None) -> Result:
    """Run the small scenario once per distinct set of overrides and seed (cached)."""
    return run(small(*overrides), seed=seed)


def scaled(path: Path, *extra: str) -> Scenario:
    """A scenario file shrunk to test size: a third of the people and staff, two years."""
    full = load_scenario(path)[0]
    sets = [f"arrivals.rate_per_day={full.arrivals.rate_per_day / 3:g}",
            "time.horizon_days=730", "time.warmup_days=180"]
    for stage, n in full.initial_population.by_stage.items():
        sets.append(f"initial_population.by_stage.{stage}={n // 3}")
    for i, g in enumerate(full.staff):
        sets.append(f"staff.{i}.count={max(1, round(g.count / 3))}")
    for i, p in enumerate(full.providers):
        sets.append(f"providers.{i}.places={max(1, round(p.places / 3))}")
    if full.changes:   # a shorter run: its changes (docs/scenarios.md#changes-from-a-date) come as far into it
        horizon = load_scenario(path, [*sets, *extra, "changes=[]"])[0].time.horizon_days
        sets += [f"changes.{i}.at_day={c.at_day * horizon / full.time.horizon_days:g}"
                 for i, c in enumerate(full.changes)]
    return load_scenario(path, [*sets, *extra])[0]


def batch_run_seeds(parameters: dict, seeds: list[int]) -> dict:
    """``mesa.batch_run`` keyword arguments that run ``parameters`` once with each of ``seeds``, on either Mesa:
    3.5 gives its ``rng`` values to the model as ``seed`` (replacing a ``seed`` parameter); 3.3 takes the seed
    as a parameter like any other."""
    from casesim.engine.mesa_compat import MESA_VERSION

    if MESA_VERSION >= (3, 4):
        return {"parameters": parameters, "rng": list(seeds)}
    return {"parameters": {**parameters, "seed": list(seeds)}, "iterations": 1}
