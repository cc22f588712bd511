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
cause     category  why, or a qualifier (see ``EVENTS``)
value     float64   a number whose meaning depends on ``kind`` (see ``EVENTS``)
========  ========  ==============================================================

What ``stage``, ``manager``, ``cause`` and ``value`` hold depends on the kind: each kind declares it once
in the contract, :data:`EVENTS`, and is written through the :class:`EventLog` method the contract generates
for it, whose keyword arguments are named for what they mean (``log.continuity_break(t, case, stage=...,
new_holder=..., cause=..., old_holder=...)``) and go straight into the row in column order. ``docs/events.md``
holds the contract as a table (:func:`kinds_table`).

Rows are packed with ``struct`` into byte buffers of 262,144 rows each, and strings are interned
as small integer codes, so a row costs 29 bytes (8 + 4 + 1 + 2 + 4 + 2 + 8) and appending is cheap.
Full buffers go to a temporary file, so a long run keeps at most one buffer of its log in memory. Case
numbers and agent ids are 32-bit integers, in the log and in its table (a national run creates about a
million cases and agents, far below 2**31, and its table of tens of millions of rows is hundreds of MB
smaller than with 64-bit ids).
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: The columns whose meaning depends on the kind, in the log's order, with what each holds in a row of a
#: kind that does not use it.
GENERIC: dict[str, Any] = {"stage": "", "manager": -1, "cause": "", "value": 0.0}


@dataclass(frozen=True)
class Field:
    """A generic column as one kind uses it: the writer's keyword argument for it, and what it holds."""

    name: str
    meaning: str


@dataclass(frozen=True)
class Fixed:
    """A column that holds the same thing in every row of a kind (so it is no argument of the writer)."""

    value: Any


@dataclass(frozen=True)
class Kind:
    """An event kind: its name in the log, the :class:`EventLog` method that writes it (kinds sharing a
    writer are a family, told apart by its ``kind`` argument), what it records, and what each generic
    column holds for it: a :class:`Field`, a :class:`Fixed` value, or nothing (``None``: the column
    holds its :data:`GENERIC` default). ``case`` is ``Fixed(-1)`` for a kind that concerns no case."""

    name: str
    writer: str
    summary: str
    stage: Field | Fixed | None = None
    manager: Field | Fixed | None = None
    cause: Field | Fixed | None = None
    value: Field | Fixed | None = None
    case: Fixed | None = None

    def columns(self) -> dict[str, Field | Fixed | None]:
        """What each generic column holds for this kind, in column order."""
        return {column: getattr(self, column) for column in GENERIC}

    @property
    def fields(self) -> tuple[str, ...]:
        """The writer's keyword arguments, in column order."""
        return tuple(f.name for f in self.columns().values() if isinstance(f, Field))


STAGE = Field("stage", "the journey stage the case is in")
HOLDER = Field("holder", "the case's responsible holder (case manager or team id; -1 if none)")
MODE = Field("mode", "the case's supervision mode")
PROVIDER = Field("provider", "the provider's id")
DAYS_WAITED = Field("days_waited", "days since the referral")
NEED = Field("need_index", "the need's index")
AGAINST = Field("cause", "what it answers: breach | further_offence (the stay's outcome)")

