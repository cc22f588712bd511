"""Run metrics computed from the event log.

Every function here is a pure function of the event frame (``EventLog.to_frame()``),
a small static :class:`MetricsContext` and, where case attributes are needed, the case
register. All work is column-wise (numpy/pandas); nothing loops over rows, so logs of
millions of rows summarise in seconds.

Conventions:

* The measurement window is ``W = [warmup, horizon)`` and ``T = horizon - warmup``.
  Counts "in W" take events with ``warmup <= time < horizon``.
* State changes take effect at their event time (step functions are right-continuous),
  and time integrals are exact: each jump at ``t`` contributes its size times the
  length of ``[max(t, warmup), horizon)``; nothing is sampled.
* Cases with no ``exit`` are censored at the horizon. Rows whose cause is
  ``end_of_run`` (which the engine does not log) are
  treated as censoring, not as exits.
* Row order breaks ties between events at the same instant (rows are appended in
  time order), e.g. a contact logged after a ``risk_change`` at the same time is
  attributed to the new risk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from casesim.metrics.costs import context_prices, cost_summary, provider_price
from casesim.metrics.reoffending import StageRoles, reoffending_summary, stage_roles
from casesim.metrics.tables import (
    TOL,
    UNKNOWN_RISK,
    LogArrays,
    RiskTrack,
    case_table,
    exposure,
    latest_label,
    staff_arrays,
    staff_load,
    stage_list,
    stage_occupancy,
    tick_index,
)
from casesim.scenario.params import DAYS_PER_YEAR

if TYPE_CHECKING:
    from casesim.engine.simulation import Simulation

__all__ = [
    "MetricsContext",
    "case_table",
    "staff_load",
    "stage_occupancy",
    "summarize",
    "timeseries",
]

#: Event kinds counted as plain flows, by their output name.
FLOW_KINDS = {"warnings": "warning", "breaches": "breach",
              "returns_to_court": "return_to_court", "recalls": "recall",
              "continuity_breaks": "manager_change", "referrals": "referral"}


@dataclass(frozen=True)
class MetricsContext:
    """Static facts the metrics need besides the log.

    Attributes:
        warmup: Start of the measurement window (days).
        horizon: End of the run and of the window (days).
        tick: Days per time-series step.
        stage_setting: Stage name -> "community" | "custody".
        order_stages: Stages whose completions count in ``completion_rate``.
        staff_setting: Staff id -> setting.
        contact_cost: Mode name -> non-staff expenses of one contact (kept or missed).
        custody_cost_per_day: Cost of one case-day in a custody-setting stage.
        provider_cost_per_day: Provider id -> cost per occupied place-day.
        court_cost: Cost per ``return_to_court``.
        recall_cost: Cost per ``recall``.
        currency: Currency label for the costs.
        staff_role: Staff id -> role (key of ``role_annual_cost`` and ``role_hours``).
        setting_role: Setting -> role of work not done by a staff member in the log (teams, brokering).
        role_annual_cost: Role -> cost of one FTE-year (salary and on-costs).
        role_hours: Role -> productive hours per FTE-year.
        staff_fte: Staff id -> FTE of its post (1 where absent).
        workload_hours: Activity -> staff hours per event; contacts as ``contact:<mode>``
            (see :mod:`casesim.metrics.costs`).
        provider_setting: Provider id -> setting.
        provider_places: Provider id -> places (what an in-house or contracted provider is paid for).
        provider_route: Provider id -> route (``in_house``, ``contracted``, ``universal``): how its places are
            charged (:data:`casesim.metrics.costs.PAID_WHETHER_USED`).
        year_days: Days per year for per-year tables and FTE.
        roles: What the journey's stages are to the reoffending measures (court-order, release, recall stages
            and breach targets; :func:`casesim.metrics.reoffending.stage_roles`); none by default.
    """

    warmup: float
    horizon: float
    tick: float
    stage_setting: Mapping[str, str]
    order_stages: frozenset[str]
    staff_setting: Mapping[int, str]
    contact_cost: Mapping[str, float]
    custody_cost_per_day: float
    provider_cost_per_day: Mapping[int, float]
    court_cost: float
    recall_cost: float
    currency: str = "GBP"
    staff_role: Mapping[int, str] = field(default_factory=dict)
    setting_role: Mapping[str, str] = field(default_factory=dict)
    role_annual_cost: Mapping[str, float] = field(default_factory=dict)
    role_hours: Mapping[str, float] = field(default_factory=dict)
    staff_fte: Mapping[int, float] = field(default_factory=dict)
    workload_hours: Mapping[str, float] = field(default_factory=dict)
    provider_setting: Mapping[int, str] = field(default_factory=dict)
    provider_places: Mapping[int, int] = field(default_factory=dict)
    provider_route: Mapping[int, str] = field(default_factory=dict)
    year_days: float = DAYS_PER_YEAR
    roles: StageRoles = field(default_factory=StageRoles)

    def __post_init__(self) -> None:
        """Reject windows and ticks that make no sense."""
        if not 0 <= self.warmup < self.horizon:
            raise ValueError(f"need 0 <= warmup < horizon, got {self.warmup}, {self.horizon}")
        if not self.tick > 0:
            raise ValueError(f"tick must be positive, got {self.tick}")


def _num(x: Any) -> Any:
    """A plain Python number (None for NaN/None)."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return None if math.isnan(x) else x


