"""The event log: every happening in a run, appended to columnar buffers.

Columns (one row per happening):

========  ========  ==============================================================
column    type      meaning
========  ========  ==============================================================
time      float64   simulation time in days since the start of the run
case      int64     the case's arrival number (stable across scenarios); -1 if none (int32 while logging)
kind      category  what happened (see ``KINDS``)
stage     category  the journey stage the case was in ("" if none)
manager   int64     the agent concerned: case manager, team or provider id; -1 if none (int32 while logging)
cause     category  why, or a qualifier (see the table in ``KINDS``)
value     float64   a number whose meaning depends on ``kind`` (see ``KINDS``)
========  ========  ==============================================================

Buffers are ``array.array`` of machine numbers, and strings are interned as small
integer codes, so a row costs 29 bytes (8 + 4 + 1 + 2 + 4 + 2 + 8) and appending is cheap. Case
numbers and agent ids are held as 32-bit integers while the run lasts (a national run creates about a
million cases and agents, far below 2**31) and widened to int64 in :meth:`EventLog.to_frame`.
"""

from __future__ import annotations

from array import array

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
}

KIND_CODES: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


class EventLog:
    """Append-only columnar log. Strings (stage, cause) are interned to small ints."""

    __slots__ = ("_time", "_case", "_kind", "_stage", "_manager", "_cause", "_value",
                 "_strings", "_string_codes")

    def __init__(self) -> None:
        self._time = array("d")
        self._case = array("i")
        self._kind = array("b")
        self._stage = array("h")
        self._manager = array("i")
        self._cause = array("h")
        self._value = array("d")
        self._strings: list[str] = [""]
        self._string_codes: dict[str, int] = {"": 0}

    def code(self, text: str) -> int:
        """Intern ``text`` and return its code (use for hot-path appends)."""
        c = self._string_codes.get(text)
        if c is None:
            c = len(self._strings)
            self._strings.append(text)
            self._string_codes[text] = c
        return c

    def add(self, time: float, case: int, kind: str, stage: str = "", manager: int = -1,
            cause: str = "", value: float = 0.0) -> None:
        """Append one happening."""
        codes = self._string_codes
        st = codes.get(stage)
        if st is None:
            st = self.code(stage)
        ca = codes.get(cause)
        if ca is None:
            ca = self.code(cause)
        self._time.append(time)
        self._case.append(case)
        self._kind.append(KIND_CODES[kind])
        self._stage.append(st)
        self._manager.append(manager)
        self._cause.append(ca)
        self._value.append(value)

    def __len__(self) -> int:
        return len(self._time)

    def nbytes(self) -> int:
        """Bytes held by the column buffers."""
        return sum(a.itemsize * len(a) for a in (self._time, self._case, self._kind, self._stage,
                                                  self._manager, self._cause, self._value))

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame with categorical kind, stage and cause columns."""
        strings = list(self._strings)   # unique by construction: the codes index them directly
        kinds = list(KINDS)
        return pd.DataFrame({
            "time": np.frombuffer(self._time, dtype=np.float64).copy(),
            "case": np.frombuffer(self._case, dtype=np.int32).astype(np.int64),
            "kind": pd.Categorical.from_codes(np.frombuffer(self._kind, dtype=np.int8).astype(np.int16),
                                              categories=kinds),
            "stage": _unused_removed(np.frombuffer(self._stage, dtype=np.int16), strings),
            "manager": np.frombuffer(self._manager, dtype=np.int32).astype(np.int64),
            "cause": _unused_removed(np.frombuffer(self._cause, dtype=np.int16), strings),
            "value": np.frombuffer(self._value, dtype=np.float64).copy(),
        })


def _unused_removed(codes: np.ndarray, strings: list[str]) -> pd.Categorical:
    """A categorical over ``strings`` by code, with only the categories that occur, sorted (as
    ``pd.Categorical(values)`` would give, without building the strings)."""
    cat = pd.Categorical.from_codes(codes.astype(np.int32), categories=strings).remove_unused_categories()
    return cat.reorder_categories(sorted(cat.categories))