#: The event-log contract: every kind of happening, in the order of its code in the log (a kind's code is
#: its position, so a new kind goes last), with what each generic column holds for it. The engine and the
#: policies write rows only through the writers generated from it (``EventLog.<writer>``).
EVENTS: tuple[Kind, ...] = (
    Kind("arrival", "arrival", "a case enters the system",
         cause=Field("cause", "how: arrival | initial (in the population at the start) | return (someone who "
                     "left and offended again, as a new case) | transfer (a measure transferred from a linked "
                     "service)"), value=Fixed(1.0)),
    Kind("stage_enter", "stage_enter", "the case enters a stage", stage=Field("stage", "the stage entered"),
         cause=Field("cause", "how: arrival | initial | return | transfer | completed | the breach route's event"),
         value=Field("stay", "the stay's number in the case's journey, from 0")),
    Kind("stage_exit", "stage_exit", "the case leaves a stage", stage=Field("stage", "the stage left"),
         cause=Field("outcome", "completed | breach | further_offence | transferred (to a linked service)"),
         value=Field("days", "days in the stage")),
    Kind("allocation", "allocation", "the case first gets a responsible holder", stage=STAGE,
         manager=Field("holder", "the holder (case manager or team id)"),
         cause=Field("cause", "why this holder")),
    Kind("manager_change", "continuity_break", "the responsible holder changes (a continuity break)",
         stage=STAGE, manager=Field("new_holder", "the holder taking over"),
         cause=Field("cause", "why the holder changes (custody_community_boundary, stage_handoff, task_handoff, "
                     "reclassification, absence_cover, cover_return, absence_reallocation, staff_turnover, "
                     "reallocation, or reorganisation: a change of the setting's segmentation or approach from "
                     "a date moved the case, on that day; or jurisdiction_transfer: the first holder of a "
                     "measure transferred from a linked service, whose holder there is gone)"),
         value=Field("old_holder", "the previous holder's id (-1: a holder of another service)")),
    Kind("load", "load_change", "a staff member's caseload hours change", stage=STAGE,
         manager=Field("staff", "the staff member's id"),
         cause=Field("change", "assign | unassign | reweigh (the case's hours) or seat | unseat (a team seat's)"),
         value=Field("weight", "the change in the hours a week the staff member's cases and seats ask")),
    Kind("capacity", "capacity_change", "a staff member's capacity changes",
         manager=Field("staff", "the staff member's id"),
         cause=Field("cause", "join | leave | trained | return | the absence's cause"),
         value=Field("change", "the change in capacity (casework hours a week)"), case=Fixed(-1)),
    Kind("assessment", "assessment", "an assessment completes", stage=STAGE,
         manager=Field("assessor", "the assessor (the holder; -1 if none)"),
         cause=Field("cause", "review for a re-assessment, else empty"),
         value=Field("found", "number of needs newly identified")),
    Kind("plan", "plan", "a plan is made", stage=STAGE, manager=HOLDER,
         value=Field("planned", "number of interventions planned")),
    Kind("contact_kept", "contact_kept", "a required contact is kept", stage=STAGE, manager=HOLDER,
         cause=MODE, value=Field("probability", "the compliance probability")),
    Kind("contact_missed", "contact_missed", "a required contact is missed", stage=STAGE, manager=HOLDER,
         cause=MODE, value=Field("probability", "the compliance probability")),
    Kind("contact_cancelled", "contact_cancelled", "a required contact is not delivered: nobody at work to see "
         "the case before it slipped past process.max_contact_slip_days (or the stay ended while it waited)",
         stage=STAGE, manager=HOLDER, cause=Field("cause", "holder_absent | unallocated (when it fell due)")),
    Kind("cover_start", "cover_start", "a colleague starts covering an absent holder", stage=STAGE,
         manager=Field("colleague", "the colleague covering"), cause=Field("cover", "the kind of cover: pod"),
         value=Field("holder", "the absent holder's id")),
    Kind("cover_end", "cover_end", "cover ends", stage=STAGE,
         manager=Field("colleague", "the colleague who covered"), cause=Field("cover", "the kind of cover: pod"),
         value=Field("holder", "the holder's id")),
    Kind("warning", "warning", "a formal warning", stage=STAGE, manager=HOLDER,
         value=Field("warnings", "warnings in the current window")),
    Kind("breach", "breach", "breach proceedings", stage=STAGE, manager=HOLDER,
         cause=Field("cause", "non_compliance | further_offence")),
    Kind("return_to_court", "breach_route", "a community case is returned to court after breach", stage=STAGE,
         manager=HOLDER, cause=AGAINST),
    Kind("recall", "breach_route", "a supervised-release case is recalled to custody", stage=STAGE,
         manager=HOLDER, cause=AGAINST),
    Kind("referral", "referral", "a referral to a provider", stage=STAGE,
         manager=Field("provider", "the provider's id (-1 if none)"),
         cause=Field("outcome", "accepted | declined | no_provider"), value=NEED),
    Kind("intervention_start", "intervention_start", "an intervention starts", stage=STAGE, manager=PROVIDER,
         value=DAYS_WAITED),
    Kind("intervention_end", "intervention_end", "an intervention ends", stage=STAGE, manager=PROVIDER,
         cause=Field("outcome", "completed | dropped_out | withdrawn"), value=NEED),
    Kind("referral_withdrawn", "referral_withdrawn", "a waiting referral is withdrawn", stage=STAGE,
         manager=PROVIDER, cause=Field("reason", "out_of_reach (the case moved on) | lost_while_waiting"),
         value=DAYS_WAITED),
    Kind("review", "review", "a formal review", stage=STAGE, manager=HOLDER,
         value=Field("share_kept", "share of contacts kept since the last review")),
    Kind("risk_change", "risk_change", "a review changes the case's risk", stage=STAGE, manager=HOLDER,
         cause=Field("risk", "the new risk level"), value=Field("step", "+1 up, -1 down")),
    Kind("mode_change", "mode_change", "the case's supervision mode is set or changes", stage=STAGE,
         manager=HOLDER, cause=Field("mode", "the new mode"),
         value=Field("weight", "the weekly hours of the new mode (before the stage's factor)")),
    Kind("team_formed", "team_formed", "a case team is convened", stage=STAGE,
         manager=Field("team", "the team's id"), value=Field("members", "number of members")),
    Kind("team_meeting", "team_meeting", "a case team meets to review the plan", stage=STAGE,
         manager=Field("team", "the team's id"), value=Field("present", "members present")),
    Kind("task_assigned", "task_assigned", "a plan task is given to a team member", stage=STAGE,
         manager=Field("member", "the member's id"), cause=Field("task", "the task: a need, or monitoring"),
         value=Field("team", "the team's id")),
    Kind("exit", "exit", "the case leaves the system", cause=Field("outcome", "completed | transferred (its "
         "measure to a linked service)"), value=Fixed(1.0)),
    Kind("contact_postponed", "contact_postponed", "a required contact falls due with nobody at work to see the "
         "case: it waits for someone (at most process.max_contact_slip_days)", stage=STAGE, manager=HOLDER,
         cause=Field("cause", "holder_absent | unallocated")),
    Kind("contact_late", "contact_late", "a postponed contact is offered (its contact_kept or contact_missed row "
         "follows at the same time)", stage=STAGE, manager=HOLDER,
         value=Field("days_late", "days since the contact fell due")),
    Kind("sanction", "sanction", "an intermediate sanction of graduated enforcement (more frequent reporting) "
         "starts or ends", stage=STAGE, manager=HOLDER, cause=Field("change", "start | end"),
         value=Field("days", "start: the days it is to last; end: the days it lasted")),
    Kind("offence", "offence", "the case commits a further offence (that will be proven)", stage=STAGE,
         cause=Field("when", "supervised (during a stay: the stay ends with further_offence) | during_stay (dealt "
                     "with alongside the stay, which goes on) | after_exit"),
         value=Field("hazard_ratio", "the case's reoffending hazard ratio when it offended (1: the stage's rate)")),
    Kind("policy_change", "policy_change", "a change of the scenario's changes list takes effect: the scenario "
         "in force from now on is the base with every change up to it applied "
         "(docs/scenarios.md#changes-from-a-date)",
         cause=Field("paths", "the paths the change sets, '+'-joined as written"),
         value=Field("change", "the change's index in the scenario's changes list"), case=Fixed(-1)),
    Kind("transfer", "transfer", "a step of the transfer of the case's measure to a linked service (written by "
         "the sending service; docs/jurisdictions.md#transfers-between-services)", stage=STAGE,
         cause=Field("step", "requested | refused | lapsed (the measure ended first) | recognised | adapted | "
                     "ended_in_transit (recognised, but the measure ran out before the receiving service took "
                     "it on)"),
         value=Field("days", "requested: days the decision will take; recognised, adapted: the measure's days "
                     "left for the receiving service; otherwise 0")),
)