def _ratio(num: float, den: float) -> float | None:
    """``num / den`` as a float, None when ``den`` is 0."""
    return float(num) / float(den) if den else None


def _rates_by(labels: np.ndarray, kept: np.ndarray, names: list[str] | np.ndarray) -> dict:
    """Share of kept contacts per label, for labels that have contacts."""
    n = len(names)
    total = np.bincount(labels, minlength=n)
    hits = np.bincount(labels, weights=kept.astype(np.float64), minlength=n)
    return {str(names[i]): float(hits[i] / total[i]) for i in np.flatnonzero(total)}


def _case_counts(lg: LogArrays, a: float, h: float) -> dict[str, Any]:
    """Entered/exited/active counts and the active-case integral over W."""
    arr, ext = lg.rows("arrival"), lg.closing("exit")
    ta, te = lg.time[arr], lg.time[ext]
    area = exposure(ta, a, h).sum() - exposure(te, a, h).sum()
    return {
        "cases_entered": int(((ta >= a) & (ta < h)).sum()),
        "cases_exited": int(((te >= a) & (te < h)).sum()),
        "cases_active_start": int((ta < a).sum() - (te < a).sum()),
        "cases_active_end": int((ta < h).sum() - (te < h).sum()),
        "cases_initial": int(lg.cause_is(arr, "initial").sum()),
        "case_years": float(area) / DAYS_PER_YEAR,
    }


def _staff_summary(lg: LogArrays, ctx: MetricsContext) -> dict[str, Any]:
    """Caseload, pressure and over-capacity shares, overall and by setting."""
    seg = staff_arrays(lg, ctx.horizon, ctx.staff_setting)
    dur = exposure(seg["start"], ctx.warmup, ctx.horizon) - exposure(seg["end"], ctx.warmup,
                                                                     ctx.horizon)
    cap = seg["capacity"]
    avail = cap > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        press = np.where(avail, seg["load"] / np.where(avail, cap, 1.0), 0.0)
    parts = {"count": seg["count"] * dur, "avail": avail * dur, "post": (seg["in_post"] > 0) * dur,
             "press": press * dur,
             "over": (avail & (press > 1 + TOL)) * dur,
             "over110": (avail & (press > 1.1 + TOL)) * dur}

    def block(mask: np.ndarray | slice) -> dict[str, float | None]:
        den = parts["avail"][mask].sum()
        out = {k: _ratio(parts[k][mask].sum(), den) for k in ("press", "over", "over110")}
        out["count"] = _ratio(parts["count"][mask].sum(), parts["post"][mask].sum())  # per member in post
        return out

    overall = block(slice(None))
    settings = sorted(set(ctx.staff_setting.values()) | {str(s) for s in seg["setting"]})
    by = {s: block(seg["setting"] == s) for s in settings}
    out: dict[str, Any] = {}
    for key, part in (("mean_caseload", "count"), ("mean_caseload_pressure", "press"),
                      ("share_manager_time_over_capacity", "over"),
                      ("share_manager_time_over_110", "over110")):
        out[key] = overall[part]
        out[f"{key}_by_setting"] = {s: by[s][part] for s in settings}
    return out


