"""The event log's buffers: rows set aside on disk (or kept when the disk refuses) read back exactly."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from casesim.engine import simulation
from casesim.engine.simulation import Simulation
from casesim.log.events import EVENTS, GENERIC, KINDS, WRITERS, EventLog, Field, Fixed, kinds_table
from casesim.metrics.summary import metrics_context, summarize
from tests.helpers import small

pytestmark = pytest.mark.mesa_facing


def _rows(n: int) -> list[tuple]:
    kinds = ["contact_kept", "review", "load", "manager_change"]
    return [(i * 0.25, i % 17 - 1, kinds[i % 4], f"S{i % 5}", (i * 7) % 40 - 1, f"c{i % 11}", i * 1.5 - 3.0)
            for i in range(n)]


@pytest.mark.parametrize("chunk_rows", [1, 3, 50, 1000])
def test_rows_read_back_in_order_whatever_the_buffer_size(chunk_rows: int) -> None:
    rows = _rows(211)
    chunked, whole = EventLog(chunk_rows=chunk_rows), EventLog(spill=False)
    for row in rows:
        chunked.add(*row)
        whole.add(*row)
    assert len(chunked) == len(whole) == 211
    assert chunked.nbytes() + chunked.disk_bytes() == whole.nbytes() == 211 * 29
    # at most one buffer in memory: full ones went to the temporary file
    assert chunked.nbytes() < chunk_rows * 29
    pd.testing.assert_frame_equal(chunked.to_frame(), whole.to_frame())
    back = chunked.to_frame()
    assert back["time"].tolist() == [r[0] for r in rows]
    assert back["kind"].astype(str).tolist() == [r[2] for r in rows]
    assert back["value"].tolist() == [r[6] for r in rows]


def test_full_buffers_stay_in_memory_when_the_disk_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    log, whole = EventLog(chunk_rows=10), EventLog(spill=False)
    for row in _rows(95):
        log.add(*row)
        whole.add(*row)
    assert log.disk_bytes() == 0 and log.nbytes() == 95 * 29
    pd.testing.assert_frame_equal(log.to_frame(), whole.to_frame())


def test_an_empty_log_gives_an_empty_frame_with_the_columns() -> None:
    frame = EventLog(chunk_rows=4).to_frame()
    assert len(frame) == 0
    assert list(frame.columns) == ["time", "case", "kind", "stage", "manager", "cause", "value"]
    assert str(frame["case"].dtype) == "int32" and str(frame["manager"].dtype) == "int32"
    assert str(frame["value"].dtype) == "float64"


def test_a_run_whose_log_goes_to_disk_has_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = small("time.horizon_days=400", "time.warmup_days=100")
    plain = Simulation(scenario, 5)
    plain.run_to_end()
    monkeypatch.setattr(simulation, "EventLog", lambda: EventLog(chunk_rows=997))
    spilled = Simulation(scenario, 5)
    spilled.run_to_end()
    assert spilled.log.disk_bytes() > 10 * spilled.log.nbytes() > 0
    a, b = plain.log.to_frame(), spilled.log.to_frame()
    pd.testing.assert_frame_equal(a, b)
    register = pd.DataFrame(plain.register)
    assert summarize(a, register, metrics_context(plain)) == summarize(b, register, metrics_context(spilled))


def test_a_chunk_needs_a_row() -> None:
    with pytest.raises(ValueError, match="chunk_rows"):
        EventLog(chunk_rows=0)


# --- the event-log contract (casesim.log.events.EVENTS) ------------------------------------------------------

#: The kinds in code order, as every event log written so far has them: a kind's code is its position.
CODES_SO_FAR = ["arrival", "stage_enter", "stage_exit", "allocation", "manager_change", "load", "capacity",
                "assessment", "plan", "contact_kept", "contact_missed", "contact_cancelled", "cover_start",
                "cover_end", "warning", "breach", "return_to_court", "recall", "referral", "intervention_start",
                "intervention_end", "referral_withdrawn", "review", "risk_change", "mode_change", "team_formed",
                "team_meeting", "task_assigned", "exit"]
#: Kinds no engine writes any more (codes 29 and 30 of older logs: rows standing for several contacts, written
#: only when contacts were decided in aggregate, a mode retired in December 2026).
RETIRED_KINDS = ["contacts_kept", "contacts_cancelled"]


def test_kind_codes_are_those_of_earlier_logs() -> None:
    assert list(KINDS)[:len(CODES_SO_FAR)] == CODES_SO_FAR
    assert not set(RETIRED_KINDS) & set(KINDS)


def _write_each_kind(log: EventLog) -> list[tuple]:
    """Write one row of every kind through its writer, each field a value of its own; return the rows
    the contract says they are (in ``EventLog.add`` order)."""
    expected = []
    for i, kind in enumerate(EVENTS):
        args, row = {}, dict(GENERIC)
        for column, spec in kind.columns().items():
            if isinstance(spec, Fixed):
                row[column] = spec.value
            elif isinstance(spec, Field):
                args[spec.name] = row[column] = {"stage": f"S{i}", "manager": 100 + i, "cause": f"c{i}",
                                                 "value": 0.5 + i}[column]
        writer = getattr(log, kind.writer)
        head = (float(i),) if kind.case else (float(i), i, kind.name) if len(WRITERS[kind.writer]) > 1 \
            else (float(i), i)
        writer(*head, **args)
        expected.append((float(i), kind.case.value if kind.case else i, kind.name, *row.values()))
    return expected


def test_every_writer_puts_its_fields_in_the_columns_the_contract_declares() -> None:
    log, raw = EventLog(), EventLog()
    for row in _write_each_kind(log):
        raw.add(*row)
    pd.testing.assert_frame_equal(log.to_frame(), raw.to_frame())
    assert log.strings == raw.strings   # stage and cause are interned in the same order too


def test_writers_take_fields_by_name_only_and_a_family_only_its_kinds() -> None:
    log = EventLog()
    with pytest.raises(TypeError):
        log.continuity_break(1.0, 2, "S", 3, "why", 4.0)
    with pytest.raises(KeyError):
        log.breach_route(1.0, 2, "breach", stage="S", holder=3, cause="breach")
    assert len(log) == 0


def test_the_docs_page_shows_the_contract() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "events.md").read_text()
    assert kinds_table() in page, ("docs/events.md is out of date with casesim.log.events.EVENTS: paste in "
                                   "casesim.log.events.kinds_table()")


def test_only_the_contract_writes_rows_by_position() -> None:
    """The engine and the policies log through the writers: no ``log.add(...)`` outside events.py."""
    package = Path(__file__).resolve().parents[1] / "casesim"
    found = []
    for path in package.rglob("*.py"):
        if path.name == "events.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add"
                    and "log" in ast.unparse(node.func.value)):
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not found, f"rows written by position: {found}"
