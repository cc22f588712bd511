"""The run report: one self-contained HTML page (``report.html``) of a run's results.

The page holds a table of the headline KPIs (the ``summary.json`` figures, with units) and charts of
the journey, the population, caseloads and pressure, continuity, compliance and enforcement, waits for
interventions and costs. Plotly's JavaScript is embedded once, so the file opens offline.

Every chart is drawn from a small table computed by a pure function of the run's outputs (event log,
register, time series, summary, cost tables) with the window conventions of :mod:`casesim.metrics.summary`:
counts over the measured window ``W = [warmup, horizon)``, state just before each tick boundary. The
charts receive aggregated numbers only (no per-event traces), so the page stays small.

Use :func:`report_html` for the page as text, :func:`write_report` to write it; ``Result.write()``
writes it as ``report.html`` beside the other outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from casesim.metrics.kpis import headline
from casesim.metrics.tables import (
    LogArrays,
    RiskTrack,
    exposure,
    latest_label,
    staff_arrays,
    stage_list,
)

if TYPE_CHECKING:
    from casesim.metrics.summary import MetricsContext
    from casesim.outputs.results import Result

#: Stage names of the default journey in plain words; other stages are shown as their name in words.
STAGE_WORDS: dict[str, str] = {
    "PRE_SENTENCE": "Pre-sentence",
    "NON_CUSTODIAL": "Community order",
    "BREACH_COURT": "Back at court after breach",
    "CUSTODY": "Custody",
    "SUPERVISED_RELEASE": "Supervised release (licence)",
    "RECALL_CUSTODY": "Recalled to custody",
}
#: Causes of continuity breaks (``manager_change``) in plain words.
BREAK_WORDS: dict[str, str] = {
    "custody_community_boundary": "Move between custody and community",
    "stage_handoff": "Hand-on at a change of stage",
    "task_handoff": "Hand-on between tasks (assessment to supervision)",
    "reclassification": "Case moved out of the holder's band at review",
    "absence_cover": "Cover while the manager is away",
    "cover_return": "Back to the manager after cover",
    "absence_reallocation": "Reallocated for good during an absence",
    "staff_turnover": "Manager left the service",
    "reallocation": "Other reallocation",
}
#: Cost categories (:data:`casesim.metrics.costs.CATEGORIES`) in plain words.
COST_WORDS: dict[str, str] = {
    "staff": "Staff posts",
    "contact_expenses": "Contact expenses (non-staff)",
    "custody": "Custody days",
    "interventions": "Intervention places",
    "courts": "Court hearings after breach",
    "recalls": "Recalls",
}
#: How a stay ended (``stage_exit`` cause) in plain words, and the colour of its flows.
ROUTE_WORDS: dict[str, tuple[str, str]] = {
    "completed": ("completed", "rgba(99, 110, 250, 0.35)"),
    "breach": ("breach", "rgba(239, 85, 59, 0.55)"),
    "further_offence": ("further offence", "rgba(255, 161, 90, 0.6)"),
}
#: Colour of flows into and out of the service (start of window, new cases, exits, still open).
EDGE_COLOUR = "rgba(160, 160, 160, 0.35)"

#: Start, new-case, exit and still-open node keys of the journey flows.
START, INITIAL, NEW, LEFT, STILL = "@start", "@initial", "@new", "@left", "@still"


def stage_words(name: str) -> str:
    """A stage name in plain words."""
    return STAGE_WORDS.get(name) or name.replace("_", " ").strip().capitalize()


def _words(table: Mapping[str, str], key: str) -> str:
    return table.get(key) or key.replace("_", " ").strip().capitalize()


def _list(values: Any) -> list[Any]:
    """Plain JSON-friendly list (NaN -> None), so the page holds readable arrays."""
    out = []
    for v in np.asarray(values, dtype=object).tolist():
        if isinstance(v, (float, np.floating)):
            v = float(v)
            out.append(None if math.isnan(v) else v)
        elif isinstance(v, np.integer):
            out.append(int(v))
        else:
            out.append(v)
    return out


# --------------------------------------------------------------------------- tables (pure functions)


def journey_flows(events: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """Flows between stages over the measured window ``W = [warmup, horizon)``.

    Each stay that ends in W is one flow from its stage to the next stage the case enters (or to
    ``@left`` when the case leaves the service), with ``route`` = how the stay ended (``stage_exit``
    cause: completed, breach, further_offence). Cases in a stage just before ``warmup`` flow from
    ``@start``, stages entered in W by a new case from ``@new`` (``@initial`` for the day-0 population
    when there is no warm-up), and cases still in a stage at the horizon flow to ``@still``. So for
    every stage, flow in equals flow out, and the totals of ``@start``, ``@new``, ``@left``, ``@still``
    are ``cases_active_start``, ``cases_entered``, ``cases_exited`` and ``cases_active_end`` of the
    summary.

    Returns:
        Columns source, target, route, cases (int), rows with at least one case, in stage order.
    """
    lg = LogArrays.of(events)
    a, h = ctx.warmup, ctx.horizon
    enter, leave, ext = lg.rows("stage_enter"), lg.closing("stage_exit"), lg.closing("exit")
    names = lg.stage_names
    rows = np.concatenate([enter, leave, ext])
    kind = np.r_[np.zeros(len(enter), np.int8), np.ones(len(leave), np.int8), np.full(len(ext), 2, np.int8)]
    srt = np.lexsort((rows, lg.case[rows]))
    rows, kind = rows[srt], kind[srt]
    same_next = np.r_[lg.case[rows[1:]] == lg.case[rows[:-1]], False]
    same_prev = np.r_[False, same_next[:-1]]
    nxt_kind = np.r_[kind[1:], -1]
    prv_kind = np.r_[-1, kind[:-1]]
    t = lg.time[rows]
    in_w = (t >= a) & (t < h)
    records: list[tuple[str, str, str, int]] = []
    # Stays ending in W: to the next stage, or out of the service.
    is_end = (kind == 1) & in_w & same_next
    to_stage = is_end & (nxt_kind == 0)
    to_exit = is_end & (nxt_kind == 2)
    nxt_rows = np.r_[rows[1:], 0]
    frame = pd.DataFrame({
        "source": names[lg.stage[rows[to_stage]]], "target": names[lg.stage[nxt_rows[to_stage]]],
        "route": lg.cause_names[lg.cause[rows[to_stage]]]})
    for (s, d, r), n in frame.groupby(["source", "target", "route"], sort=False).size().items():
        records.append((str(s), str(d), str(r), int(n)))
    frame = pd.DataFrame({"source": names[lg.stage[rows[to_exit]]], "route": lg.cause_names[lg.cause[rows[to_exit]]]})
    for (s, r), n in frame.groupby(["source", "route"], sort=False).size().items():
        records.append((str(s), LEFT, str(r), int(n)))
    # Stages entered in W with no stay before them: new cases (or the day-0 population).
    first = (kind == 0) & in_w & ~(same_prev & (prv_kind == 1))
    initial = lg.cause_is(rows[first], "initial")
    for key, mask in ((NEW, ~initial), (INITIAL, initial)):
        for code, n in zip(*np.unique(lg.stage[rows[first][mask]], return_counts=True), strict=True):
            records.append((key, str(names[code]), "", int(n)))
    # Occupancy just before the warm-up ends and at the horizon.
    n_codes = len(names)
    for key, cut in ((START, a), (STILL, h)):
        occ = (np.bincount(lg.stage[enter[lg.time[enter] < cut]], minlength=n_codes)
               - np.bincount(lg.stage[leave[lg.time[leave] < cut]], minlength=n_codes))
        for code in np.flatnonzero(occ > 0):
            pair = (key, str(names[code])) if key == START else (str(names[code]), key)
            records.append((*pair, "", int(occ[code])))
    out = pd.DataFrame(records, columns=["source", "target", "route", "cases"])
    order = {s: i for i, s in enumerate([START, INITIAL, NEW, *stage_list(lg, ctx), LEFT, STILL])}
    out["_s"], out["_t"] = out["source"].map(order), out["target"].map(order)
    out = out.sort_values(["_s", "_t", "route"], kind="stable").drop(columns=["_s", "_t"])
    return out[out["cases"] > 0].reset_index(drop=True)


def staff_caseloads(events: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """Each staff member's time-averaged caseload over the window, while in post.

    ``mean_cases`` = cases held integrated over W / ``days_in_post`` in W (the same integrals as
    ``mean_caseload`` in :func:`casesim.metrics.summary.summarize`, so the ``days_in_post``-weighted mean of
    ``mean_cases`` is ``mean_caseload``). Staff with no time in post in W are left out.

    Returns:
        Columns manager, setting, mean_cases, days_in_post, sorted by manager.
    """
    seg = staff_arrays(LogArrays.of(events), ctx.horizon, ctx.staff_setting)
    dur = exposure(seg["start"], ctx.warmup, ctx.horizon) - exposure(seg["end"], ctx.warmup, ctx.horizon)
    uniq, inv = np.unique(seg["manager"], return_inverse=True)
    inv = inv.reshape(-1)
    held = np.bincount(inv, seg["count"] * dur, len(uniq))
    post = np.bincount(inv, (seg["in_post"] > 0) * dur, len(uniq))
    setting = pd.Series(seg["setting"]).groupby(inv).first().reindex(range(len(uniq))).to_numpy()
    ok = post > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(ok, held / np.where(ok, post, 1.0), np.nan)
    return pd.DataFrame({"manager": uniq[ok].astype(np.int64), "setting": setting[ok].astype(str),
                         "mean_cases": mean[ok], "days_in_post": post[ok]})


def enforcement_by(events: pd.DataFrame, register: pd.DataFrame, ctx: MetricsContext) -> pd.DataFrame:
    """Contacts required, warnings and breaches in the window by supervision mode and by risk level.

    The mode is the case's latest mode before the row (``no mode`` if none was set yet), the risk its
    level just before the row (register risk, then ``risk_change``), as for ``compliance_by_mode`` and
    ``compliance_by_risk``. Each column of one ``by`` sums to the summary's ``contacts_required``,
    ``warnings`` and ``breaches``.

    Returns:
        Columns by ("mode" | "risk"), label, contacts_required, warnings, breaches.
    """
    lg = LogArrays.of(events)
    a, h = ctx.warmup, ctx.horizon
    rows_of = {"contacts_required": np.concatenate([lg.in_window(lg.rows(k), a, h)
                                                    for k in ("contact_kept", "contact_missed")]),
               "warnings": lg.in_window(lg.rows("warning"), a, h),
               "breaches": lg.in_window(lg.rows("breach"), a, h)}
    risk = RiskTrack(lg, register)
    mc = lg.rows("mode_change")
    mode_names = [str(x) for x in lg.cause_names] + ["no mode"]
    out = []
    for by in ("mode", "risk"):
        counts: dict[str, dict[str, int]] = {}
        for col, rows in rows_of.items():
            if by == "mode":
                got = latest_label(lg.case[mc], mc, lg.cause[mc], lg.case[rows], rows)
                got[got < 0] = len(mode_names) - 1
                names = mode_names
            else:
                got, names = risk.at(lg.case[rows], rows), [str(x) for x in risk.names]
            for code, n in enumerate(np.bincount(got, minlength=len(names))):   # counted by code,
                if n:                                                              # not by string
                    label = counts.setdefault(names[code], {})
                    label[col] = label.get(col, 0) + int(n)
            del got
        order = [r for r in risk.names if r in counts] if by == "risk" else sorted(counts)
        for label in order:
            out.append({"by": by, "label": label, **{c: counts[label].get(c, 0) for c in rows_of}})
    return pd.DataFrame(out, columns=["by", "label", *rows_of])


def provider_names(result: Result) -> dict[int, str]:
    """Provider id -> name (providers are created in the scenario's order, so ids follow that order)."""
    ids = list(result.context.provider_setting)
    specs = result.scenario.providers
    if len(ids) == len(specs):
        return {int(i): spec.name for i, spec in zip(sorted(ids), specs, strict=True)}
    return {int(i): f"provider {i}" for i in ids}


def waits_by_provider(events: pd.DataFrame, ctx: MetricsContext, names: Mapping[int, str]) -> pd.DataFrame:
    """Referrals and waits per provider over the window.

    ``mean_wait_days`` is the mean of the waits of interventions that started in W (the start's
    ``value``), so the ``started``-weighted mean over providers is the summary's ``mean_wait_days``.

    Returns:
        Columns provider, name, referrals, accepted, started, mean_wait_days, max_wait_days.
    """
    lg = LogArrays.of(events)
    a, h = ctx.warmup, ctx.horizon
    refs = lg.in_window(lg.rows("referral"), a, h)
    refs = refs[lg.manager[refs] >= 0]
    starts = lg.in_window(lg.rows("intervention_start"), a, h)
    ids = sorted(set(names) | set(lg.manager[refs].tolist()) | set(lg.manager[starts].tolist()))
    rows = []
    for pid in ids:
        mine = refs[lg.manager[refs] == pid]
        waits = lg.value[starts[lg.manager[starts] == pid]]
        rows.append({"provider": int(pid), "name": names.get(int(pid), f"provider {pid}"), "referrals": len(mine),
                     "accepted": int(lg.cause_is(mine, "accepted").sum()), "started": len(waits),
                     "mean_wait_days": float(waits.mean()) if len(waits) else math.nan,
                     "max_wait_days": float(waits.max()) if len(waits) else math.nan})
    return pd.DataFrame(rows, columns=["provider", "name", "referrals", "accepted", "started", "mean_wait_days",
                                       "max_wait_days"])


def costs_by_category(costs: pd.DataFrame) -> pd.DataFrame:
    """The cost table (year x setting x category) summed over the measured years.

    Returns:
        Columns setting, category, cost; empty when the run has no cost table.
    """
    if costs.empty:
        return pd.DataFrame(columns=["setting", "category", "cost"])
    got = costs.groupby(["setting", "category"], sort=False)["cost"].sum().reset_index()
    return got[["setting", "category", "cost"]]


# --------------------------------------------------------------------------- figures


def _wrapped(label: str, width: int = 16) -> str:
    """``label`` broken into lines of about ``width`` characters (Plotly's <br>), so axis labels stay whole."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}},
            "margin": {"t": 70, "b": 50}, "legend": {"orientation": "h", "y": -0.2}, **{"height": 420, **extra}}


def _warmup_shape(ctx: MetricsContext, yref: str = "paper", xref: str = "x") -> list[dict[str, Any]]:
    if ctx.warmup <= 0:
        return []
    return [{"type": "rect", "xref": xref, "yref": yref, "x0": 0, "x1": ctx.warmup, "y0": 0, "y1": 1,
             "fillcolor": "rgba(128,128,128,0.12)", "line": {"width": 0}, "layer": "below"}]


def _warmup_note(ctx: MetricsContext) -> list[dict[str, Any]]:
    if ctx.warmup <= 0:
        return []
    return [{"x": ctx.warmup / 2, "y": 1.0, "xref": "x", "yref": "paper", "text": "warm-up (not measured)",
             "showarrow": False, "yanchor": "bottom", "font": {"size": 11, "color": "grey"}}]


def policy_changes(events: pd.DataFrame) -> list[tuple[float, str]]:
    """The days the scenario's changes took effect, with the paths each set (the ``policy_change`` rows)."""
    rows = events[events["kind"] == "policy_change"]
    return [(float(t), str(c)) for t, c in zip(rows["time"], rows["cause"], strict=True)]


def _change_shapes(changes: Sequence[tuple[float, str]], yref: str = "paper", xref: str = "x") -> list[dict]:
    """A dotted vertical line on each day a change of the scenario took effect (docs/scenarios.md)."""
    return [{"type": "line", "xref": xref, "yref": yref, "x0": t, "x1": t, "y0": 0, "y1": 1,
             "line": {"dash": "dot", "color": "darkorange", "width": 1.5}} for t, _ in changes]


def _change_notes(changes: Sequence[tuple[float, str]]) -> list[dict[str, Any]]:
    return [{"x": t, "y": 1.0, "xref": "x", "yref": "paper", "text": f"change on day {t:,.0f}",
             "hovertext": paths.replace("+", ", "), "showarrow": False, "yanchor": "bottom", "xanchor": "left",
             "font": {"size": 11, "color": "darkorange"}} for t, paths in changes]


def sankey_figure(flows: pd.DataFrame, ctx: MetricsContext) -> dict[str, Any]:
    """The journey flows as a Sankey diagram, nodes labelled in plain words."""
    special = {START: f"Open on day {ctx.warmup:,.0f} (start of the measured window)",
               INITIAL: "Initial population (day 0)", NEW: "New cases",
               LEFT: "Left the service", STILL: f"Still open on day {ctx.horizon:,.0f} (end of run)"}
    keys = list(dict.fromkeys([*flows["source"], *flows["target"]]))
    index = {k: i for i, k in enumerate(keys)}
    labels = [special.get(k) or stage_words(k) for k in keys]
    colours = [ROUTE_WORDS[r][1] if r in ROUTE_WORDS else EDGE_COLOUR for r in flows["route"]]
    route_text = [f"ended by {ROUTE_WORDS[r][0]}" if r in ROUTE_WORDS else (r or "") for r in flows["route"]]
    data = [{"type": "sankey", "arrangement": "snap", "valueformat": ",d", "valuesuffix": " cases",
             "node": {"label": labels, "pad": 18, "thickness": 16, "customdata": keys,
                      "hovertemplate": "%{label}: %{value:,d} cases<extra></extra>"},
             "link": {"source": [index[s] for s in flows["source"]], "target": [index[t] for t in flows["target"]],
                      "value": _list(flows["cases"]), "color": colours, "customdata": route_text,
                      "hovertemplate": "%{source.label} to %{target.label}: %{value:,d} cases "
                                       "%{customdata}<extra></extra>"}}]
    title = (f"Journeys between stages, days {ctx.warmup:,.0f}-{ctx.horizon:,.0f} (measured window): "
             "number of cases; red = breach, orange = further offence")
    return {"data": data, "layout": {"title": {"text": title}, "height": 560, "margin": {"t": 70, "b": 30},
                                     "font": {"size": 12}}}


def population_figure(ts: pd.DataFrame, ctx: MetricsContext,
                      changes: Sequence[tuple[float, str]] = ()) -> dict[str, Any]:
    """Cases in each stage over time (stacked), with the days the scenario's ``changes`` took effect."""
    cols = [c for c in ts.columns if c.startswith("stage:")]
    data = [{"type": "scatter", "x": _list(ts["time"]), "y": _list(ts[c]), "name": stage_words(c[6:]),
             "stackgroup": "stages", "mode": "lines", "line": {"width": 0.5},
             "hovertemplate": "day %{x:,.0f}: %{y:,d} cases<extra>" + escape(stage_words(c[6:])) + "</extra>"}
            for c in cols]
    layout = _layout("People under the service by stage (cases, at the end of each time step)",
                     "day of the run", "cases", shapes=_warmup_shape(ctx) + _change_shapes(changes),
                     annotations=_warmup_note(ctx) + _change_notes(changes))
    return {"data": data, "layout": layout}


def caseload_figure(loads: pd.DataFrame, ctx: MetricsContext) -> dict[str, Any]:
    """Histogram of each staff member's time-averaged caseload, one colour per setting."""
    data = [{"type": "histogram", "x": _list(sub["mean_cases"]), "name": f"{setting} staff", "opacity": 0.75,
             "xbins": {"size": 2}, "hovertemplate": "%{x} cases: %{y} staff<extra>" + escape(setting) + "</extra>"}
            for setting, sub in loads.groupby("setting", sort=True)]
    layout = _layout(f"Caseload distribution: cases held per case manager, averaged over days "
                     f"{ctx.warmup:,.0f}-{ctx.horizon:,.0f} while in post",
                     "cases per case manager (bins of 2)", "staff members", barmode="stack")
    return {"data": data, "layout": layout}


def pressure_figure(ts: pd.DataFrame, ctx: MetricsContext,
                    changes: Sequence[tuple[float, str]] = ()) -> dict[str, Any]:
    """Mean caseload pressure (with 100% and 110% lines) and the share of staff over capacity, over time, with
    the days the scenario's ``changes`` took effect."""
    x = _list(ts["time"])
    data = [
        {"type": "scatter", "x": x, "y": _list(100.0 * ts["mean_pressure"]), "name": "mean caseload pressure",
         "mode": "lines", "xaxis": "x", "yaxis": "y", "hovertemplate": "day %{x:,.0f}: %{y:.1f}%<extra></extra>"},
        {"type": "scatter", "x": x, "y": _list(100.0 * ts["share_over_capacity"]), "mode": "lines",
         "name": "staff above 100% of capacity", "xaxis": "x2", "yaxis": "y2",
         "hovertemplate": "day %{x:,.0f}: %{y:.1f}% of staff at work<extra></extra>"},
        {"type": "scatter", "x": x, "y": _list(100.0 * ts["share_over_110"]), "mode": "lines",
         "name": "staff above 110% of capacity", "xaxis": "x2", "yaxis": "y2",
         "hovertemplate": "day %{x:,.0f}: %{y:.1f}% of staff at work<extra></extra>"},
    ]
    shapes = [{"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": level, "y1": level,
               "line": {"dash": "dash", "color": colour, "width": 1.5}}
              for level, colour in ((100, "black"), (110, "firebrick"))]
    shapes += _warmup_shape(ctx, "y domain") + _warmup_shape(ctx, "y2 domain", "x2")
    shapes += _change_shapes(changes, "y domain") + _change_shapes(changes, "y2 domain", "x2")
    notes = _change_notes(changes) + [
        {"xref": "x domain", "yref": "y", "x": 1, "y": level, "text": f"{level}% of capacity", "showarrow": False,
         "xanchor": "right", "yanchor": "bottom", "font": {"size": 11}} for level in (100, 110)]
    layout = {"title": {"text": "Caseload pressure over time: weighted caseload / capacity of staff at work (%)"},
              "height": 560, "margin": {"t": 70, "b": 50}, "legend": {"orientation": "h", "y": -0.12},
              "xaxis": {"domain": [0, 1], "anchor": "y", "matches": "x2", "showticklabels": False},
              "yaxis": {"domain": [0.45, 1], "title": {"text": "mean pressure (%)"}},
              "xaxis2": {"domain": [0, 1], "anchor": "y2", "title": {"text": "day of the run"}},
              "yaxis2": {"domain": [0, 0.37], "title": {"text": "% of staff at work"}},
              "shapes": shapes, "annotations": notes}
    return {"data": data, "layout": layout}


def breaks_figure(summary: Mapping[str, Any], ctx: MetricsContext) -> dict[str, Any]:
    """Continuity breaks in the window by cause (counts, with the rate per case-year on hover)."""
    by = dict(summary.get("continuity_breaks_by_cause") or {})
    causes = sorted(by, key=lambda c: (-by[c], c))
    cy = summary.get("case_years") or 0.0
    data = [{"type": "bar", "x": [_wrapped(_words(BREAK_WORDS, c)) for c in causes], "y": [by[c] for c in causes],
             "customdata": [[c, by[c] / cy if cy else None] for c in causes], "name": "continuity breaks",
             "hovertemplate": "%{x}: %{y:,d} breaks (%{customdata[1]:.3f} per case-year)<extra>%{customdata[0]}"
                              "</extra>"}]
    total = summary.get("continuity_breaks", sum(by.values()))
    layout = _layout(f"Continuity breaks by cause, days {ctx.warmup:,.0f}-{ctx.horizon:,.0f}: {total:,} changes "
                     "of responsible manager", "cause", "continuity breaks (count)", height=460)
    layout["xaxis"].update(tickangle=0, automargin=True)
    return {"data": data, "layout": layout}


def compliance_time_figure(ts: pd.DataFrame, ctx: MetricsContext,
                           changes: Sequence[tuple[float, str]] = ()) -> dict[str, Any]:
    """Compliance per time step and enforcement actions per time step, with the days the scenario's
    ``changes`` took effect."""
    x = _list(ts["time"])
    data = [{"type": "scatter", "x": x, "y": _list(100.0 * ts["compliance_rate_of_offered"]), "mode": "lines",
             "name": "contacts kept (%)", "xaxis": "x", "yaxis": "y",
             "hovertemplate": "day %{x:,.0f}: %{y:.1f}% kept<extra></extra>"}]
    for col, label in (("warnings", "warnings"), ("breaches", "breaches"), ("returns_to_court", "returns to court"),
                       ("recalls", "recalls")):
        data.append({"type": "scatter", "x": x, "y": _list(ts[col]), "mode": "lines", "name": label,
                     "xaxis": "x2", "yaxis": "y2", "hovertemplate": "day %{x:,.0f}: %{y:,d} " + label +
                     "<extra></extra>"})
    step = f"{ctx.tick:g}-day step"
    layout = {"title": {"text": f"Compliance and enforcement over time (per {step})"}, "height": 560,
              "margin": {"t": 70, "b": 50}, "legend": {"orientation": "h", "y": -0.12},
              "xaxis": {"domain": [0, 1], "anchor": "y", "matches": "x2", "showticklabels": False},
              "yaxis": {"domain": [0.55, 1], "title": {"text": "contacts kept (%)"}},
              "xaxis2": {"domain": [0, 1], "anchor": "y2", "title": {"text": "day of the run"}},
              "yaxis2": {"domain": [0, 0.45], "title": {"text": f"count per {step}"}},
              "shapes": (_warmup_shape(ctx, "y domain") + _warmup_shape(ctx, "y2 domain", "x2")
                         + _change_shapes(changes, "y domain") + _change_shapes(changes, "y2 domain", "x2")),
              "annotations": _change_notes(changes)}
    return {"data": data, "layout": layout}


def compliance_groups_figure(summary: Mapping[str, Any], enforcement: pd.DataFrame) -> dict[str, Any]:
    """Compliance (%, of contacts offered) and warnings and breaches per 1,000 contacts offered, by mode and by
    risk."""
    data: list[dict[str, Any]] = []
    panels = (("mode", "compliance_by_mode", "x", "y", "x3", "y3"), ("risk", "compliance_by_risk", "x2", "y2",
                                                                      "x4", "y4"))
    for by, key, xa, ya, xb, yb in panels:
        rates = summary.get(key) or {}
        sub = enforcement[enforcement["by"] == by]
        labels = [lab for lab in sub["label"] if lab in rates] + sorted(set(rates) - set(sub["label"]))
        data.append({"type": "bar", "x": labels, "y": [100.0 * rates[lab] for lab in labels], "xaxis": xa,
                     "yaxis": ya, "name": "contacts kept (%)", "marker": {"color": "#636efa"},
                     "showlegend": by == "mode", "legendgroup": "kept",
                     "hovertemplate": "%{x}: %{y:.1f}% of contacts kept<extra></extra>"})
        per = sub["contacts_required"].to_numpy(dtype=float)
        for col, colour in (("warnings", "#ffa15a"), ("breaches", "#ef553b")):
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.where(per > 0, 1000.0 * sub[col].to_numpy(dtype=float) / np.where(per > 0, per, 1), np.nan)
            data.append({"type": "bar", "x": _list(sub["label"]), "y": _list(rate), "xaxis": xb, "yaxis": yb,
                         "name": f"{col} per 1,000 contacts", "marker": {"color": colour},
                         "showlegend": by == "mode", "legendgroup": col,
                         "customdata": _list(np.c_[sub[col].to_numpy(), sub["contacts_required"].to_numpy()]),
                         "hovertemplate": "%{x}: %{y:.1f} per 1,000 contacts (%{customdata[0]:,d} " + col +
                                          ", %{customdata[1]:,d} contacts)<extra></extra>"})
    layout = {"title": {"text": "Compliance and enforcement by supervision mode and by risk level "
                                "(measured window; mode and risk at the time of the contact or action)"},
              "height": 640, "barmode": "group", "margin": {"t": 70, "b": 50},
              "legend": {"orientation": "h", "y": -0.1},
              "xaxis": {"domain": [0, 0.46], "anchor": "y"}, "yaxis": {"domain": [0.58, 1], "anchor": "x",
                                                                        "title": {"text": "contacts kept (%)"}},
              "xaxis2": {"domain": [0.54, 1], "anchor": "y2"}, "yaxis2": {"domain": [0.58, 1], "anchor": "x2",
                                                                          "matches": "y"},
              "xaxis3": {"domain": [0, 0.46], "anchor": "y3", "title": {"text": "supervision mode"}},
              "yaxis3": {"domain": [0, 0.42], "anchor": "x3", "title": {"text": "per 1,000 contacts offered"}},
              "xaxis4": {"domain": [0.54, 1], "anchor": "y4", "title": {"text": "risk level"}},
              "yaxis4": {"domain": [0, 0.42], "anchor": "x4", "matches": "y3"}}
    return {"data": data, "layout": layout}


def waits_figure(waits: pd.DataFrame, ctx: MetricsContext) -> dict[str, Any]:
    """Mean wait (days) per provider, with the number of interventions started."""
    got = waits[waits["started"] > 0].iloc[::-1]  # first provider on top
    data = [{"type": "bar", "orientation": "h", "y": [str(n).replace("_", " ") for n in got["name"]],
             "x": _list(got["mean_wait_days"]), "name": "mean wait",
             "customdata": _list(got[["started", "max_wait_days", "referrals", "accepted"]].to_numpy()),
             "hovertemplate": "%{y}: mean %{x:.1f} days over %{customdata[0]:,d} starts (longest "
                              "%{customdata[1]:.0f} days); %{customdata[2]:,d} referrals, %{customdata[3]:,d} "
                              "accepted<extra></extra>"}]
    layout = _layout(f"Wait from referral to the start of an intervention, by provider (days; interventions "
                     f"started in days {ctx.warmup:,.0f}-{ctx.horizon:,.0f})", "mean wait (days)", "provider",
                     height=max(320, 120 + 28 * len(got)))
    layout["yaxis"]["automargin"] = True
    return {"data": data, "layout": layout}


def costs_figure(by_cat: pd.DataFrame, currency: str, ctx: MetricsContext) -> dict[str, Any]:
    """Cost by category over the measured window, stacked by setting."""
    cats = list(dict.fromkeys(by_cat["category"]))
    data = []
    for setting, sub in by_cat.groupby("setting", sort=True):
        cost = sub.set_index("category")["cost"].reindex(cats).fillna(0.0)
        data.append({"type": "bar", "x": [_words(COST_WORDS, c) for c in cats], "y": _list(cost),
                     "name": f"{setting}", "customdata": cats,
                     "hovertemplate": "%{x}: %{y:,.0f} " + escape(currency) + "<extra>" + escape(str(setting)) +
                                      "</extra>"})
    layout = _layout(f"Cost by category, days {ctx.warmup:,.0f}-{ctx.horizon:,.0f} ({currency}), by setting",
                     "category", f"cost ({currency})", barmode="stack")
    return {"data": data, "layout": layout}


def fte_figure(fte: pd.DataFrame) -> dict[str, Any]:
    """Staff needed for the workload against staff in post, by setting and role (FTE)."""
    labels = [f"{s}: {r}" for s, r in zip(fte["setting"], fte["role"], strict=True)]
    data = [{"type": "bar", "x": labels, "y": _list(fte[col]), "name": name,
             "hovertemplate": "%{x}: %{y:.1f} FTE<extra>" + name + "</extra>"}
            for col, name in (("fte_required", "needed for the workload"), ("fte_available", "in post"))]
    return {"data": data, "layout": _layout("Staff needed for the workload against staff in post (FTE, measured "
                                            "window)", "setting: role", "full-time equivalents", barmode="group")}


# --------------------------------------------------------------------------- the page


def kpi_table_html(summary: Mapping[str, Any]) -> str:
    """The headline KPIs as an HTML table: plain label, value, unit and the ``summary.json`` key."""
    cur = str(summary.get("currency", ""))
    rows = []
    for kpi in headline():
        if kpi.key not in summary:
            continue
        rows.append(f"<tr><td>{escape(kpi.label)}</td><td class='num'>{escape(kpi.shown(summary[kpi.key]))}</td>"
                    f"<td>{escape(kpi.unit.format(cur=cur))}</td><td><code>{escape(kpi.key)}</code></td></tr>")
    return ("<table class='kpi'><thead><tr><th>Measure</th><th>Value</th><th>Unit</th><th>summary.json key</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222}"
         "table.kpi{border-collapse:collapse;margin:1em 0}table.kpi td,table.kpi th{border-bottom:1px solid #ddd;"
         "padding:4px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}"
         "p.note{color:#555;max-width:60em}"
         "p.warning{color:#8a1c00;max-width:60em}h2{margin-top:1.6em;border-top:1px solid #eee;padding-top:.6em}")


def report_figures(result: Result) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every chart of the report as ``(div id, heading, note, plotly figure dict)``."""
    ctx, ev, s = result.context, result.events, result.summary
    cur = str(s.get("currency", ""))
    # the tables from the log, the heaviest first: each holds its temporaries over tens of millions of rows
    # on a national log, and the staff segments stay with the log's index once made
    enforcement = enforcement_by(ev, result.register, ctx)
    flows = journey_flows(ev, ctx)
    loads = staff_caseloads(ev, ctx)
    changes = policy_changes(ev)
    marked = " Dotted orange lines: the days the scenario's changes took effect." if changes else ""
    figs = [
        ("fig-journey", "Journeys", "Each band is a number of cases moving from one stage to the next (or in and "
         "out of the service) during the measured window. For every stage, what flows in equals what flows out.",
         sankey_figure(flows, ctx)),
        ("fig-population", "Population by stage", "Cases in each stage at the end of every time step; the shaded "
         "part is the warm-up, left out of every figure in the table above." + marked,
         population_figure(result.timeseries, ctx, changes)),
        ("fig-caseload", "Caseload distribution", "One count per case manager: the cases they held on average "
         "over the measured window while in post.", caseload_figure(loads, ctx)),
        ("fig-pressure", "Caseload pressure", "Pressure is each available manager's weighted caseload divided "
         "by their capacity; 100% is a full caseload. Lower panel: share of managers at work who are above "
         "100% and 110%." + marked, pressure_figure(result.timeseries, ctx, changes)),
        ("fig-breaks", "Continuity breaks", "Every change of the person or team responsible for a case, by "
         "why it happened, in the measured window.", breaks_figure(s, ctx)),
        ("fig-compliance-time", "Compliance and enforcement over time", "Share of the contacts "
         "offered that were kept, and enforcement actions, in each time step." + marked,
         compliance_time_figure(result.timeseries, ctx, changes)),
        ("fig-compliance-groups", "Compliance and enforcement by mode and risk", "Contacts kept (%) and "
         "warnings and breaches per 1,000 contacts offered, by the supervision mode and risk level at the time.",
         compliance_groups_figure(s, enforcement)),
        ("fig-waits", "Waits by provider", "Mean days from referral to the start of the intervention, for "
         "interventions that started in the measured window.",
         waits_figure(waits_by_provider(ev, ctx, provider_names(result)), ctx)),
    ]
    by_cat = costs_by_category(result.costs)
    if not by_cat.empty:
        figs.append(("fig-costs", "Costs by category", f"What the service cost over the measured window, in {cur}; "
                     "staff time for contacts, reports and meetings is inside the staff cost.",
                     costs_figure(by_cat, cur, ctx)))
    if not result.fte.empty:
        figs.append(("fig-fte", "Staff needed and in post", "Workload hours divided by productive hours per "
                     "full-time post, against the time staff were in post.", fte_figure(result.fte)))
    return figs


def report_html(result: Result) -> str:
    """The run report as one self-contained HTML page (plotly.js inline, no network needed)."""
    import plotly.io as pio

    from casesim.version import __version__

    s = result.summary
    name = escape(str(result.scenario.name))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{name}: run report</title><style>{STYLE}</style></head><body>",
        f"<h1>Run report: {name}</h1>",
        f"<p class='note'>Seed {result.seed}; measured window days {s.get('warmup_days', 0):,.0f} to "
        f"{s.get('horizon_days', 0):,.0f} ({s.get('window_days', 0):,.0f} days after the warm-up); casesim "
        f"{escape(__version__)}. Every figure below is computed from the run's event log; the table gives the "
        "values of <code>summary.json</code>.</p>",
    ]
    # A degenerate set-up (casesim/metrics/run_warnings.py) is said before the figures.
    for w in s.get("run_warnings", []):
        parts.append(f"<p class='warning'><strong>Warning ({escape(str(w['code']))}):</strong> "
                     f"{escape(str(w['message']))}</p>")
    parts.append(kpi_table_html(s))
    for i, (div_id, heading, note, fig) in enumerate(report_figures(result)):
        parts.append(f"<h2>{escape(heading)}</h2><p class='note'>{escape(note)}</p>")
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=i == 0, validate=False, div_id=div_id,
                                 default_width="100%", config={"displaylogo": False}))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: Result, path: str | Path) -> Path:
    """Write the run report to ``path`` (atomically: a temporary name, then renamed); returns the path."""
    from casesim.outputs.temporaries import atomic_write

    path = Path(path)
    text = report_html(result)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def figure_payloads(html: str) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """The ``data`` and ``layout`` of every ``Plotly.newPlot`` call in a page, by div id (for checks)."""
    import json

    decoder = json.JSONDecoder()
    out: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    marker = "Plotly.newPlot("
    pos = html.find(marker)
    while pos >= 0:
        i = pos + len(marker)
        args: list[Any] = []
        try:
            for _ in range(3):
                while html[i] in " \n\t\r,":
                    i += 1
                value, i = decoder.raw_decode(html, i)
                args.append(value)
        except (ValueError, IndexError):  # a mention inside plotly.js itself, not a figure
            args = []
        if len(args) == 3 and isinstance(args[0], str):
            out[args[0]] = (args[1], args[2])
        pos = html.find(marker, pos + len(marker))
    return out


__all__: Sequence[str] = ("report_html", "write_report", "figure_payloads", "journey_flows", "staff_caseloads",
                          "enforcement_by", "waits_by_provider", "costs_by_category")