def _compliance(lg: LogArrays, register: pd.DataFrame, a: float, h: float) -> dict[str, Any]:
    """Contact compliance in W, overall and by stage, mode and risk at the contact (one row a contact)."""
    kept_rows = lg.in_window(lg.rows("contact_kept"), a, h)
    rows = np.concatenate([kept_rows, lg.in_window(lg.rows("contact_missed"), a, h)])
    n_kept, n_required = len(kept_rows), len(rows)
    n_cancelled = len(lg.in_window(lg.rows("contact_cancelled"), a, h))
    late = lg.in_window(lg.rows("contact_late"), a, h)   # each at the time of its kept or missed row
    kept = np.zeros(len(rows), dtype=bool)   # the kept ones come first
    kept[:len(kept_rows)] = True
    risk = RiskTrack(lg, register)
    at_contact = risk.at(lg.case[rows], rows)
    return {
        "contacts_required": n_required,
        "contacts_kept": n_kept,
        "contacts_not_offered": n_cancelled,
        "share_contacts_not_offered": _ratio(n_cancelled, n_required + n_cancelled),
        # two denominators: of the contacts that took place (kept or missed), and of every contact due,
        # offered or not; a
        # service with nobody to offer contacts keeps a high share of the few it offers
        "compliance_rate_of_offered": _ratio(n_kept, n_required),
        "compliance_rate_of_due": _ratio(n_kept, n_required + n_cancelled),
        # contacts that waited for someone to see the case (process.max_contact_slip_days) and were offered
        "share_contacts_late": _ratio(len(late), n_required),
        "mean_contact_delay_days": float(lg.value[late].mean()) if len(late) else None,
        "compliance_by_stage": _rates_by(lg.stage[rows], kept, lg.stage_names),
        "compliance_by_mode": _rates_by(lg.cause[rows], kept, lg.cause_names),
        "compliance_by_risk": _rates_by(at_contact, kept, risk.names),
    }


