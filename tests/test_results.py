"""Outputs: the Python API, the files a run writes, and atomic writing."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import casesim
from casesim.metrics.summary import summarize
from casesim.outputs import results
from casesim.outputs.results import OUTPUT_FILES, OutputDirectory, Result, run
from casesim.scenario.schema import load_scenario
from tests.helpers import SMALL, run_small

TINY = ("time.horizon_days=90", "time.warmup_days=0")


def test_python_api_runs_a_path_and_returns_dataframes() -> None:
    res = casesim.run(SMALL, seed=3, overrides=TINY)
    for frame in (res.timeseries, res.cases, res.events):
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert res.summary["seed"] == 3
    assert set(res.events.columns) == {"time", "case", "kind", "stage", "manager", "cause", "value"}
    assert len(res.cases) == res.summary["cases_entered"]   # warm-up 0: every case entered in the window


def test_summary_has_the_documented_keys() -> None:
    keys = {"cases_entered", "cases_exited", "cases_active_end", "case_years", "continuity_breaks_per_case_year",
            "continuity_breaks_by_cause", "mean_caseload", "mean_caseload_pressure",
            "share_manager_time_over_capacity", "compliance_rate_of_offered", "warnings_per_case_year",
            "breaches_per_case_year", "returns_to_court_per_case_year", "recalls_per_case_year", "referrals",
            "mean_wait_days", "share_needs_met", "completion_rate", "cost_total"}
    assert keys <= set(run_small().summary)


def test_write_puts_every_output_in_place_and_round_trips(tmp_path: Path) -> None:
    res = run_small()
    out = res.write(tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(res.summary))
    events = pd.read_parquet(out / "events.parquet")
    assert len(events) == len(res.events)
    assert events["time"].equals(res.events["time"])
    again, _ = load_scenario(out / "scenario.resolved.yaml")
    assert again == res.scenario and again.digest() == res.scenario.digest()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario_sha256"] == res.scenario.digest() and manifest["seed"] == res.seed
    assert list(tmp_path.iterdir()) == [out]   # no temporary directories left behind


def test_a_run_indexes_its_log_once_and_extracts_the_cost_inputs_once(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # run(keep_index=True) hands its log index to write(), which then lets it go; the summary's costs and
    # the cost tables share one extraction of the cost inputs, forgotten once the tables are made; the
    # files are those of a run that shares nothing
    from casesim.metrics import costs
    from casesim.metrics import tables as metrics_tables

    built, extracted = [], []
    index_init, extract = metrics_tables.LogArrays.__init__, costs._extract_cost_inputs
    monkeypatch.setattr(metrics_tables.LogArrays, "__init__",
                        lambda self, ev: (built.append(1), index_init(self, ev))[1])
    monkeypatch.setattr(costs, "_extract_cost_inputs", lambda lg, ctx: (extracted.append(1), extract(lg, ctx))[1])
    res = run(SMALL, overrides=TINY, keep_index=True)
    assert res.log_index is not None and res.log_index.derived == {}
    assert len(built) == 1 and len(extracted) == 1
    shared = res.write(tmp_path / "shared")
    assert res.log_index is None and len(built) == 1
    monkeypatch.undo()
    plain = run(SMALL, overrides=TINY)
    assert plain.log_index is None
    alone = plain.write(tmp_path / "alone")
    for name in ("summary.json", "costs.csv", "fte.csv", "report.html"):
        assert (shared / name).read_bytes() == (alone / name).read_bytes(), name
    assert summarize(plain.events, plain.register, plain.context) == {   # run() adds what the scenario says
        k: v for k, v in plain.summary.items() if k not in ("scenario", "seed", "run_warnings")}
    assert plain.summary["run_warnings"] == []
    # an index kept for one frame is not used for another: a result whose log was replaced writes the
    # report of its own log
    again = run(SMALL, overrides=TINY, keep_index=True)
    half = dataclasses.replace(again, events=again.events.iloc[: len(again.events) // 2].reset_index(drop=True))
    fresh = dataclasses.replace(half, log_index=None)
    assert (half.write(tmp_path / "half") / "report.html").read_bytes() == (
        fresh.write(tmp_path / "fresh") / "report.html").read_bytes()


def test_the_event_table_written_a_row_group_at_a_time_reads_back_as_written_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_small().events
    events.to_parquet(tmp_path / "whole.parquet", index=False)
    monkeypatch.setattr(results, "PARQUET_PIECE_ROWS", 997)
    results.write_parquet_in_pieces(events, tmp_path / "pieces.parquet")
    back = pd.read_parquet(tmp_path / "pieces.parquet")
    pd.testing.assert_frame_equal(back, events)   # dtypes too: int32 ids, the same categories
    pd.testing.assert_frame_equal(back, pd.read_parquet(tmp_path / "whole.parquet"))
    assert pq.ParquetFile(tmp_path / "pieces.parquet").metadata.num_row_groups == -(-len(events) // 997)
    results.write_parquet_in_pieces(events.iloc[:0], tmp_path / "empty.parquet")   # as pandas writes it
    events.iloc[:0].to_parquet(tmp_path / "empty_whole.parquet", index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "empty.parquet"),
                                  pd.read_parquet(tmp_path / "empty_whole.parquet"))


def test_a_failed_write_leaves_the_previous_result_untouched(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    res = run_small()
    out = res.write(tmp_path / "run")
    before = (out / "summary.json").read_text()

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    broken = Result(**{**res.__dict__, "summary": {**res.summary, "scenario": "changed"}})
    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        broken.write(out)
    assert (out / "summary.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_run_writing_its_event_table_while_the_metrics_run_writes_the_same_files(tmp_path: Path) -> None:
    # casesim run opens the output first and starts the event table there as soon as the log is complete;
    # the files are those of a run written afterwards, byte for byte (the manifest has the time it was made)
    with OutputDirectory(tmp_path / "early") as output:
        early = run(SMALL, overrides=TINY, keep_index=True, output=output)
        assert output.started("events.parquet") and output.source("events.parquet") is early.events
        assert not (tmp_path / "early").exists()   # in place only when closed
        early.write_into(output)
    late = run(SMALL, overrides=TINY).write(tmp_path / "late")
    assert sorted(p.name for p in output.out.iterdir()) == sorted(OUTPUT_FILES)
    for name in OUTPUT_FILES:
        if name != "manifest.json":
            assert (output.out / name).read_bytes() == (late / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["early", "late"]


def test_a_run_that_fails_after_its_event_table_started_leaves_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_small().write(tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("metrics failed")

    monkeypatch.setattr(results, "summarize", boom)
    with pytest.raises(RuntimeError, match="metrics failed"), OutputDirectory(out) as output:
        run(SMALL, overrides=TINY, output=output)
    assert output.started("events.parquet")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]   # the temporary directory is gone
    with pytest.raises(RuntimeError, match="already opened"):   # given up: not opened again
        output.open()
    with pytest.raises(RuntimeError, match="not open"):
        output.close()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_giving_a_directory_up_stops_its_writer_and_waits_for_it(tmp_path: Path) -> None:
    # a writer that runs until it is told to stop: giving up tells it, waits for it, then removes everything
    running, ended = threading.Event(), threading.Event()

    def long(path: Path, stop: threading.Event) -> None:
        path.write_text("rows")
        running.set()
        try:
            if not stop.wait(10):
                raise AssertionError("never told to stop")
            raise results.WritingStopped("stopped")
        finally:
            ended.set()

    output = OutputDirectory(tmp_path / "out").open()
    assert list(tmp_path.iterdir()) == []   # made at the first use only
    output.behind("events.parquet", long)
    assert running.wait(10)
    started = time.perf_counter()
    output.discard()
    assert ended.is_set() and time.perf_counter() - started < 5
    assert list(tmp_path.iterdir()) == []
    output.discard()   # again: nothing


def test_a_result_is_not_written_beside_another_logs_event_table(tmp_path: Path) -> None:
    with OutputDirectory(tmp_path / "out") as output:
        res = run(SMALL, overrides=TINY, output=output)
        other = dataclasses.replace(res, events=res.events.iloc[:10])
        with pytest.raises(ValueError, match="another log"):
            other.write_into(output)
        res.write_into(output)
    pd.testing.assert_frame_equal(pd.read_parquet(output.out / "events.parquet"), res.events)


def test_an_error_written_behind_is_raised_at_close_and_nothing_is_left(tmp_path: Path) -> None:
    def full(path: Path, stop: threading.Event) -> None:
        path.write_text("half")
        raise OSError("disk full")

    output = OutputDirectory(tmp_path / "out").open()
    output.behind("big.bin", full)
    with pytest.raises(ValueError, match="already"):
        output.behind("big.bin", full)
    (output.tmp / "small.txt").write_text("x")
    with pytest.raises(OSError, match="disk full"):
        output.close()
    assert list(tmp_path.iterdir()) == []


class _StopAfter:
    """A stop flag that is set once it has been looked at ``n`` times."""

    def __init__(self, n: int) -> None:
        self.n, self.looks = n, 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks > self.n


def test_the_event_table_stops_between_row_groups_when_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_small().events
    monkeypatch.setattr(results, "PARQUET_PIECE_ROWS", 100)
    with pytest.raises(results.WritingStopped):
        results.write_parquet_in_pieces(events, tmp_path / "three.parquet", stop=_StopAfter(3))
    assert pq.ParquetFile(tmp_path / "three.parquet").metadata.num_row_groups == 3
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "three.parquet"),
                                  events.iloc[:300].reset_index(drop=True))
    results.write_parquet_in_pieces(events, tmp_path / "all.parquet", stop=_StopAfter(10**9))
    assert pq.ParquetFile(tmp_path / "all.parquet").metadata.num_row_groups == -(-len(events) // 100)


def test_resolved_scenario_reruns_to_the_same_summary(tmp_path: Path) -> None:
    res = casesim.run(SMALL, seed=5, overrides=TINY)
    out = res.write(tmp_path / "r")
    again = casesim.run(out / "scenario.resolved.yaml", seed=5)
    assert again.summary == res.summary
