"""The event log: every happening in a run, appended to columnar buffers.

Columns (one row per happening):

========  ========  ==============================================================
column    type      meaning
========  ========  ==============================================================
time      float64   simulation time in days since the start of the run
case      int32     the case's arrival number (stable across scenarios); -1 if none
kind      category  what happened (see ``KINDS``)
stage     category  the journey stage the case was in ("" if none)
manager   int32     the agent concerned: case manager, team or provider id; -1 if none
cause     category  why, or a qualifier (see the table in ``KINDS``)
value     float64   a number whose meaning depends on ``kind`` (see ``KINDS``)
========  ========  ==============================================================

Rows are packed with ``struct`` into byte buffers of 262,144 rows each, and strings are interned
as small integer codes, so a row costs 29 bytes (8 + 4 + 1 + 2 + 4 + 2 + 8) and appending is cheap.
Full buffers go to a temporary file, so a long run keeps at most one buffer of its log in memory. Case
numbers and agent ids are 32-bit integers, in the log and in its table (a national run creates about a
million cases and agents, far below 2**31; a 60-million-row table is 0.45 GiB smaller than with 64-bit ids).
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

#: Every kind of happening, with what ``manager``, ``cause`` and ``value`` hold for it.
KINDS: dict[str, str] = {
    "arrival": "a case enters the system; value = 1",
    "stage_enter": "case enters `stage`; cause = how (arrival, completion, breach event name)",
    "stage_exit": ("case leaves `stage`; cause = completed | breach | further_offence | end_of_run; value = "
              "days in stage"),
    "allocation": "case first gets a responsible holder; manager = case manager or team id; cause = reason",
    "manager_change": ("responsible holder changes (a continuity break); manager = new holder; cause = why; value "
              "= old holder id"),
    "load": ("weighted caseload of a staff member changes; manager = staff id; cause = assign | unassign "
              "| reweigh; value = change in weight"),
    "capacity": ("capacity of a staff member changes; manager = staff id; cause = join | leave | absence | "
              "return; value = change in capacity (weighted points)"),
    "assessment": ("an assessment completes; manager = assessor (holder); cause = review for a re-assessment; "
                   "value = number of needs newly identified"),
    "plan": "a plan is made; value = number of interventions planned; cause = holder kind",
    "contact_kept": "a required contact is kept; manager = holder; cause = mode; value = compliance probability",
    "contact_missed": "a required contact is missed; manager = holder; cause = mode; value = compliance probability",
    "contact_cancelled": ("a required contact is not offered: nobody at work to see the case; manager = holder; "
                          "cause = holder_absent | unallocated"),
    "cover_start": "a pod colleague starts covering an absent holder; manager = colleague; value = holder id",
    "cover_end": "pod cover ends; manager = colleague; value = holder id",
    "warning": "a formal warning; manager = holder; value = warnings in the current window",
    "breach": "breach proceedings; manager = holder; cause = non_compliance | further_offence",
    "return_to_court": "a community case is returned to court after breach; cause = breach cause",
    "recall": "a supervised-release case is recalled to custody; cause = breach cause",
    "referral": ("a referral to a provider; manager = provider id; cause = accepted | declined | "
              "no_provider; value = need index"),
    "intervention_start": "an intervention starts; manager = provider id; value = days waited",
    "intervention_end": ("an intervention ends; manager = provider id; cause = completed | dropped_out | withdrawn; "
              "value = need index"),
    "referral_withdrawn": "a waiting referral is withdrawn; manager = provider id; value = days waited",
    "review": "a formal review; manager = holder; value = share of contacts kept since last review",
    "risk_change": "review changes risk; cause = new risk level; value = +1 up, -1 down",
    "mode_change": ("the case's supervision mode is set or changes; manager = holder; cause = new mode; value = "
              "new workload weight"),
    "team_formed": "a case team is convened; manager = team id; value = number of members",
    "team_meeting": "a case team meets to review the plan; manager = team id; value = members present",
    "task_assigned": "a plan task is given to a team member; manager = member id; cause = task; value = team id",
    "exit": "case leaves the system; cause = completed | end_of_run",
    # (added last: a kind's code is its position, and the codes of the others stay as they were)
    "contacts_kept": ("required contacts kept, decided together (process.contact_settlement: aggregate); "
                      "manager = holder; cause = mode; value = how many: the first at the row's time, the others "
                      "at the mode's contact interval after it"),
    "contacts_cancelled": ("required contacts not offered, decided together (process.contact_settlement: "
                           "aggregate): the holder, and whoever covers, are away until after the last of them; "
                           "manager = holder; cause = mode; value = how many, placed as for contacts_kept"),
}

KIND_CODES: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


#: One row of the log as it is held while the run lasts: little-endian, packed, 29 bytes.
_ROW = struct.Struct("<dibhihd")
_ROW_DTYPE = np.dtype([("time", "<f8"), ("case", "<i4"), ("kind", "i1"), ("stage", "<i2"),
                       ("manager", "<i4"), ("cause", "<i2"), ("value", "<f8")])
assert _ROW_DTYPE.itemsize == _ROW.size == 29
#: Rows per buffer: a full buffer is set aside (on disk when it can be) and a new one started, so no
#: buffer is ever copied whole to grow, and a long run does not keep its whole log in memory. A quarter of a
#: million rows (7.6 MB) is written in a few milliseconds; a buffer of a million held up to 30 MB, over 100
#: bytes a case at national size, when the cases themselves hold about 2,000.
CHUNK_ROWS = 1 << 18


class EventLog:
    """Append-only log. Each row is packed into a byte buffer (one ``struct.pack`` per row, cheaper
    than one append per column); strings (stage, cause) are interned to small ints.

    A full buffer of ``chunk_rows`` rows is written to an anonymous temporary file (deleted by the
    operating system when the log is dropped or the process ends) and freed, so a run holds at most one
    buffer of rows in memory however long it is; a run shorter than one buffer never touches the disk.
    If the file cannot be written (no space, no temporary directory), full buffers stay in memory
    instead and the run goes on. ``spill=False`` keeps every buffer in memory.
    """

    __slots__ = ("_buf", "_chunks", "_file", "_on_disk", "_spill", "_full", "_strings", "_string_codes", "in_order")

    def __init__(self, chunk_rows: int = CHUNK_ROWS, spill: bool = True) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self._buf = bytearray()
        self._chunks: list[bytearray] = []   # full buffers kept in memory
        self._file: Any = None                # temporary file of full buffers written out
        self._on_disk = 0                     # rows in the file (they come before those in _chunks)
        self._spill = spill
        self._full = chunk_rows * _ROW.size
        self._strings: list[str] = [""]
        self._string_codes: dict[str, int] = {"": 0}
        #: False once a row has been logged ahead of the clock (contacts decided in aggregate log a window's
        #: later rows at their own times when the window starts); the log is then put in time order when read.
        self.in_order = True

    def code(self, text: str) -> int:
        """Intern ``text`` and return its code."""
        c = self._string_codes.get(text)
        if c is None:
            c = len(self._strings)
            self._strings.append(text)
            self._string_codes[text] = c
        return c

    def add(self, time: float, case: int, kind: str, stage: str = "", manager: int = -1,
            cause: str = "", value: float = 0.0, _pack=_ROW.pack, _kinds=KIND_CODES) -> None:  # noqa: B008
        """Append one happening."""
        codes = self._string_codes
        st = codes.get(stage)
        if st is None:
            st = self.code(stage)
        ca = codes.get(cause)
        if ca is None:
            ca = self.code(cause)
        buf = self._buf
        buf += _pack(time, case, _kinds[kind], st, manager, ca, value)
        if len(buf) >= self._full:
            self._set_aside()

    def _set_aside(self) -> None:
        """The current buffer is full: write it out (or keep it) and start a new one."""
        buf, self._buf = self._buf, bytearray()
        if self._spill and not self._chunks:   # once one buffer had to stay in memory, all later ones do
            try:
                if self._file is None:
                    self._file = tempfile.TemporaryFile(prefix="casesim-events-")  # noqa: SIM115 - lives with the log
                self._file.seek(self._on_disk * _ROW.size)
                self._file.write(buf)
                self._file.flush()
                self._on_disk += len(buf) // _ROW.size
                return
            except OSError:
                pass
        self._chunks.append(buf)

    def __len__(self) -> int:
        return self._on_disk + (sum(len(b) for b in self._chunks) + len(self._buf)) // _ROW.size

    def nbytes(self) -> int:
        """Bytes of rows held in memory (rows written to the temporary file are not counted)."""
        return sum(len(b) for b in self._chunks) + len(self._buf)

    def disk_bytes(self) -> int:
        """Bytes of rows written to the temporary file."""
        return self._on_disk * _ROW.size

    def _pieces(self) -> Iterator[np.ndarray]:
        """Every row in order, as structured arrays of at most one buffer each."""
        if self._on_disk:
            self._file.seek(0)
            left = self._on_disk
            while left:
                n = min(left, self._full // _ROW.size)
                piece = np.frombuffer(self._file.read(n * _ROW.size), dtype=_ROW_DTYPE)
                if len(piece) != n:
                    raise OSError("the event log's temporary file was cut short")
                left -= n
                yield piece
        for b in (*self._chunks, self._buf):
            if len(b):
                yield np.frombuffer(b, dtype=_ROW_DTYPE)

    def columns(self, dtypes: dict[str, Any] | None = None, names: tuple[str, ...] = _ROW_DTYPE.names,
                in_time_order: bool = True) -> dict[str, np.ndarray]:
        """Columns ``names`` (default: all), each a new contiguous array (of its logging type, or of
        ``dtypes[name]``), read in one pass over the buffers.

        Rows come in time order, and in the order they were logged at equal times (a stable sort, needed
        only when rows were logged ahead of the clock). ``in_time_order=False`` gives them in the order they
        were logged, for a caller that sorts them itself (the merge of a run in parts).
        """
        dtypes = dtypes or {}
        n = len(self)
        sort = in_time_order and not self.in_order
        read = (*names, "time") if sort and "time" not in names else names   # (the sort needs the times)
        out = {name: np.empty(n, dtype=dtypes.get(name, _ROW_DTYPE[name])) for name in read}
        at = 0
        for piece in self._pieces():   # one pass over the buffers and the temporary file
            k = len(piece)
            for name, col in out.items():
                col[at:at + k] = piece[name]
            at += k
        if sort:
            order = np.argsort(out["time"] if "time" in names else out.pop("time"), kind="stable")
            for col in out.values():
                col[:] = col[order]   # one column's copy at a time
        return out

    def to_frame(self, until: float | None = None) -> pd.DataFrame:
        """The log as a DataFrame with categorical kind, stage and cause columns, in time order.

        Each column is read straight into its final type and handed to pandas without a copy, so the
        peak is little more than the frame itself (a national run's log is tens of millions of rows).
        ``case`` and ``manager`` keep the log's 32-bit integers: a national log of 60 million rows is
        0.45 GiB smaller than with 64-bit ones. ``until``: during a run, the log as it stands at that
        time, without the rows logged ahead of it (see ``in_order``).
        """
        columns = self.columns()
        if until is not None and not self.in_order:
            cut = int(np.searchsorted(columns["time"], until, side="right"))
            columns = {name: col[:cut] for name, col in columns.items()}
        return frame_of_columns(columns, self._strings)

    @property
    def strings(self) -> list[str]:
        """The interned stage and cause strings, indexed by their codes."""
        return list(self._strings)


def frame_of_columns(columns: dict[str, np.ndarray], strings: list[str]) -> pd.DataFrame:
    """The log's table from its columns (stage and cause as codes into ``strings``), taking the arrays
    out of ``columns`` and handing them to pandas uncopied."""
    c = columns
    return pd.DataFrame({
        "time": c.pop("time"),
        "case": c.pop("case"),
        "kind": pd.Categorical.from_codes(c.pop("kind"), categories=list(KINDS), validate=False),
        "stage": _categorical_of_codes(c.pop("stage"), strings),
        "manager": c.pop("manager"),
        "cause": _categorical_of_codes(c.pop("cause"), strings),
        "value": c.pop("value"),
    }, copy=False)


def _categorical_of_codes(codes: np.ndarray, strings: list[str]) -> pd.Categorical:
    """A categorical over ``strings`` by code, with only the categories that occur, sorted (as
    ``pd.Categorical(values)`` would give, without building the strings or copying the codes twice)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(strings))) if len(codes) else np.empty(0, np.int64)
    names = sorted(strings[i] for i in used)
    rank = {name: j for j, name in enumerate(names)}
    new_code = np.full(len(strings), -1, dtype=np.int8 if len(names) < 127 else np.int32)
    for i in used:
        new_code[i] = rank[strings[i]]
    return pd.Categorical.from_codes(new_code[codes], categories=names, validate=False)
