"""Cost and staffing figures from the event log: pure functions of the log and the static context.

Cost categories (each a sum over the measured window, or a year of it):

* ``staff``: what the service pays for its posts, FTE in post x annual cost of the role. Contacts,
  assessments, reports, enforcement, brokering and team meetings are staff *time* inside this cost, so
  they are measured in hours (FTE required), never priced a second time.
* ``contact_expenses``: non-staff expenses of contacts (testing, materials, monitoring, travel), contacts x
  the mode's ``cost_per_contact``.
* ``custody``: prisoner-days in custody-setting stages x ``costs.custody_per_day``.
* ``interventions``: provider places x the provider's (or its route's) price per place-day, by route
  (:data:`PAID_WHETHER_USED`): every place of an in-house or contracted provider, every day, used or not;
  a universal provider's place-days occupied by the agency's cases.
* ``courts``: returns to court after breach x ``costs.court_hearing``.
* ``recalls``: recalls x ``costs.recall`` (custody days after a recall are in ``custody``).

FTE required = workload hours / (productive hours per FTE-year x years); FTE available = time in post
(``capacity`` events with cause ``join``/``leave``) / length of the period. Work done by a team, or with no
staff member in the log row, goes to the default role of the setting of the case's stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from casesim.metrics import kpis
from casesim.metrics.tables import LogArrays, exposure

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from casesim.metrics.summary import MetricsContext

CATEGORIES: tuple[str, ...] = ("staff", "contact_expenses", "custody", "interventions", "courts", "recalls")
#: Event kind -> workload activity (hours per event from ``MetricsContext.workload_hours``).
#: Work counted as it happens, one log row at a time. The rest of a holder's work (contacts, reviews and
#: re-assessments) is the weekly hours of the cases it carries, its ``load`` (see ``casework`` below).
WORK_KINDS: dict[str, str] = {"assessment": "assessment", "plan": "plan", "warning": "warning",
                              "breach": "breach", "referral": "referral", "return_to_court": "breach_report"}
#: The activity label of the hours carried as caseload (contacts and the review cycle of the cases held).
CASEWORK = "casework"
CONTACT_KINDS = ("contact_kept", "contact_missed")
UNKNOWN = "unknown"
#: Routes whose places the agency pays for whether its cases use them or not: in-house places are owned,
#: contracted places a block bought by contract, so each costs places x price every day of the window. A
#: provider of any other route (universal: a public service shared with the public) is paid per place-day
#: the agency's cases occupy (``intervention_start`` to ``intervention_end``).
PAID_WHETHER_USED = frozenset({"in_house", "contracted"})
#: The columns of a result's ``costs.parquet`` and ``fte.parquet`` (:func:`missing_columns` checks a file
#: read back against them before a workbook is made of it).
COST_COLUMNS = ("year", "start_day", "end_day", "setting", "category", "cost", "currency")
FTE_COLUMNS = ("setting", "role", "workload_hours", "productive_hours_per_fte", "fte_required", "fte_available",
               "fte_at_work",
               "annual_cost_per_fte", "staff_cost")
#: A measured year's remainder shorter than this (days) is folded into the year before.
STUB_DAYS = 30.0
#: Integer type of setting, role and activity codes in the per-row flows (a few dozen names at most; a
#: national log has tens of millions of rows).
_CODE = np.int16


class _Names:
    """A vocabulary of strings with small integer codes (settings, or labels)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        c = self._codes.get(name)
        if c is None:
            c = self._codes[name] = len(self.names)
            self.names.append(name)
        return c

    def full(self, n: int, name: str) -> np.ndarray:
        return np.full(n, self.code(name), dtype=_CODE)


@dataclass(frozen=True)
class _Flows:
    """Timed amounts, each with a setting and a label (role, category or activity) as codes."""

    time: np.ndarray
    amount: np.ndarray
    setting: np.ndarray
    label: np.ndarray

    @staticmethod
    def join(parts: list[_Flows]) -> _Flows:
        if not parts:
            return _Flows(np.zeros(0), np.zeros(0), np.zeros(0, _CODE), np.zeros(0, _CODE))
        return _Flows(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("time", "amount", "setting",
                                                                                   "label")))


@dataclass(frozen=True)
class _ContactExpenses:
    """The non-staff expenses of the contacts. Their times and settings are views of the work rows'; each
    contact's price is looked up from its mode's code a piece at a time when it is summed, so neither a
    price per contact nor a label per contact is held (a national log has 30 million contacts)."""

    time: np.ndarray
    setting: np.ndarray
    mode: np.ndarray             # the contact's mode, as a code into ``price_by_mode``
    price_by_mode: np.ndarray
    label: int                   # the code of the "contact_expenses" category

    def price(self, sl: slice) -> np.ndarray:
        return self.price_by_mode[self.mode[sl]]