#: Every kind by name, in code order.
KINDS: dict[str, Kind] = {k.name: k for k in EVENTS}
KIND_CODES: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


#: One row of the log as it is held while the run lasts: little-endian, packed, 29 bytes.
_ROW = struct.Struct("<dibhihd")
_ROW_DTYPE = np.dtype([("time", "<f8"), ("case", "<i4"), ("kind", "i1"), ("stage", "<i2"),
                       ("manager", "<i4"), ("cause", "<i2"), ("value", "<f8")])
assert _ROW_DTYPE.itemsize == _ROW.size == 29
#: Rows per buffer: a full buffer is set aside (on disk when it can be) and a new one started, so no
#: buffer is ever copied whole to grow, and a long run does not keep its whole log in memory. A quarter of a
#: million rows (7.6 MB) is written in milliseconds, and small beside what the cases of a national run hold
#: (a few KB each); a larger buffer would cost memory a case without saving time.
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

    __slots__ = ("_buf", "_chunks", "_file", "_on_disk", "_spill", "_full", "_strings", "_string_codes")

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

    def columns(self, dtypes: dict[str, Any] | None = None,
                names: tuple[str, ...] = _ROW_DTYPE.names) -> dict[str, np.ndarray]:
        """Columns ``names`` (default: all), each a new contiguous array (of its logging type, or of
        ``dtypes[name]``), read in one pass over the buffers, in the order the rows were logged: time order
        (every row is logged at the clock's time).
        """
        dtypes = dtypes or {}
        n = len(self)
        out = {name: np.empty(n, dtype=dtypes.get(name, _ROW_DTYPE[name])) for name in names}
        at = 0
        for piece in self._pieces():   # one pass over the buffers and the temporary file
            k = len(piece)
            for name, col in out.items():
                col[at:at + k] = piece[name]
            at += k
        return out

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame with categorical kind, stage and cause columns, in time order.

        Each column is read straight into its final type and handed to pandas without a copy, so the
        peak is little more than the frame itself (a national run's log is tens of millions of rows).
        ``case`` and ``manager`` keep the log's 32-bit integers: half the bytes of 64-bit ones, hundreds of
        MB on a national log. During a run it is the log as it stands.
        """
        columns = self.columns()
        return frame_of_columns(columns, self._strings)

    @property
    def strings(self) -> list[str]:
        """The interned stage and cause strings, indexed by their codes."""
        return list(self._strings)


#: A writer's body: ``EventLog.add`` with the kind's code, and its fixed columns, written in. Stage and cause
#: are interned in that order, as ``add`` does.
_WRITER = """\
def {writer}(self, time, {case}*, {params}):
    codes = self._string_codes
{stage}{cause}    buf = self._buf
    buf += _pack(time, {case_value}, {kind_code}, st, {manager}, ca, {value})
    if len(buf) >= self._full:
        self._set_aside()
"""


def _intern(var: str, expr: str) -> str:
    """Lines of a writer that set ``var`` to the code of the string ``expr``."""
    return f"    {var} = codes.get({expr})\n    if {var} is None:\n        {var} = self.code({expr})\n"


def _writer(kinds: list[Kind]) -> Callable[..., None]:
    """The ``EventLog`` method that writes ``kinds`` (one kind, or a family sharing its fields): keyword
    arguments named as the contract names the columns, put straight into the row in column order."""
    first = kinds[0]
    names = ("self", "time", "case", "kind", "codes", "st", "ca", "buf", *first.fields)
    if len(set(names)) < len(names):
        raise ValueError(f"{first.writer}(): field names must differ from each other and from {names[:8]}")
    if any((k.columns(), k.case) != (first.columns(), first.case) for k in kinds):
        raise ValueError(f"the kinds written by {first.writer}() must hold the same in every column")
    expr: dict[str, str] = {}
    for column, default in GENERIC.items():
        spec = getattr(first, column)
        expr[column] = (spec.name if isinstance(spec, Field) else repr(spec.value if isinstance(spec, Fixed)
                                                                        else default))
    family = len(kinds) > 1
    src = _WRITER.format(
        writer=first.writer, case="" if first.case else "case, " + ("kind, " if family else ""),
        params=", ".join(first.fields),
        stage=_intern("st", expr["stage"]) if expr["stage"] != "''" else "    st = 0\n",
        cause=_intern("ca", expr["cause"]) if expr["cause"] != "''" else "    ca = 0\n",
        case_value=repr(first.case.value) if first.case else "case",
        kind_code="_family[kind]" if family else KIND_CODES[first.name],
        manager=expr["manager"], value=expr["value"])
    namespace: dict[str, Any] = {"_pack": _ROW.pack, "_family": {k.name: KIND_CODES[k.name] for k in kinds}}
    exec(compile(src, f"<casesim.log.events: EventLog.{first.writer}>", "exec"), namespace)  # noqa: S102
    fn = namespace[first.writer]
    fn.__qualname__ = f"EventLog.{first.writer}"
    fn.__module__ = __name__
    fn.__doc__ = writer_doc(kinds)
    return fn


def writer_signature(kinds: list[Kind]) -> str:
    """How a writer is called, e.g. ``continuity_break(time, case, *, stage, new_holder, cause, old_holder)``."""
    k = kinds[0]
    head = "time" if k.case else "time, case" + (", kind" if len(kinds) > 1 else "")
    return f"{k.writer}({head}, *, {', '.join(k.fields)})"


def writer_doc(kinds: list[Kind]) -> str:
    """A writer's docstring, from the contract."""
    lines = [f"Log {' or '.join(k.name for k in kinds)}: {kinds[0].summary}."]
    lines += [f"``{spec.name}`` ({column}): {spec.meaning}" for column, spec in kinds[0].columns().items()
              if isinstance(spec, Field)]
    return "\n\n".join(lines)


#: The kinds each writer writes, by writer name, in the order of their first kind.
WRITERS: dict[str, list[Kind]] = {}
for _kind in EVENTS:
    WRITERS.setdefault(_kind.writer, []).append(_kind)
for _name, _kinds in WRITERS.items():
    if hasattr(EventLog, _name):
        raise ValueError(f"writer name {_name!r} is taken by EventLog")
    setattr(EventLog, _name, _writer(_kinds))


def _cell(spec: Field | Fixed | None) -> str:
    if isinstance(spec, Field):
        return f"`{spec.name}`: {spec.meaning}"
    return f"always `{spec.value!r}`" if isinstance(spec, Fixed) else ""


def kinds_table() -> str:
    """The contract as a Markdown table: every kind, its code, its writer, and what each column holds
    (docs/events.md holds it; tests/test_events.py checks that it is up to date)."""
    rows = ["| code | kind | writer | what | stage | manager | cause | value |",
            "| ---: | --- | --- | --- | --- | --- | --- | --- |"]
    for code, k in enumerate(EVENTS):
        cells = [str(code), f"`{k.name}`", f"`{writer_signature(WRITERS[k.writer])}`",
                 k.summary + ("; no case (`case` is -1)" if k.case else ""),
                 *(_cell(spec) for spec in k.columns().values())]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


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