def summarize(events: pd.DataFrame, register: pd.DataFrame,
              ctx: MetricsContext) -> dict[str, Any]:
    """Headline metrics over the window ``W = [warmup, horizon)``.

    Counts are of events in W; ``case_years``, ``custody_days``, caseload and pressure
    are exact integrals of step functions over W. ``cases_active_start`` is the state
    just before ``warmup`` (arrived and not exited before it), so
    ``cases_active_start + cases_entered - cases_exited == cases_active_end``.
    Staff comparisons ``load > cap`` and ``load > 1.1 cap`` are strict, with a 1e-9
    tolerance for float round-off. ``compliance_rate_of_offered`` is kept / contacts offered (kept or missed);
    ``compliance_rate_of_due`` is kept / contacts due (offered or not: ``contacts_not_offered`` are the
    ``contact_cancelled`` contacts, never delivered, counted when given up). ``share_contacts_late`` is the
    share of contacts offered that had waited for someone to see the case (``contact_late`` rows), and
    ``mean_contact_delay_days`` their mean wait. Costs and FTE come from :func:`casesim.metrics.costs.cost_summary`
    (categories :data:`casesim.metrics.costs.CATEGORIES`; ``cost_total`` is their sum);
    contacts of a mode without workload hours take none and are listed in
    ``unpriced_contact_modes``; providers missing from ``provider_cost_per_day`` cost 0.
    Undefined ratios are None. Proven reoffending, returns, further offences and the custody days on recall
    and of returned cases come from :func:`casesim.metrics.reoffending.reoffending_summary`.

    Args:
        events: Event frame from ``EventLog.to_frame()``.
        register: Case register (``case`` and ``risk`` are used, and ``person`` where present: the
            reoffending measures of :mod:`casesim.metrics.reoffending` follow people across their cases).
        ctx: Window, settings and prices.

    Returns:
        A JSON-serialisable dict of plain Python numbers, strings, lists and dicts.
    """
    lg = LogArrays.of(events)
    a, h = ctx.warmup, ctx.horizon
    span = h - a
    out: dict[str, Any] = _case_counts(lg, a, h)
    cy = out["case_years"]

    def in_w(kind: str) -> np.ndarray:
        return lg.in_window(lg.rows(kind), a, h)

    breaks = in_w("manager_change")
    per_cause = np.bincount(lg.cause[breaks], minlength=len(lg.cause_names))
    causes = sorted({str(c) for c in lg.cause_names[lg.cause[lg.rows("manager_change")]]})
    lookup = {str(c): i for i, c in enumerate(lg.cause_names)}
    out["continuity_breaks"] = len(breaks)
    out["continuity_breaks_per_case_year"] = _ratio(len(breaks), cy)
    out["continuity_breaks_by_cause"] = {c: int(per_cause[lookup[c]]) for c in causes}
    out.update(_staff_summary(lg, ctx))
    out.update(_compliance(lg, register, a, h))
    for key, kind in (("warnings", "warning"), ("breaches", "breach"),
                      ("returns_to_court", "return_to_court"), ("recalls", "recall")):
        out[key] = len(in_w(kind))
        out[f"{key}_per_case_year"] = _ratio(out[key], cy)
    sanctions = in_w("sanction")   # intermediate sanctions of graduated enforcement, counted when they start
    out["sanctions"] = int(lg.cause_is(sanctions, "start").sum())
    out["sanctions_per_case_year"] = _ratio(out["sanctions"], cy)
    referrals = in_w("referral")
    out["referrals"] = len(referrals)
    out["referral_acceptance_rate"] = _ratio(lg.cause_is(referrals, "accepted").sum(),
                                             len(referrals))
    starts = in_w("intervention_start")
    out["interventions_started"] = len(starts)
    out["mean_wait_days"] = float(lg.value[starts].mean()) if len(starts) else None
    ends = in_w("intervention_end")
    out["interventions_completed"] = int(lg.cause_is(ends, "completed").sum())
    out["needs_identified"] = float(lg.value[in_w("assessment")].sum())
    out["share_needs_met"] = _ratio(out["interventions_completed"], out["needs_identified"])
    done = lg.in_window(lg.closing("stage_exit"), a, h)
    orders = done[lg.stage_mask(ctx.order_stages)[lg.stage[done]]]
    orders = orders[~lg.cause_is(orders, "transferred")]   # (gone to a linked service: neither kept nor failed)
    out["orders_ended"] = len(orders)
    completed = int(lg.cause_is(orders, "completed").sum())
    out["completion_rate"] = _ratio(completed, len(orders))
    custody = lg.stage_mask({s for s, v in ctx.stage_setting.items() if v == "custody"})
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")
    enter, leave = enter[custody[lg.stage[enter]]], leave[custody[lg.stage[leave]]]
    out["custody_days"] = float(exposure(lg.time[enter], a, h).sum()
                                - exposure(lg.time[leave], a, h).sum())
    out.update(cost_summary(lg, ctx, cy, completed))
    out.update(reoffending_summary(lg, register, ctx, cy))
    out["currency"] = ctx.currency
    out.update({"window_days": float(span), "warmup_days": float(a), "horizon_days": float(h)})
    return _jsonable(out)


def _jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars to plain Python values (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, str):
        return obj
    return _num(obj)


def tick_bounds(ctx: MetricsContext) -> np.ndarray:
    """Tick boundaries ``t_k = k * tick`` for ``k = 1..ceil(horizon / tick)``; last = horizon."""
    k = max(1, math.ceil(round(ctx.horizon / ctx.tick, 9)))
    bounds = np.minimum(np.arange(1, k + 1, dtype=np.float64) * ctx.tick, ctx.horizon)
    bounds[-1] = ctx.horizon
    return bounds