@dataclass(frozen=True)
class CostInputs:
    """Everything the cost tables need, extracted from the log once.

    ``events``: instantaneous amounts (hours of work, court and recall costs); ``steps``: jumps of
    step functions whose integral is the amount (posts in FTE, custody stays, place-days priced per day).
    Settings and labels are codes into ``settings`` and ``labels``.
    """

    work: _Flows                 # label = activity, amount = hours, with role in ``work_role``
    work_role: np.ndarray
    work_staff: np.ndarray       # the staff member who did each row of ``work`` (-1: a team, or nobody)
    casework: _Flows             # label = role, amount = +/- hours a day carried (caseload steps)
    casework_staff: np.ndarray   # the staff member of each caseload step
    at_work: _Flows              # label = role, amount = +/- casework hours a day given (capacity steps)
    posts: _Flows                # label = role, amount = +1 join / -1 leave
    priced_steps: _Flows         # label = category, amount = +/- price per day
    priced_events: _Flows        # label = category, amount = price
    contact_expenses: _ContactExpenses
    unpriced_modes: list[str]
    settings: _Names
    labels: _Names


def _lookup(keys: np.ndarray, table: dict[int, Any], default: Any, dtype: Any) -> np.ndarray:
    """``table[k]`` (``default`` where absent) for every id in ``keys``.

    Ids are small non-negative integers (agent ids; -1 for none), so the table becomes a dense array
    indexed by id, whose last entry (one past every id) stands for -1: one pass, no sort, no temporary
    index array (a national log has tens of millions of rows).
    """
    if not len(keys):
        return np.zeros(0, dtype=dtype)
    top = max(int(keys.max()), max(table, default=-1))
    dense = np.full(top + 2, default, dtype=dtype)   # the last entry, never an id, answers for -1
    for k, v in table.items():
        if k >= -1:
            dense[k] = v
    if int(keys.min()) < -1:   # would index from the end of the table: never in a log, refused
        raise ValueError(f"agent id {int(keys.min())} below -1 in the event log")
    return dense[keys]


def _setting_codes(lg: LogArrays, staff_ids: np.ndarray, stage_codes: np.ndarray, ctx: MetricsContext,
                     names: _Names) -> np.ndarray:
    """Setting code of each row (its staff id and stage code given): its staff member's, else its stage's,
    else the first setting with a role."""
    fallback = next(iter(ctx.setting_role), "community")
    by_stage = np.array([names.code(ctx.stage_setting.get(str(s), fallback)) for s in lg.stage_names],
                        dtype=_CODE)   # "" (no stage) is no stage's name: the fallback
    names.code(fallback)   # in the vocabulary even when no row uses it: its code does not depend on the rows
    staff = {m: names.code(ctx.staff_setting[m]) for m in ctx.staff_role if ctx.staff_setting.get(m) is not None}
    known = _lookup(staff_ids, staff, -1, _CODE)
    return np.where(known >= 0, known, by_stage[stage_codes]).astype(_CODE, copy=False)


def _setting_of_rows(lg: LogArrays, rows: np.ndarray, ctx: MetricsContext, names: _Names) -> np.ndarray:
    """Setting code of each of ``rows`` (row indices into the log)."""
    return _setting_codes(lg, lg.manager[rows], lg.stage[rows], ctx, names)


def _role_of_rows(staff_ids: np.ndarray, setting: np.ndarray, ctx: MetricsContext,
                  settings: _Names, labels: _Names) -> np.ndarray:
    """Role code of each row (its staff id given): its staff member's, else the default role of its setting."""
    by_staff = _lookup(staff_ids, {m: labels.code(r) for m, r in ctx.staff_role.items() if r is not None},
                       -1, _CODE)
    by_setting = np.array([labels.code(ctx.setting_role.get(s, UNKNOWN)) for s in settings.names] + [-1],
                          dtype=_CODE)
    return np.where(by_staff >= 0, by_staff, by_setting[setting]).astype(_CODE, copy=False)


def cost_inputs(lg: LogArrays, ctx: MetricsContext) -> CostInputs:
    """Workload, posts and priced flows of the log (whole run), extracted once per :class:`LogArrays` and
    context: the summary's costs and the cost tables share them (kept in ``lg.derived``; they are the
    largest table the metrics make, so a run computes them last and forgets them after)."""
    kept = lg.derived.get("cost_inputs")
    if kept is not None and kept[0] is ctx:
        return kept[1]
    lg.forget()   # the largest derived table: made with no other held beside it
    inp = _extract_cost_inputs(lg, ctx)
    lg.derived["cost_inputs"] = (ctx, inp)
    return inp


