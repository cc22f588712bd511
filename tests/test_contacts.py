"""Required contacts, each decided at its own time (one row a contact), and the retired contact settings.

Until December 2026 a scenario could decide the contacts due in a window at once
(``process.contact_settlement: aggregate``, ``process.contact_window_days``). That mode was retired so that a
case's state can change between any two contacts; a scenario that still sets either field is refused at
validation, with its file, line and field, as retired.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casesim.cli import main
from casesim.engine.simulation import Simulation
from casesim.metrics.tables import LogArrays, shared_log_arrays
from casesim.outputs.results import Result, run
from casesim.scenario.schema import load_scenario
from casesim.scenario.yamlio import ScenarioError
from tests.helpers import SCENARIOS, SMALL, small

CONTACT_KINDS = ("contact_kept", "contact_missed", "contact_cancelled")
RETIRED = "retired: every contact is now decided at its own time"


@cache
def _run() -> Result:
    return run(small(), seed=3)


# --------------------------------------------------------------------------- one contact at a time


def test_every_contact_lies_inside_its_stay_and_before_the_horizon() -> None:
    res = _run()
    ev = res.events
    c = ev[ev["kind"].isin(CONTACT_KINDS)][["case", "time"]]
    assert len(c) > 1000
    assert (c["time"] < res.context.horizon).all()
    assert not c.duplicated(["case", "time"]).any()   # one contact at a time for a case
    # each contact falls within a stay of its case: between a stage_enter and the next stage_exit
    enter = ev[ev["kind"] == "stage_enter"][["case", "time"]].rename(columns={"time": "start"})
    leave = ev[ev["kind"] == "stage_exit"][["case", "time"]].rename(columns={"time": "stop"})
    start = pd.merge_asof(c.sort_values("time"), enter.sort_values("start"), left_on="time", right_on="start",
                          by="case", direction="backward")
    stop = pd.merge_asof(start.sort_values("time"), leave.sort_values("stop"), left_on="time", right_on="stop",
                         by="case", direction="forward")
    assert stop["start"].notna().all()
    assert ((stop["stop"].isna()) | (stop["time"] <= stop["stop"])).all()
    assert (stop["start"] <= stop["time"]).all()


def test_no_row_stands_for_several_contacts() -> None:
    """Every required contact a case has come to is one row: for each live case, its rows of the three
    contact kinds, and the contact still waiting for someone to see it at the end if any, number exactly
    the contacts it has counted."""
    sim = Simulation(small("time.horizon_days=300"), seed=3)
    sim.run_to_end()
    ev = sim.log.to_frame()
    rows = ev[ev["kind"].astype(str).isin(CONTACT_KINDS)].groupby("case").size()
    live = {c.no: c.contacts for c in sim.cases()}
    assert sum(live.values()) > 1000
    assert {no: int(rows.get(no, 0)) + sim.contact_waits(no) for no in live} == live


def test_the_log_is_indexed_once_inside_a_shared_block_and_anew_outside() -> None:
    ev = _run().events
    other = ev.copy()
    assert LogArrays.of(ev) is not LogArrays.of(ev)           # no block: built each time
    with shared_log_arrays(ev):
        first = LogArrays.of(ev)
        assert LogArrays.of(ev) is first                      # the same frame: one index
        assert LogArrays.of(other) is not first               # an equal copy is another frame
        with shared_log_arrays(other):
            assert LogArrays.of(other) is LogArrays.of(other) and LogArrays.of(ev) is first
    assert LogArrays.of(ev) is not first                      # the block is over: nothing kept
    np.testing.assert_array_equal(LogArrays.of(ev).rows("contact_kept"), first.rows("contact_kept"))


def test_a_case_history_is_its_rows_so_far_in_time_order() -> None:
    sim = Simulation(small(), seed=6)
    while sim.time < 300:
        sim.step()
    case = max(sim.cases(), key=lambda c: c.contacts)
    h = case.history()
    assert len(h) > 5 and (h["case"] == case.no).all()
    assert h["time"].is_monotonic_increasing and h["time"].max() <= sim.time
    logged = sim.log.columns()
    assert (logged["time"] <= sim.time).all()                 # nothing is logged ahead of the clock
    assert len(h) == int((logged["case"] == case.no).sum())


# --------------------------------------------------------------------------- the retired settings


@pytest.mark.parametrize(("field", "value", "why"), [
    ("contact_settlement", "aggregate", RETIRED),
])
def test_a_retired_contact_setting_is_named_with_its_file_and_line(tmp_path: Path, field: str, value: str,
                                                                   why: str) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(f"extends: {SMALL}\nname: old\nprocess:\n  review_interval_days: 90\n  {field}: {value}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    [problem] = err.value.problems
    assert (problem.file, problem.line, problem.path) == (str(path), 5, f"process.{field}")
    assert problem.message.startswith(why) and "unknown field" not in problem.message
    assert "delete this setting" in problem.message


def test_an_older_resolved_scenario_that_settles_each_contact_still_runs_the_same(tmp_path: Path) -> None:
    """A ``scenario.resolved.yaml`` written before the retirement spells out ``contact_settlement: each`` and
    the window beside it: it loads to the very scenario without them."""
    path = tmp_path / "resolved.yaml"
    path.write_text(f"extends: {SMALL}\nprocess:\n  contact_settlement: each\n  contact_window_days: 56.0\n")
    assert load_scenario(path)[0] == load_scenario(SMALL)[0]
    window_only = tmp_path / "window.yaml"   # the window alone did nothing under the old default either
    window_only.write_text(f"extends: {SMALL}\nprocess:\n  contact_window_days: 28\n")
    assert load_scenario(window_only)[0] == load_scenario(SMALL)[0]
    with pytest.raises(ScenarioError) as err:   # beside aggregate, both are named as retired
        load_scenario(path, ["process.contact_settlement=aggregate"])
    assert err.value.problems and all("retired" in p.message for p in err.value.problems)
    assert {p.path for p in err.value.problems} <= {"process.contact_settlement", "process.contact_window_days"}


def test_a_retired_contact_setting_given_on_the_command_line_is_named_too() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(SMALL, ["process.contact_settlement=aggregate"])
    [problem] = err.value.problems
    assert problem.file.startswith("--set process.contact_settlement=aggregate")
    assert problem.path == "process.contact_settlement" and problem.message.startswith(RETIRED)


def test_other_unknown_fields_are_still_unknown(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(f"extends: {SMALL}\nname: typo\nprocess: {{contact_settlment: each}}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    [problem] = err.value.problems
    assert problem.message.startswith("unknown field 'contact_settlment'") and "retired" not in problem.message


@pytest.mark.parametrize("command", ["validate", "run"])
def test_the_command_line_refuses_a_retired_setting_with_exit_2(tmp_path: Path, command: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(f"extends: {SMALL}\nname: old\nprocess: {{contact_settlement: aggregate}}\n")
    extra = ["--out", str(tmp_path / "out"), "--quiet"] if command == "run" else []
    code = main([command, str(path), *extra])
    got = capsys.readouterr()
    assert code == 2 and got.out == ""
    assert f"{path}:3: process.contact_settlement: {RETIRED}" in got.err
    assert "Traceback" not in got.err and not (tmp_path / "out").exists()


def test_the_national_preset_no_longer_sets_them() -> None:
    scenario, _ = load_scenario(SCENARIOS / "england_wales_national.yaml")
    england_wales, _ = load_scenario(SCENARIOS / "england_wales.yaml")
    assert scenario.process == england_wales.process
    settings = [line.split("#")[0] for line in (SCENARIOS / "england_wales_national.yaml").read_text().splitlines()]
    assert not any("contact_settlement" in s or "contact_window_days" in s for s in settings)