def _label_state(plus: tuple[np.ndarray, np.ndarray], minus: tuple[np.ndarray, np.ndarray],
                 n_ticks: int, n_labels: int) -> np.ndarray:
    """Counts per (tick, label) from +1/-1 jumps given as ``(tick_index, label)`` pairs."""
    size = (n_ticks + 1) * n_labels

    def hist(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return np.bincount(pair[0] * n_labels + pair[1], minlength=size)

    jumps = (hist(plus) - hist(minus)).reshape(n_ticks + 1, n_labels)
    return np.cumsum(jumps, axis=0)[:n_ticks]


def _staff_ticks(lg: LogArrays, ctx: MetricsContext, bounds: np.ndarray) -> dict[str, np.ndarray]:
    """Staff state just before each tick boundary: caseload per member in post; pressure and shares
    over capacity across available (at work) staff."""
    seg = staff_arrays(lg, ctx.horizon, ctx.staff_setting)
    n = len(bounds)
    lo = np.searchsorted(bounds, seg["start"], side="right")  # first t_k > start
    hi = np.searchsorted(bounds, seg["end"], side="right")    # first t_k > end
    cap = seg["capacity"]
    avail = cap > 0
    press = np.where(avail, seg["load"] / np.where(avail, cap, 1.0), 0.0)

    def state(w: np.ndarray) -> np.ndarray:
        w = w.astype(np.float64)
        return np.cumsum(np.bincount(lo, w, n + 1) - np.bincount(hi, w, n + 1))[:n]

    held, n_avail, n_post = state(seg["count"]), state(avail), state(seg["in_post"] > 0)
    ok = n_avail > 0.5

    def per_available(total: np.ndarray) -> np.ndarray:
        return np.where(ok, total / np.where(ok, n_avail, 1.0), np.nan)

    return {"mean_caseload": np.where(n_post > 0.5, held / np.where(n_post > 0.5, n_post, 1.0), np.nan),
            "mean_pressure": per_available(state(press)),
            "share_over_capacity": per_available(state(avail & (press > 1 + TOL))),
            "share_over_110": per_available(state(avail & (press > 1.1 + TOL)))}


def timeseries(events: pd.DataFrame, register: pd.DataFrame,
               ctx: MetricsContext) -> pd.DataFrame:
    """State and flows per tick boundary ``t_k = k * tick`` (last boundary = horizon).

    State columns (entered_total, exited_total, active, ``stage:*``, ``mode:*``,
    ``risk:*``, staff means/shares) describe the state just before ``t_k``, i.e. after
    all events with ``time < t_k``. Flow columns count events in ``[t_{k-1}, t_k)``.
    ``mode:*`` counts active cases by their latest mode (cases with none are left
    out), with a column for every mode seen or priced in ``contact_cost``; ``risk:*``
    counts by current risk (register risk, then ``risk_change``), always with LOW,
    MEDIUM and HIGH, plus ``risk:UNKNOWN`` only for cases missing from the register.
    ``stage:*`` has every stage of ``stage_setting`` and any other stage entered. Staff
    columns are NaN when no staff member is available. ``entered_total ==
    exited_total + active`` holds exactly.

    Returns:
        One row per tick boundary; integer counts are int64.
    """
    lg = LogArrays.of(events)
    bounds = tick_bounds(ctx)
    n = len(bounds)

    def tick(rows: np.ndarray) -> np.ndarray:   # the tick of the rows' times (only where needed: a national
        return tick_index(lg.time[rows], bounds)   # log has tens of millions of rows)

    def flow_at(times: np.ndarray) -> np.ndarray:   # how many of ``times`` fall in each tick
        return np.bincount(tick_index(times, bounds), minlength=n + 1)[:n].astype(np.int64)

    def flow(rows: np.ndarray) -> np.ndarray:
        return flow_at(lg.time[rows])

    arr, ext = lg.rows("arrival"), lg.closing("exit")
    out: dict[str, Any] = {"time": bounds, "in_window": bounds > ctx.warmup,
                           "entered_total": np.cumsum(flow(arr)),
                           "exited_total": np.cumsum(flow(ext))}
    out["active"] = out["entered_total"] - out["exited_total"]
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")
    n_st = len(lg.stage_names)
    stages = _label_state((tick(enter), lg.stage[enter]), (tick(leave), lg.stage[leave]), n,
                          n_st)
    code = {str(s): i for i, s in enumerate(lg.stage_names)}
    for s in stage_list(lg, ctx):
        out[f"stage:{s}"] = stages[:, code[s]] if s in code else np.zeros(n, np.int64)
    # Modes: +1 to the new mode, -1 to the previous one; -1 to the last mode at exit.
    mc = lg.rows("mode_change")
    t_mc, t_ext = tick(mc), tick(ext)
    upd = (lg.case[mc], mc, lg.cause[mc])
    prev = latest_label(*upd, lg.case[mc], mc)
    last = latest_label(*upd, lg.case[ext], ext)
    modes = _label_state((t_mc, lg.cause[mc]),
                         (np.r_[t_mc[prev >= 0], t_ext[last >= 0]],
                          np.r_[prev[prev >= 0], last[last >= 0]]), n, len(lg.cause_names))
    code = {str(c): i for i, c in enumerate(lg.cause_names)}
    seen = {str(c) for c in lg.cause_names[np.unique(lg.cause[mc])]}
    for name in sorted(seen | set(ctx.contact_cost)):
        out[f"mode:{name}"] = modes[:, code[name]] if name in code else np.zeros(n, np.int64)
    # Risk: register risk from arrival, then risk_change; removed at exit.
    risk = RiskTrack(lg, register)
    ch = risk.rows
    t_ch = tick(ch)
    levels = _label_state(
        (np.r_[tick(arr), t_ch], np.r_[risk.initial(lg.case[arr]), risk.change_label]),
        (np.r_[t_ch, t_ext], np.r_[risk.at(lg.case[ch], ch), risk.at(lg.case[ext], ext)]),
        n, len(risk.names))
    for i, name in enumerate(risk.names):
        if name != UNKNOWN_RISK or levels[:, i].any():
            out[f"risk:{name}"] = levels[:, i]
    out.update(_staff_ticks(lg, ctx, bounds))
    kept = flow(lg.rows("contact_kept"))
    missed = flow(lg.rows("contact_missed"))
    out["contacts_kept"], out["contacts_missed"] = kept, missed
    with np.errstate(divide="ignore", invalid="ignore"):
        out["compliance_rate_of_offered"] = np.where(kept + missed > 0, kept / (kept + missed), np.nan)
    for key, kind in FLOW_KINDS.items():
        out[key] = flow(lg.rows(kind))
    out["interventions_started"] = flow(lg.rows("intervention_start"))
    staff_cols = ["mean_caseload", "mean_pressure", "share_over_capacity", "share_over_110"]
    head = [c for c in out if c not in staff_cols and not c.startswith("contacts")
            and c not in ("compliance_rate_of_offered", *FLOW_KINDS, "interventions_started")]
    order = head + staff_cols + ["contacts_kept", "contacts_missed", "compliance_rate_of_offered",
                                 *FLOW_KINDS, "interventions_started"]
    return pd.DataFrame({c: out[c] for c in order})


def metrics_context(sim: Simulation) -> MetricsContext:
    """The static facts metrics need, taken from a built simulation (its scenario, staff and providers)."""
    s = sim.scenario
    group_of = {g.name: g for g in s.staff}
    return MetricsContext(
        warmup=s.time.warmup_days, horizon=s.time.horizon_days, tick=s.time.tick_days,
        stage_setting=dict(sim.journey.setting),
        order_stages=frozenset(n for n, st in s.journey.stages.items() if st.on_breach is not None),
        staff_setting={m.unique_id: m.setting for m in sim.all_staff()},
        contact_cost={m: spec.cost_per_contact for m, spec in s.modes.items()},
        custody_cost_per_day=s.costs.custody_per_day,
        provider_cost_per_day={p.unique_id: provider_price(s, p.spec) for p in sim.providers},
        court_cost=s.costs.court_hearing, recall_cost=s.costs.recall, currency=s.costs.currency,
        staff_role={m.unique_id: s.costs.role_of(group_of[m.group]) for m in sim.all_staff()
                    if m.group in group_of},
        staff_fte={m.unique_id: group_of[m.group].fte for m in sim.all_staff()
                   if m.group in group_of and group_of[m.group].fte != 1.0},
        provider_setting={p.unique_id: p.spec.setting for p in sim.providers},
        provider_places={p.unique_id: p.places for p in sim.providers},
        provider_route={p.unique_id: p.spec.route for p in sim.providers},
        roles=stage_roles(s.journey),
        **context_prices(s))