def _extract_cost_inputs(lg: LogArrays, ctx: MetricsContext) -> CostInputs:
    S, L = _Names(), _Names()
    w = ctx.workload_hours
    rows_l, hours_l, act_l = [], [], []
    for kind, act in WORK_KINDS.items():
        r = lg.rows(kind)
        rows_l.append(r)
        hours_l.append(np.full(len(r), float(w.get(act, 0.0))))
        act_l.append(L.full(len(r), act))
    a = list(WORK_KINDS).index("assessment")
    first = ~lg.cause_is(rows_l[a], "review")   # re-assessments at reviews are in the caseload's weekly hours
    rows_l[a], hours_l[a], act_l[a] = rows_l[a][first], hours_l[a][first], act_l[a][first]
    arr = lg.rows("arrival")
    arr = arr[~lg.cause_is(arr, "initial")]   # a new case comes to court for sentence: a pre-sentence report
    rows_l.append(arr)
    hours_l.append(np.full(len(arr), float(w.get("pre_sentence_report", 0.0))))
    act_l.append(L.full(len(arr), "pre_sentence_report"))
    # (a national log has tens of millions of rows: each list of pieces is freed as soon as it is joined)
    rows = np.concatenate(rows_l)   # row indices as LogArrays holds them (32-bit)
    del rows_l
    hours = np.concatenate(hours_l)
    del hours_l
    act = np.concatenate(act_l).astype(_CODE, copy=False)
    del act_l
    staff_ids = lg.manager[rows]   # gathered once for the setting and the role, then freed
    setting = _setting_codes(lg, staff_ids, lg.stage[rows], ctx, S)
    work_role = _role_of_rows(staff_ids, setting, ctx, S, L)
    work_time = lg.time[rows]
    work = _Flows(work_time, hours, setting, act)
    work_staff = np.where(_lookup(staff_ids, {m: True for m in ctx.staff_setting}, False, bool), staff_ids, -1)
    del rows, staff_ids, hours, act, work_time
    casework, casework_staff = _steps_by_staff(lg, lg.rows("load"), ctx, S, L)
    cap = lg.rows("capacity")
    at_work, _ = _steps_by_staff(lg, cap, ctx, S, L)
    cap = cap[lg.cause_is(cap, "join") | lg.cause_is(cap, "leave")]
    post_set = _setting_of_rows(lg, cap, ctx, S)
    fte = _lookup(lg.manager[cap], {int(k): float(v) for k, v in ctx.staff_fte.items()}, 1.0, np.float64)
    posts = _Flows(lg.time[cap], np.where(lg.cause_is(cap, "join"), fte, -fte), post_set,
                   _role_of_rows(lg.manager[cap], post_set, ctx, S, L))

    steps = []
    custody = lg.stage_mask({s for s, v in ctx.stage_setting.items() if v == "custody"})
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")
    enter, leave = enter[custody[lg.stage[enter]]], leave[custody[lg.stage[leave]]]
    t = np.concatenate([lg.time[enter], lg.time[leave]])
    steps.append(_Flows(t, np.r_[np.ones(len(enter)), -np.ones(len(leave))] * ctx.custody_cost_per_day,
                        S.full(len(t), "custody"), L.full(len(t), "custody")))
    block = sorted(int(k) for k, r in ctx.provider_route.items() if r in PAID_WHETHER_USED)
    paid_whole = set(block)
    starts, ends = lg.rows("intervention_start"), lg.rows("intervention_end")
    both = np.concatenate([starts, ends])
    prov = lg.manager[both]
    per_used = {int(k): float(v) for k, v in ctx.provider_cost_per_day.items() if int(k) not in paid_whole}
    price = _lookup(prov, per_used, 0.0, np.float64)
    sign = np.r_[np.ones(len(starts)), -np.ones(len(ends))]
    pset = _lookup(prov, {int(k): S.code(v) for k, v in ctx.provider_setting.items()}, -1, _CODE)
    pset = np.where(pset >= 0, pset, S.code(UNKNOWN) if (pset < 0).any() else 0).astype(_CODE)
    steps.append(_Flows(lg.time[both], sign * price, pset, L.full(len(both), "interventions")))
    # places paid whether used or not: one step from day 0 of places x price a day per provider
    steps.append(_Flows(np.zeros(len(block)),
                        np.array([float(ctx.provider_places.get(k, 0)) * float(ctx.provider_cost_per_day.get(k, 0.0))
                                  for k in block]),
                        np.array([S.code(ctx.provider_setting.get(k, UNKNOWN)) for k in block], dtype=_CODE),
                        L.full(len(block), "interventions")))

    evs = []
    for kind, cat, price_each in (("return_to_court", "courts", ctx.court_cost),
                                  ("recall", "recalls", ctx.recall_cost)):
        r = lg.rows(kind)
        evs.append(_Flows(lg.time[r], np.full(len(r), float(price_each)), _setting_of_rows(lg, r, ctx, S),
                          L.full(len(r), cat)))
    contacts = np.concatenate([lg.rows(k) for k in CONTACT_KINDS])
    mode_codes = lg.cause[contacts]
    used = np.flatnonzero(np.bincount(mode_codes, minlength=len(lg.cause_names)))   # the modes contacts name
    unpriced = sorted(str(lg.cause_names[c]) for c in used if w.get(f"contact:{lg.cause_names[c]}") is None)
    price_by_code = np.array([float(ctx.contact_cost.get(str(m), 0.0)) for m in lg.cause_names])
    expenses = _ContactExpenses(lg.time[contacts], _setting_of_rows(lg, contacts, ctx, S), mode_codes,
                                price_by_code, L.code("contact_expenses"))
    del contacts
    return CostInputs(work=work, work_role=work_role, work_staff=work_staff, casework=casework,
                      casework_staff=casework_staff, at_work=at_work, posts=posts, priced_steps=_Flows.join(steps),
                      priced_events=_Flows.join(evs), contact_expenses=expenses, unpriced_modes=unpriced,
                      settings=S, labels=L)


