"""Column-wise helpers and per-entity tables behind :mod:`casesim.metrics.summary`.

Everything here works on whole columns of the event frame at once: rows are grouped by
kind once (a stable sort), step functions are integrated exactly from their jump times,
and "the latest value of X for this case" is found with one lexicographic sort. No
Python loop runs over rows; loops run only over stages, labels or unique managers.

Public here (and re-exported by :mod:`casesim.metrics.summary`): :func:`staff_load`,
:func:`stage_occupancy` and :func:`case_table`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from casesim.scenario.params import RISKS

if TYPE_CHECKING:
    from casesim.metrics.summary import MetricsContext

#: Cause used by an engine that closes stays/cases at the end of a run; such rows are
#: treated as censoring (ignored), never as real exits.
END_OF_RUN = "end_of_run"
#: Label for a case whose initial risk is not in the register.
UNKNOWN_RISK = "UNKNOWN"
#: Setting label for a staff member missing from ``staff_setting``.
UNKNOWN_SETTING = "unknown"
#: Decimals kept in cumulated load/capacity (removes float drift of long cumsums).
DECIMALS = 9
#: Tolerance of the strict "over capacity" comparisons.
TOL = 1e-9

_EMPTY = np.zeros(0, dtype=np.int64)


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Canonical codes of a string column: each distinct name gets exactly one code.

    Args:
        column: Categorical (or plain) column; missing values become "".

    Returns:
        ``(codes, names)`` with ``names`` sorted and unique, ``names[codes]`` the values (codes are 8-bit
        for a categorical column of fewer than 128 names, else 16-bit: a national log has tens of millions
        of rows).
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = np.asarray([str(c) for c in column.cat.categories] + [""], dtype=object)
        names, inverse = np.unique(cats, return_inverse=True)
        width = np.int8 if len(names) < 2 ** 7 else np.int16 if len(names) < 2 ** 15 else np.int64
        table = inverse.reshape(-1).astype(width)
        return table[column.cat.codes.to_numpy()], names   # a missing value (code -1) takes the last entry, ""
    raw, uniques = pd.factorize(column.fillna("").astype(str))
    cats = np.asarray([str(u) for u in uniques] + [""], dtype=object)
    raw = raw.astype(np.int64)
    names, inverse = np.unique(cats, return_inverse=True)
    return inverse.reshape(-1)[raw], names


def _ids(column: pd.Series) -> np.ndarray:
    """An id column as it is held (the log's 32-bit integers: no copy), or as 64-bit integers if it is
    not an integer column."""
    arr = column.to_numpy()
    return arr if arr.dtype.kind in "iu" else arr.astype(np.int64)


_shared = threading.local()


@contextmanager
def shared_log_arrays(events: pd.DataFrame, arrays: LogArrays | None = None) -> Iterator[None]:
    """Within this block, every metric given this very frame (``is``) uses one :class:`LogArrays` of it,
    built when first asked for (or ``arrays``, already built from this frame), instead of each building its
    own (a national log takes seconds to index). The frame must not be changed inside the block."""
    stack = _shared.__dict__.setdefault("stack", [])
    stack.append([events, arrays])
    try:
        yield
    finally:
        stack.pop()


class LogArrays:
    """The event frame as numpy columns, with row indices grouped by kind.

    Attributes:
        time, case, manager, value: Row-aligned numeric columns.
        stage, cause: Canonical integer codes into ``stage_names`` / ``cause_names``.
    """

    def __init__(self, events: pd.DataFrame) -> None:
        """Extract columns and group rows by kind (one stable sort)."""
        self._frame = weakref.ref(events)
        self.time = events["time"].to_numpy(dtype=np.float64)
        self.case = _ids(events["case"])
        self.manager = _ids(events["manager"])
        self.value = events["value"].to_numpy(dtype=np.float64)
        kind, kind_names = _codes(events["kind"])
        self.stage, self.stage_names = _codes(events["stage"])
        self.cause, self.cause_names = _codes(events["cause"])
        order = np.argsort(kind, kind="stable")
        if len(order) < 2**31:   # 32-bit row indices: 4 bytes a row less for every metric that holds them
            order = order.astype(np.int32)
        bounds = np.searchsorted(kind[order], np.arange(len(kind_names) + 1))
        self._rows = {str(k): order[bounds[i]:bounds[i + 1]] for i, k in enumerate(kind_names)}
        #: Tables derived from these arrays that several metrics need (staff segments, cost inputs), kept as
        #: long as the arrays are, by the function that derives them; :meth:`forget` lets them go.
        self.derived: dict[str, object] = {}

    def is_of(self, events: pd.DataFrame) -> bool:
        """Whether these arrays were built from this very frame (``is``; the frame must not have been changed)."""
        return self._frame() is events

    def forget(self) -> None:
        """Drop the derived tables (the arrays themselves stay)."""
        self.derived.clear()

    @classmethod
    def of(cls, events: pd.DataFrame) -> LogArrays:
        """The arrays of ``events``: the shared ones inside :func:`shared_log_arrays` for this frame, else
        new ones."""
        for entry in reversed(getattr(_shared, "stack", ())):
            if entry[0] is events:
                if entry[1] is None:
                    entry[1] = cls(events)
                return entry[1]
        return cls(events)

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.time)

    def rows(self, kind: str) -> np.ndarray:
        """Row indices (ascending) of ``kind``."""
        return self._rows.get(kind, _EMPTY)

    def closing(self, kind: str) -> np.ndarray:
        """Rows of ``kind`` minus those marked ``end_of_run`` (censoring, not exits)."""
        rows = self.rows(kind)
        return rows[~self.cause_is(rows, END_OF_RUN)]

    def cause_code(self, name: str) -> int:
        """Code of cause ``name`` (-1 if it never occurs)."""
        i = int(np.searchsorted(self.cause_names, name))
        return i if i < len(self.cause_names) and self.cause_names[i] == name else -1

    def cause_is(self, rows: np.ndarray, name: str) -> np.ndarray:
        """Boolean mask over ``rows``: cause equals ``name``."""
        return self.cause[rows] == self.cause_code(name)

    def in_window(self, rows: np.ndarray, start: float, end: float) -> np.ndarray:
        """The subset of ``rows`` with time in ``[start, end)``."""
        t = self.time[rows]
        return rows[(t >= start) & (t < end)]

    def stage_mask(self, names: set[str] | frozenset[str]) -> np.ndarray:
        """Boolean array over stage codes: the stage's name is in ``names``."""
        return np.isin(self.stage_names, list(names))


def exposure(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Length of ``[max(t, start), end)`` for each jump time ``t`` (0 if empty).

    A step function ``f(t) = sum_i w_i * [t >= t_i]`` integrates over ``[start, end)``
    to exactly ``sum_i w_i * exposure(t_i)``.
    """
    return np.clip(end - np.maximum(times, start), 0.0, None)


def tick_index(times: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Tick of each time: first ``k`` with ``bounds[k] > t`` (``len(bounds)`` if none)."""
    return np.searchsorted(bounds, times, side="right")


def group_cumsum(delta: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting where ``first`` is True (groups are contiguous)."""
    if len(delta) == 0:
        return delta.copy()
    cum = np.cumsum(delta)
    base = (cum - delta)[first]
    return cum - base[np.cumsum(first) - 1]


def latest_label(upd_case: np.ndarray, upd_order: np.ndarray, upd_label: np.ndarray,
                 q_case: np.ndarray, q_order: np.ndarray) -> np.ndarray:
    """For each query, the label of the latest update of the same case strictly before it.

    Args:
        upd_case: Case of each update.
        upd_order: Ordering key of each update (e.g. its row index).
        upd_label: Integer label (>= 0) set by each update.
        q_case: Case of each query.
        q_order: Ordering key of each query; ``inf`` asks for the final label.

    Returns:
        Integer labels aligned with the queries, -1 where the case had no earlier update.
    """
    n_u, n_q = len(upd_case), len(q_case)
    if n_q == 0:
        return _EMPTY.copy()
    if n_u == 0:
        return np.full(n_q, -1, dtype=np.int64)
    # The updates are few (risk and mode changes), the queries many (every contact row of a national log):
    # only the updates are sorted, by case and order (a stable sort: of equal orders the one listed last
    # comes last). Each query then bisects its own case's updates for the last one before it, all queries
    # at once, a halving per round (a case has a few updates: two or three rounds).
    base = min(int(upd_case.min()), int(q_case.min()))
    u_case = upd_case.astype(np.int64) - base
    q_at = q_case.astype(np.int64) - base
    srt = np.lexsort((upd_order, u_case))
    u_order = np.asarray(upd_order)[srt]
    labels = np.asarray(upd_label, dtype=np.int64)[srt]
    span = max(int(u_case.max()), int(q_at.max())) + 1
    if span <= 4 * (n_u + n_q):   # case numbers are dense (as in any log): a table by case number
        count = np.bincount(u_case, minlength=span)
        first = np.cumsum(count) - count
        first, count = first.astype(np.int32)[q_at], count.astype(np.int32)[q_at]   # (32-bit: one per query)
    else:   # sparse case numbers: look each query's case up among the updated ones
        cases, first, count = np.unique(u_case[srt], return_index=True, return_counts=True)
        at = np.minimum(np.searchsorted(cases, q_at), len(cases) - 1)
        ok = cases[at] == q_at
        first, count = first[at], np.where(ok, count[at], 0)
    del u_case, q_at
    lo, hi = first.copy(), first + count   # the answer's successor lies in [lo, hi]
    q_order = np.asarray(q_order)
    active = np.flatnonzero(count > 0)
    while len(active):
        mid = (lo[active] + hi[active]) // 2
        before = u_order[mid] < q_order[active]
        lo[active[before]] = mid[before] + 1
        hi[active[~before]] = mid[~before]
        active = active[lo[active] < hi[active]]
    last = lo - 1   # the case's last update before the query, if it is one of the case's
    found = last >= first
    return np.where(found, labels[np.maximum(last, 0)], -1)


def last_per_group(group: np.ndarray, values: np.ndarray, n: int, fill: float) -> np.ndarray:
    """Value of the last element (in array order) of each group ``0..n-1``."""
    out = np.full(n, fill, dtype=np.result_type(values, np.asarray(fill)))
    if len(group):
        uniq, first_rev = np.unique(group[::-1], return_index=True)
        out[uniq] = values[::-1][first_rev]
    return out


def ordered_labels(names: list[str] | set[str], leading: tuple[str, ...] = ()) -> list[str]:
    """``leading`` names that are present, then the rest alphabetically."""
    present = set(names)
    return [x for x in leading if x in present] + sorted(present - set(leading))


class RegisterPositions:
    """Where given case numbers are in the register (``-1`` for a case not in it), as
    ``pd.Index.get_indexer`` finds them.

    A run's register numbers its cases by row (case ``k`` is row ``k``, and a merged run's register too), so
    a position is the number itself: a bounds check instead of a hash lookup, which is much cheaper on the
    tens of millions of rows a national log asks about. Any other register is looked up by hash.
    Register case numbers must be unique.
    """

    def __init__(self, cases: np.ndarray) -> None:
        cases = np.asarray(cases, dtype=np.int64)
        self.n = len(cases)
        self.by_row = bool(self.n == 0 or (cases[0] == 0 and np.array_equal(cases, np.arange(self.n))))
        self.index = None if self.by_row else pd.Index(cases)

    def __call__(self, cases: np.ndarray) -> np.ndarray:
        if self.index is not None:
            return self.index.get_indexer(cases)
        cases = np.asarray(cases)
        return np.where((cases >= 0) & (cases < self.n), cases, -1).astype(np.intp, copy=False)


class RiskTrack:
    """Risk level of each case over time: register risk, then ``risk_change`` causes."""

    def __init__(self, lg: LogArrays, register: pd.DataFrame) -> None:
        """Build the label table and the update list."""
        self.lg = lg
        self.position = RegisterPositions(register["case"].to_numpy(dtype=np.int64))
        reg_risk = register["risk"].astype(str).to_numpy(dtype=object)
        self.rows = lg.rows("risk_change")
        change = lg.cause_names[lg.cause[self.rows]]
        every = set(reg_risk) | set(change) | set(RISKS) | {UNKNOWN_RISK}
        self.names = ordered_labels(every, RISKS)   # in their natural order; others alphabetically
        lookup = {name: i for i, name in enumerate(self.names)}
        self.reg_label = np.array([lookup[x] for x in reg_risk], dtype=np.int64)
        self.change_label = np.array([lookup[x] for x in change], dtype=np.int64)
        self.unknown = lookup[UNKNOWN_RISK]

    def initial(self, cases: np.ndarray) -> np.ndarray:
        """Register risk labels of ``cases`` (UNKNOWN if missing from the register)."""
        pos = self.position(cases)
        table = np.r_[self.reg_label, self.unknown]  # position -1 -> UNKNOWN
        return table[pos]

    def at(self, cases: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Risk label of each case just before row position ``order``."""
        got = latest_label(self.lg.case[self.rows], self.rows, self.change_label, cases, order)
        return np.where(got >= 0, got, self.initial(cases))


def staff_arrays(lg: LogArrays, horizon: float,
                  staff_setting: Mapping[int, str]) -> dict[str, np.ndarray]:
    """Piecewise-constant load/count/capacity segments per staff member (see staff_load); made once per
    :class:`LogArrays`, horizon and settings (the time series, the summary and the report share them), and
    read-only."""
    kept = lg.derived.get("staff_arrays")
    if kept is not None and kept[0] == horizon and kept[1] is staff_setting:
        return kept[2]
    seg = _staff_segments(lg, horizon, staff_setting)
    for column in seg.values():
        column.flags.writeable = False
    lg.derived["staff_arrays"] = (horizon, staff_setting, seg)
    return seg


def _staff_segments(lg: LogArrays, horizon: float, staff_setting: Mapping[int, str]) -> dict[str, np.ndarray]:
    load_rows, cap_rows = lg.rows("load"), lg.rows("capacity")
    rows = np.concatenate([load_rows, cap_rows])
    is_load = np.r_[np.ones(len(load_rows), dtype=bool), np.zeros(len(cap_rows), dtype=bool)]
    # by staff member, then in log order: a stable sort merges the two ascending lists of rows (one pass),
    # and a second stable sort by staff member keeps that order within each
    srt = np.argsort(rows, kind="stable")
    srt = srt[_stable_order(lg.manager[rows[srt]])]
    rows, is_load = rows[srt], is_load[srt]
    del srt   # (temporaries are freed as soon as they are used: this runs within the metrics' peak)
    m, t, v, c = lg.manager[rows], lg.time[rows], lg.value[rows], lg.cause[rows]
    del rows
    d_count = np.where(is_load, (c == lg.cause_code("assign")).astype(np.int64)
                       - (c == lg.cause_code("unassign")), 0)
    change = np.r_[m[1:] != m[:-1], True] if len(m) else np.zeros(0, dtype=bool)
    first = np.r_[True, change[:-1]] if len(m) else change
    load = np.round(group_cumsum(np.where(is_load, v, 0.0), first), DECIMALS)
    cap = np.round(group_cumsum(np.where(is_load, 0.0, v), first), DECIMALS)
    del v
    count = group_cumsum(d_count, first)
    del d_count
    d_post = np.where(is_load, 0, (c == lg.cause_code("join")).astype(np.int64) - (c == lg.cause_code("leave")))
    del c, is_load
    in_post = group_cumsum(d_post, first)
    del d_post
    t_next = np.where(change, horizon, np.r_[t[1:], horizon] if len(t) else t)
    keep = (np.minimum(t_next, horizon) > t) & (t < horizon)  # last row of each instant
    # Before its first event a staff member holds nothing and has no capacity: a segment from 0 to it, put
    # before the member's others (which are in time order, the log's), so segments run by member then time.
    lead = first & (t > 0)
    at = np.searchsorted(m[keep], m[lead], side="left")
    zeros_f = np.zeros(len(at))
    zeros_i = np.zeros(len(at), dtype=np.int64)
    seg = {
        "manager": np.insert(m[keep].astype(np.int64), at, m[lead]),
        "start": np.insert(t[keep], at, zeros_f),
        "end": np.insert(np.minimum(t_next[keep], horizon), at, np.minimum(t[lead], horizon)),
        "load": np.insert(load[keep], at, zeros_f),
        "count": np.insert(count[keep], at, zeros_i),
        "capacity": np.insert(cap[keep], at, zeros_f),
        "in_post": np.insert(in_post[keep], at, zeros_i),
    }
    del m, t, t_next, load, cap, count, in_post, keep, lead, at
    member = seg["manager"]
    new_member = np.r_[True, member[1:] != member[:-1]] if len(member) else np.zeros(0, dtype=bool)
    uniq, inv = member[new_member], np.cumsum(new_member) - 1
    settings = np.array([staff_setting.get(int(x), UNKNOWN_SETTING) for x in uniq] + [""],
                        dtype=object)
    seg["setting"] = settings[inv]
    return seg


def _stable_order(ids: np.ndarray) -> np.ndarray:
    """``np.argsort(ids, kind="stable")`` for agent ids. Ids from 0 to a few times their number (a log's
    staff) are first numbered 0, 1, ... in their order, by a table indexed by id: fewer than 65,536 of them
    then sort as 16-bit numbers, which NumPy's stable sort orders by radix, in linear time."""
    if len(ids) and int(ids.min()) >= 0 and int(ids.max()) < 4 * len(ids) + 1024:
        present = np.bincount(ids) > 0
        if int(present.sum()) < 2**16:
            number = np.cumsum(present, dtype=np.int64) - 1
            return np.argsort(number.astype(np.uint16)[ids], kind="stable")
    return np.argsort(ids, kind="stable")


def staff_load(events: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """Per-staff piecewise-constant caseload segments over ``[0, horizon)``.

    A staff member's weighted load is the running sum of its ``load`` values, its count
    the running number of assigns minus unassigns, and its capacity the running sum of
    its ``capacity`` values. Each segment starts at an event time; several events at
    one instant yield one segment holding the state after the last of them. Before its
    first event a staff member has a zero segment. Staff with no load/capacity rows are
    omitted.

    Args:
        events: Event frame from ``EventLog.to_frame()``.
        ctx: Metrics context (``horizon``, ``staff_setting`` are used).

    Returns:
        Columns manager, setting, start, end, load, count, capacity, sorted by
        manager then start; segments of one manager tile ``[0, horizon)``.
    """
    seg = staff_arrays(LogArrays.of(events), ctx.horizon, ctx.staff_setting)
    cols = ["manager", "setting", "start", "end", "load", "count", "capacity"]
    return pd.DataFrame({k: seg[k] for k in cols})


def stay_ends(lg: LogArrays, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair each ``stage_enter`` with the next ``stage_exit`` of its case.

    Returns:
        ``(enter_rows, end_time)``; stays with no closing exit end at ``horizon``.
    """
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")
    rows = np.concatenate([enter, leave])
    is_exit = np.r_[np.zeros(len(enter), dtype=bool), np.ones(len(leave), dtype=bool)]
    srt = np.lexsort((rows, lg.case[rows]))
    rows, is_exit = rows[srt], is_exit[srt]
    nxt = np.r_[rows[1:], 0]
    closed = np.r_[(lg.case[rows[1:]] == lg.case[rows[:-1]]) & is_exit[1:], False]
    end = np.where(closed, lg.time[nxt], horizon) if len(rows) else np.zeros(0)
    keep = ~is_exit
    return rows[keep], np.minimum(end[keep], horizon)


def stage_list(lg: LogArrays, ctx: MetricsContext) -> list[str]:
    """Stages in context order, then any other stage entered in the log."""
    seen = {str(s) for s in lg.stage_names[np.unique(lg.stage[lg.rows("stage_enter")])]}
    known = list(ctx.stage_setting)
    return known + sorted(seen - set(known) - {""})


def stage_occupancy(events: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """Little's-law inputs per stage over the window ``W = [warmup, horizon)``.

    ``L`` is the exact time-average number of cases in the stage over W; ``entries``
    counts ``stage_enter`` rows in W and ``lam = entries / T``; ``W_mean`` is the mean
    length of the stays that enter in W, a stay still open at the horizon counting up to
    the horizon; ``littles_ratio = L / (lam * W_mean)``.

    Edge effects: stays that entered before the warm-up add to ``L`` but not to
    ``lam``/``W_mean``; stays entering near the horizon are censored, which shortens
    ``W_mean``, and only their in-window part counts in ``L``. For a stationary process
    both are O(W_mean / T), so the ratio tends to 1 as ``T`` grows; a short window or
    long stays (e.g. custody) can move it away from 1 without any error in the log.

    Returns:
        Columns stage, setting, L, entries, lam, W_mean, littles_ratio, censored (number
        of counted stays still open at the horizon). Undefined ratios are NaN.
    """
    lg = LogArrays.of(events)
    a, h = ctx.warmup, ctx.horizon
    span = h - a
    n_codes = len(lg.stage_names)
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")
    area = (np.bincount(lg.stage[enter], exposure(lg.time[enter], a, h), n_codes)
            - np.bincount(lg.stage[leave], exposure(lg.time[leave], a, h), n_codes))
    stay_rows, stay_end = stay_ends(lg, h)
    t0 = lg.time[stay_rows]
    counted = (t0 >= a) & (t0 < h)
    codes = lg.stage[stay_rows[counted]]
    entries = np.bincount(codes, minlength=n_codes)
    length = np.bincount(codes, (stay_end - t0)[counted], n_codes)
    open_end = np.bincount(codes, (stay_end[counted] >= h).astype(np.float64), n_codes)
    out = []
    lookup = {str(s): i for i, s in enumerate(lg.stage_names)}
    for stage in stage_list(lg, ctx):
        i = lookup.get(stage)
        n = int(entries[i]) if i is not None else 0
        occ = float(area[i]) / span if i is not None else 0.0
        lam = n / span
        w_mean = float(length[i]) / n if n else np.nan
        denom = lam * w_mean
        out.append({
            "stage": stage, "setting": ctx.stage_setting.get(stage, ""), "L": occ,
            "entries": n, "lam": lam, "W_mean": w_mean,
            "littles_ratio": occ / denom if n and denom > 0 else np.nan,
            "censored": int(open_end[i]) if i is not None else 0,
        })
    cols = ["stage", "setting", "L", "entries", "lam", "W_mean", "littles_ratio", "censored"]
    return pd.DataFrame(out, columns=cols)


def case_table(events: pd.DataFrame, register: pd.DataFrame,
               ctx: MetricsContext) -> pd.DataFrame:
    """One row per register case with outcomes over the WHOLE run ``[0, horizon)``.

    Unlike :func:`casesim.metrics.summary.summarize`, nothing here is clipped to the
    measurement window: every event of the case counts. ``custody_days`` is time in
    custody-setting stages, censored at the horizon; ``final_stage`` is the last stage
    entered ("" if none); ``final_risk`` is the last ``risk_change`` level or the
    register risk; ``final_mode`` the last mode set (missing if never set);
    ``compliance_rate_of_offered`` is NaN without contacts and ``exit_time`` NaN while active.

    Returns:
        The register columns (in register order) plus exit_time, exited, final_stage,
        n_stage_entries, continuity_breaks, contacts_kept, contacts_missed,
        compliance_rate_of_offered, warnings, breaches, returns_to_court, recalls, referrals,
        interventions_completed, custody_days, final_risk, final_mode.
    """
    lg = LogArrays.of(events)
    h = ctx.horizon
    n = len(register)
    cases = register["case"].to_numpy(dtype=np.int64)
    position = RegisterPositions(cases)

    def locate(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:   # register positions of the rows' cases
        pos = position(lg.case[rows])
        ok = pos >= 0
        return pos[ok], ok

    def count(rows: np.ndarray) -> np.ndarray:
        pos, ok = locate(rows)
        return np.bincount(pos, minlength=n).astype(np.int64)

    out = register.reset_index(drop=True).copy()
    rows = lg.closing("exit")
    pos, ok = locate(rows)
    out["exit_time"] = last_per_group(pos, lg.time[rows[ok]], n, np.nan)
    out["exited"] = ~np.isnan(out["exit_time"].to_numpy())
    rows = lg.rows("stage_enter")
    pos, ok = locate(rows)
    last_stage = last_per_group(pos, lg.stage[rows[ok]], n, -1)
    out["final_stage"] = np.r_[lg.stage_names, [""]][last_stage]
    out["n_stage_entries"] = np.bincount(pos, minlength=n).astype(np.int64)
    out["continuity_breaks"] = count(lg.rows("manager_change"))
    kept = count(lg.rows("contact_kept"))
    missed = count(lg.rows("contact_missed"))
    out["contacts_kept"], out["contacts_missed"] = kept, missed
    with np.errstate(invalid="ignore", divide="ignore"):
        out["compliance_rate_of_offered"] = np.where(kept + missed > 0, kept / (kept + missed), np.nan)
    for col, kind in (("warnings", "warning"), ("breaches", "breach"),
                      ("returns_to_court", "return_to_court"), ("recalls", "recall"),
                      ("referrals", "referral")):
        out[col] = count(lg.rows(kind))
    ends = lg.rows("intervention_end")
    out["interventions_completed"] = count(ends[lg.cause_is(ends, "completed")])
    custody = lg.stage_mask({s for s, v in ctx.stage_setting.items() if v == "custody"})
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")
    enter, leave = enter[custody[lg.stage[enter]]], leave[custody[lg.stage[leave]]]
    (pe, oe), (px, ox) = locate(enter), locate(leave)
    out["custody_days"] = (np.bincount(pe, exposure(lg.time[enter[oe]], 0.0, h), n)
                           - np.bincount(px, exposure(lg.time[leave[ox]], 0.0, h), n)).astype(float)
    risk = RiskTrack(lg, register)
    final = risk.at(cases, np.full(n, np.inf))
    out["final_risk"] = np.asarray(risk.names, dtype=object)[final]
    modes = lg.rows("mode_change")
    got = latest_label(lg.case[modes], modes, lg.cause[modes], cases,
                       np.full(n, np.inf))
    out["final_mode"] = np.where(got >= 0, np.r_[lg.cause_names, [None]][got], None)
    return out