def _steps_by_staff(lg: LogArrays, rows: np.ndarray, ctx: MetricsContext, S: _Names,
                    L: _Names) -> tuple[_Flows, np.ndarray]:
    """The ``load`` or ``capacity`` rows ``rows`` as steps of hours a day (their values are hours a week),
    each with its staff member's setting and role, and the staff member."""
    staff_ids = lg.manager[rows]
    setting = _setting_codes(lg, staff_ids, lg.stage[rows], ctx, S)
    return _Flows(lg.time[rows], lg.value[rows] / 7.0, setting,
                  _role_of_rows(staff_ids, setting, ctx, S, L)), staff_ids


def _in(f: _Flows | _ContactExpenses, s: float, e: float) -> np.ndarray:
    return (f.time >= s) & (f.time < e)


#: Rows per piece when summing by group: the integer keys bincount needs are made a piece at a time.
_PIECE = 1 << 18


def _bin_sums(keys: Callable[[slice], np.ndarray], values: np.ndarray | Callable[[slice], np.ndarray], rows: int,
              n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the values of ``rows`` rows per key ``0..n-1``: the keys and values of rows ``sl``
    are ``keys(sl)`` and ``values[sl]`` (or ``values(sl)``); rows outside ``mask`` are left out.

    The sums add the values in array order, exactly as one ``bincount`` over all rows would: the rows go
    a piece at a time, and each piece's ``bincount`` starts from the sums so far (given as the first
    ``n`` weights, added to bincount's zeros). Only one piece's 64-bit keys exist at once (a national
    log has tens of millions of rows to sum).
    """
    sums, counts = np.zeros(n), np.zeros(n, dtype=np.int64)
    head = np.arange(n)
    for lo in range(0, rows, _PIECE):
        sl = slice(lo, lo + _PIECE)
        k = keys(sl).astype(np.int64)
        if mask is not None:
            k[~mask[sl]] = n   # a spare bin
        v = values(sl) if callable(values) else values[sl]
        sums = np.bincount(np.concatenate([head, k]), np.concatenate([sums, v]), n + 1)[:n]
        counts += np.bincount(k, minlength=n + 1)[:n]
    return sums, counts


def _group(codes: np.ndarray, values: np.ndarray, names: _Names, mask: np.ndarray | None = None) -> dict[str, float]:
    """Sum of ``values`` by code, keyed by name in name order (codes that occur); sums run in array order.

    With ``mask``, only the rows it selects."""
    if not len(values):
        return {}
    sums, counts = _bin_sums(lambda sl: codes[sl], values, len(values), len(names.names), mask)
    return {names.names[i]: float(sums[i]) for i in sorted(np.flatnonzero(counts), key=lambda i: names.names[i])}


def _group2(first: np.ndarray, second: np.ndarray | int, values: np.ndarray | Callable[[slice], np.ndarray],
            inp: CostInputs, mask: np.ndarray | None = None) -> dict[tuple[str, str], float]:
    """Sum of ``values`` by (setting, label) code pair, keyed by names (pairs that occur); sums in array order.

    ``second`` may be one label for every row, and ``values`` a function giving the values of a slice of
    rows. With ``mask``, only the rows it selects: each pair's sum adds the same values in the same order as
    over the selected rows alone, with no gathered copies."""
    if not len(first):
        return {}
    n1, n2 = len(inp.settings.names), max(1, len(inp.labels.names))

    def pair(sl: slice) -> np.ndarray:
        out = first[sl].astype(np.int64) * n2
        out += second if isinstance(second, int) else second[sl]
        return out

    sums, counts = _bin_sums(pair, values, len(first), n1 * n2, mask)
    return {(inp.settings.names[i // n2], inp.labels.names[i % n2]): float(sums[i]) for i in np.flatnonzero(counts)}


def staff_in(inp: CostInputs, ctx: MetricsContext, s: float, e: float) -> pd.DataFrame:
    """FTE required against FTE available in ``[s, e)``, by setting and role, with the staff cost."""
    years = (e - s) / ctx.year_days
    p = inp.posts
    post_days = _group2(p.setting, p.label, p.amount * exposure(p.time, s, e), inp)
    hours = _group2(inp.work.setting, inp.work_role, inp.work.amount, inp, _in(inp.work, s, e))
    c, w = inp.casework, inp.at_work
    for k, v in _group2(c.setting, c.label, c.amount * exposure(c.time, s, e), inp).items():
        hours[k] = hours.get(k, 0.0) + v
    given = _group2(w.setting, w.label, w.amount * exposure(w.time, s, e), inp)
    rows = []
    for k in sorted(set(post_days) | set(hours) | set(given)):
        setting, role = k
        avail = post_days.get(k, 0.0) / (e - s)
        prod = float(ctx.role_hours.get(role, 0.0))
        annual = float(ctx.role_annual_cost.get(role, 0.0))
        h = hours.get(k, 0.0)
        per_fte = prod * years
        rows.append({"setting": setting, "role": role, "workload_hours": h, "productive_hours_per_fte": prod,
                     "fte_required": h / per_fte if prod > 0 else 0.0, "fte_available": avail,
                     "fte_at_work": given.get(k, 0.0) / per_fte if prod > 0 else 0.0,
                     "annual_cost_per_fte": annual, "staff_cost": avail * years * annual})
    return pd.DataFrame(rows, columns=list(FTE_COLUMNS))


def costs_in(inp: CostInputs, ctx: MetricsContext, s: float, e: float) -> dict[tuple[str, str], float]:
    """Cost by (setting, category) in ``[s, e)``."""
    out: dict[tuple[str, str], float] = {}
    staff = staff_in(inp, ctx, s, e)
    for setting, cost in staff.groupby("setting")["staff_cost"].sum().items():
        out[(str(setting), "staff")] = float(cost)
    st = inp.priced_steps
    for k, v in _group2(st.setting, st.label, st.amount * exposure(st.time, s, e), inp).items():
        out[k] = out.get(k, 0.0) + v
    ev, ce = inp.priced_events, inp.contact_expenses   # categories apart from each other and from the above
    for k, v in (*_group2(ev.setting, ev.label, ev.amount, inp, _in(ev, s, e)).items(),
                 *_group2(ce.setting, ce.label, ce.price, inp, _in(ce, s, e)).items()):
        out[k] = out.get(k, 0.0) + v
    return out


def year_bounds(ctx: MetricsContext) -> list[tuple[int, float, float]]:
    """Measured years ``(number, start, end)`` from the warm-up on; the last may be partial, and a remainder
    shorter than ``STUB_DAYS`` joins the year before (1,096 days are three years, not three and a stub)."""
    out, k, s = [], 1, ctx.warmup
    while s < ctx.horizon - 1e-9:
        e = min(ctx.warmup + k * ctx.year_days, ctx.horizon)
        if ctx.horizon - e < STUB_DAYS:
            e = ctx.horizon
        out.append((k, s, e))
        k, s = k + 1, e
    return out


def settings_of(ctx: MetricsContext) -> list[str]:
    """Every setting the service has (stages, staff, roles)."""
    return sorted(set(ctx.stage_setting.values()) | set(ctx.staff_setting.values()) | set(ctx.setting_role))


def cost_table(events: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """Cost by measured year x setting x category (every combination, zeros included)."""
    return _cost_table(cost_inputs(LogArrays.of(events), ctx), ctx)


def fte_table(events: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """FTE required against available over the measured window, by setting and role."""
    return staff_in(cost_inputs(LogArrays.of(events), ctx), ctx, ctx.warmup, ctx.horizon)


def cost_and_fte_tables(events: pd.DataFrame, ctx: MetricsContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(cost_table, fte_table)`` from one extraction of the cost inputs (a run writes both)."""
    inp = cost_inputs(LogArrays.of(events), ctx)
    return _cost_table(inp, ctx), staff_in(inp, ctx, ctx.warmup, ctx.horizon)


def _cost_table(inp: CostInputs, ctx: MetricsContext) -> pd.DataFrame:
    rows = []
    for year, s, e in year_bounds(ctx):
        got = costs_in(inp, ctx, s, e)
        settings = sorted(set(settings_of(ctx)) | {k[0] for k in got})
        for setting in settings:
            for cat in CATEGORIES:
                rows.append({"year": year, "start_day": s, "end_day": e, "setting": setting, "category": cat,
                             "cost": got.get((setting, cat), 0.0), "currency": ctx.currency})
    return pd.DataFrame(rows, columns=list(COST_COLUMNS))


def cost_summary(lg: LogArrays, ctx: MetricsContext, case_years: float, orders_completed: int) -> dict[str, Any]:
    """The cost and staffing keys of ``summary.json`` over the window (see the module docstring)."""
    inp = cost_inputs(lg, ctx)
    a, h = ctx.warmup, ctx.horizon
    got = costs_in(inp, ctx, a, h)
    settings = sorted(set(settings_of(ctx)) | {k[0] for k in got})
    by_setting = {s: {c: got.get((s, c), 0.0) for c in CATEGORIES} for s in settings}
    by_cat = {c: sum(by_setting[s][c] for s in settings) for c in CATEGORIES}
    total = sum(by_cat.values())
    staff = staff_in(inp, ctx, a, h)
    per = staff.groupby("setting")[["fte_required", "fte_available", "fte_at_work"]].sum()
    m = _in(inp.work, a, h)
    c = inp.casework
    by_activity = _group(inp.work.label, inp.work.amount, inp.labels, m)
    by_activity[CASEWORK] = float((c.amount * exposure(c.time, a, h)).sum())
    need, at_work = float(staff["fte_required"].sum()), float(staff["fte_at_work"].sum())
    starts, ends = lg.rows("intervention_start"), lg.rows("intervention_end")
    place_days = exposure(lg.time[starts], a, h).sum() - exposure(lg.time[ends], a, h).sum()
    return {
        "cost_by_category": by_cat, "cost_total": total,
        "cost_by_setting": {s: sum(v.values()) for s, v in by_setting.items()},
        "cost_per_case_year": total / case_years if case_years else None,
        "orders_completed": int(orders_completed),
        "cost_per_completed_order": total / orders_completed if orders_completed else None,
        "fte_required": need, "fte_available": float(staff["fte_available"].sum()), "fte_at_work": at_work,
        "fte_required_by_setting": {str(s): float(v) for s, v in per["fte_required"].items()},
        "fte_available_by_setting": {str(s): float(v) for s, v in per["fte_available"].items()},
        "fte_at_work_by_setting": {str(s): float(v) for s, v in per["fte_at_work"].items()},
        "workload_pressure": need / at_work if at_work > 0 else None,
        "workload_pressure_by_setting": {str(s): (float(r.fte_required / r.fte_at_work) if r.fte_at_work > 0
                                                  else None) for s, r in per.iterrows()},
        "workload_hours": float(sum(by_activity.values())),
        "workload_hours_by_activity": dict(sorted(by_activity.items())),
        **excessive_workload(lg, ctx, inp),
        "intervention_place_days": float(place_days),
        "unpriced_contact_modes": inp.unpriced_modes,
    }


#: The Workload Measurement Tool's rule for excessive workload (HMPPS; parliamentary answer of 30 March 2021):
#: above 110% of capacity for four consecutive weeks.
EXCESSIVE_PRESSURE = 1.10
EXCESSIVE_WEEKS = 4


def _integrals(time: np.ndarray, jump: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The integral from 0 to each of ``bounds`` of the step function that starts at 0 and jumps by
    ``jump`` at ``time`` (sorted)."""
    idx = np.searchsorted(time, bounds, side="left")   # jumps strictly before each bound
    d = np.r_[0.0, np.cumsum(jump)]
    td = np.r_[0.0, np.cumsum(jump * time)]
    return bounds * d[idx] - td[idx]


def excessive_workload(lg: LogArrays, ctx: MetricsContext, inp: CostInputs) -> dict[str, Any]:
    """``share_staff_excessive_workload``: of the staff-weeks of the window in which a staff member gave any
    casework hours, the share in which its workload had been above 110% of them for that week and the three
    before (:data:`EXCESSIVE_PRESSURE`, :data:`EXCESSIVE_WEEKS`); overall and by setting.

    A member's workload in a week is the hours its caseload asked that week (the integral of its ``load``)
    plus the hours of the work it did that week (the rows of :data:`WORK_KINDS` it is named in); its
    capacity is the integral of its capacity (zero while absent). Weeks run from the end of the warm-up;
    up to three weeks before it count towards the first weeks' runs. Work done by a team or by nobody in
    particular counts in FTE required and ``workload_pressure`` but in no member's week.
    """
    a, h = ctx.warmup, ctx.horizon
    n_weeks = int((h - a) // 7)
    lead = min(EXCESSIVE_WEEKS - 1, int(a // 7))
    bounds = a + 7.0 * np.arange(-lead, n_weeks + 1)
    settings = sorted(set(ctx.staff_setting.values()))
    num = dict.fromkeys(settings, 0)
    den = dict.fromkeys(settings, 0)
    if n_weeks > 0 and ctx.staff_setting:
        c, w = inp.casework, inp.at_work
        cap_rows = lg.rows("capacity")
        c_order = np.lexsort((c.time, inp.casework_staff))
        w_staff = lg.manager[cap_rows]
        w_order = np.lexsort((w.time, w_staff))
        c_staff, w_staff = inp.casework_staff[c_order], w_staff[w_order]
        c_time, c_jump, w_time, w_jump = c.time[c_order], c.amount[c_order], w.time[w_order], w.amount[w_order]
        done = inp.work_staff >= 0
        week = np.floor((inp.work.time - bounds[0]) / 7.0).astype(np.int64)
        done &= (week >= 0) & (week < len(bounds) - 1)
        staff_list = np.array(sorted(ctx.staff_setting), dtype=np.int64)
        rank = np.searchsorted(staff_list, inp.work_staff[done])
        one_off = np.bincount(rank * (len(bounds) - 1) + week[done], inp.work.amount[done],
                              len(staff_list) * (len(bounds) - 1)).reshape(len(staff_list), -1)
        c_lo, c_hi = np.searchsorted(c_staff, staff_list), np.searchsorted(c_staff, staff_list, side="right")
        w_lo, w_hi = np.searchsorted(w_staff, staff_list), np.searchsorted(w_staff, staff_list, side="right")
        for i, m in enumerate(staff_list):
            cs, ws = slice(c_lo[i], c_hi[i]), slice(w_lo[i], w_hi[i])
            hours = np.diff(_integrals(c_time[cs], c_jump[cs], bounds)) + one_off[i]
            cap = np.diff(_integrals(w_time[ws], w_jump[ws], bounds))
            at_work = cap > 1e-9
            over = at_work & (hours > EXCESSIVE_PRESSURE * cap + 1e-9)
            run = np.ones(n_weeks, dtype=bool)
            for back in range(EXCESSIVE_WEEKS):   # this week and the three before, where the run can see them
                start = lead - back
                run &= over[start:start + n_weeks] if start >= 0 else False
            setting = ctx.staff_setting[int(m)]
            num[setting] += int((run & at_work[lead:]).sum())
            den[setting] += int(at_work[lead:].sum())
    total = sum(den.values())
    return {"share_staff_excessive_workload": sum(num.values()) / total if total else None,
            "share_staff_excessive_workload_by_setting": {s: num[s] / den[s] if den[s] else None for s in settings}}


def context_prices(scenario: Any) -> dict[str, Any]:
    """The cost fields of :class:`~casesim.metrics.summary.MetricsContext` that come from the scenario alone."""
    c = scenario.costs
    w = c.workload
    hours: dict[str, float] = {k: float(getattr(w, k)) for k in type(w).model_fields if k != "contact"}
    hours.update({f"contact:{m}": float(v) for m, v in w.contact.items()})
    return {"setting_role": dict(c.default_role),
            "role_annual_cost": {r: v.annual_cost for r, v in c.roles.items()},
            "role_hours": {r: v.productive_hours for r, v in c.roles.items()},
            "workload_hours": hours}


def provider_price(scenario: Any, spec: Any) -> float:
    """Price per place-day of a provider: its own, or its route's (``costs.price_providers_by``); which
    place-days are charged depends on the route (:data:`PAID_WHETHER_USED`)."""
    if scenario.costs.price_providers_by == "route":
        return float(scenario.costs.place_day_by_route.get(spec.route, 0.0))
    return float(spec.cost_per_place_day)


# ---------------------------------------------------------------- workbook for people who do not use Python

#: Summary keys shown on the workbook's summary sheet.
SUMMARY_KEYS = ("currency", "case_years", "cost_total", "cost_per_case_year", "orders_completed",
                "cost_per_completed_order", "fte_required", "fte_available", "workload_hours")


def parameter_rows(model: Any, prefix: str = "", meta: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every parameter of a scenario (or section): dotted path, value, unit, source, description."""
    from pydantic import BaseModel

    rows: list[dict[str, Any]] = []
    for name, info in type(model).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        here = {"unit": extra.get("unit", ""), "source": extra.get("source", ""),
                "description": info.description or ""}
        if here["unit"] == "unit of the parameter" and meta:   # ByRisk levels take their parent's unit/source
            here = meta
        rows.extend(_value_rows(getattr(model, name), f"{prefix}{name}", here, BaseModel))
    return rows


def _value_rows(value: Any, path: str, meta: dict[str, Any], base: type) -> list[dict[str, Any]]:
    if isinstance(value, base):
        return parameter_rows(value, f"{path}.", meta)
    if isinstance(value, dict) and value:
        return [r for k, v in value.items() for r in _value_rows(v, f"{path}.{k}", meta, base)]
    if isinstance(value, list) and any(isinstance(v, base) for v in value):
        return [r for i, v in enumerate(value) for r in _value_rows(v, f"{path}.{i}", meta, base)]
    shown = value if isinstance(value, int | float | str | bool) and not isinstance(value, bool) else str(value)
    return [{"parameter": path, "value": shown, **meta}]


#: The author written into the workbook's document properties (``dc:creator``).
WORKBOOK_CREATOR = "casesim"


def missing_columns(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The ``columns`` that ``table`` (a cost or FTE table read back from a result) lacks."""
    return [c for c in columns if c not in table.columns]


def is_casesim_workbook(path: str | Path) -> bool:
    """Whether the file at ``path`` is a workbook :func:`write_workbook` wrote (its author is casesim)."""
    import zipfile
    from xml.etree import ElementTree

    try:
        with zipfile.ZipFile(path) as book:
            core = ElementTree.fromstring(book.read("docProps/core.xml"))
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return False
    creator = core.find("{http://purl.org/dc/elements/1.1/}creator")
    return creator is not None and creator.text == WORKBOOK_CREATOR


#: Number formats of the workbook (Excel codes): money, FTE, other counts and amounts, and shares.
FTE_FORMAT, AMOUNT_FORMAT, SHARE_FORMAT = "#,##0.0", "#,##0", "0.0##%"
#: Column widths (characters): at least Excel's default and a little more, at most this.
MIN_WIDTH, MAX_WIDTH = 10, 80


def money_format(currency: str) -> str:
    """Excel number format of an amount of money: thousands separators, no decimals, the currency code after
    (``202,594,430 GBP``)."""
    code = "".join(ch for ch in currency if ch.isalnum())
    return f'#,##0 "{code}"' if code else "#,##0"


def number_format(name: str, unit: str, currency: str) -> str | None:
    """The number format of a value called ``name`` (a column header, or a summary measure) with ``unit``
    (an assumption's unit; ""), or None to leave Excel's General: money for costs (``cost``, ``cost_*``,
    ``*_cost``, ``*_cost_per_fte``, the pivot's ``year N``), one decimal for FTE and case-years, whole numbers
    for hours and counts, and % for shares (a KPI of kind share in :mod:`casesim.metrics.kpis`, or an assumption whose
    unit is a share, a probability or 0..1)."""
    key = name.split(".", 1)[0]
    if key.startswith(("cost", "year ")) or key.endswith(("_cost", "_cost_per_fte")):
        return money_format(currency)
    if key.startswith("fte") or key == "case_years":
        return FTE_FORMAT
    if key in ("workload_hours", "workload_hours_by_activity", "productive_hours_per_fte", "orders_completed",
               "intervention_place_days", "custody_days"):
        return AMOUNT_FORMAT
    if kpis.kind_of(name) == kpis.SHARE or unit.startswith(("share", "probability")) or unit == "0..1":
        return SHARE_FORMAT
    return None


def _shown_width(value: Any, fmt: str) -> int:
    """About how many characters Excel shows for ``value`` in format ``fmt``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or fmt == "General":
        return len(str(value if value is not None else ""))
    if fmt == SHARE_FORMAT:
        return len(f"{100 * value:.3f}%")
    text = f"{value:,.1f}" if fmt == FTE_FORMAT else f"{value:,.0f}"
    return len(text) + (len(fmt) - fmt.index('"') - 1 if '"' in fmt else 0)


def format_sheet(sheet: Any, currency: str) -> None:
    """Make a written sheet readable: the header row frozen (it stays in view when scrolling), number formats
    by column header (:func:`number_format`; on the ``summary`` sheet by each row's measure, on
    ``assumptions`` by each row's unit), and every column as wide as its header and its first 200 values as
    shown (between :data:`MIN_WIDTH` and :data:`MAX_WIDTH`)."""
    sheet.freeze_panes = "A2"
    rows = list(sheet.iter_rows())
    if not rows:
        return
    header = [str(c.value or "") for c in rows[0]]
    by_column = [number_format(h, "", currency) for h in header]
    # on these sheets the format of each row's value depends on the row: its measure, or its unit
    named_by = {"summary": "measure", "assumptions": "unit"}.get(sheet.title)
    per_row = named_by in header and "value" in header
    for row in rows[1:]:
        formats = list(by_column)
        if per_row:
            name = str(row[header.index(named_by)].value or "")
            formats[header.index("value")] = (number_format(name, "", currency) if named_by == "measure"
                                              else number_format("", name, currency))
        for cell, fmt in zip(row, formats, strict=False):
            if fmt and isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                cell.number_format = fmt
    for col in sheet.iter_cols(max_row=201):
        width = max(_shown_width(c.value, c.number_format) for c in col)
        sheet.column_dimensions[col[0].column_letter].width = min(max(MIN_WIDTH, width + 2), MAX_WIDTH)


def write_workbook(path: str | Path, costs: pd.DataFrame, fte: pd.DataFrame, summary: dict[str, Any],
                   scenario: Any) -> Path:
    """An Excel workbook: summary, costs (year x setting x category), cost pivot, FTE and assumptions, each
    sheet with its header frozen, number formats and fitted column widths (:func:`format_sheet`).

    The assumptions are those of the run: its seed (``summary["seed"]``) is shown even where ``scenario``
    still holds its file's. The workbook's author is :data:`WORKBOOK_CREATOR`, which tells a later
    ``casesim costs`` that it may replace it (:func:`is_casesim_workbook`)."""
    path = Path(path)
    if isinstance(summary.get("seed"), int):
        scenario = scenario.with_seed(summary["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    head = [{"measure": k, "value": summary.get(k)} for k in SUMMARY_KEYS]
    head += [{"measure": f"cost_by_category.{k}", "value": v} for k, v in summary.get("cost_by_category", {}).items()]
    for key in ("fte_required_by_setting", "fte_available_by_setting", "cost_by_setting"):
        head += [{"measure": f"{key}.{k}", "value": v} for k, v in summary.get(key, {}).items()]
    pivot = costs.pivot_table(index=["setting", "category"], columns="year", values="cost", aggfunc="sum",
                              fill_value=0.0).reset_index() if len(costs) else pd.DataFrame()
    pivot.columns = [c if isinstance(c, str) else f"year {c}" for c in pivot.columns]
    tmp = path.with_name(f".{path.name}.tmp")
    with pd.ExcelWriter(tmp, engine="openpyxl") as xl:
        pd.DataFrame(head).to_excel(xl, sheet_name="summary", index=False)
        costs.to_excel(xl, sheet_name="costs", index=False)
        pivot.to_excel(xl, sheet_name="costs_by_year", index=False)
        fte.to_excel(xl, sheet_name="fte", index=False)
        pd.DataFrame(parameter_rows(scenario)).to_excel(xl, sheet_name="assumptions", index=False)
        xl.book.properties.creator = WORKBOOK_CREATOR
        currency = str(summary.get("currency") or getattr(getattr(scenario, "costs", None), "currency", ""))
        for sheet in xl.book.worksheets:
            format_sheet(sheet, currency)
    tmp.replace(path)
    return path
