"""Proven reoffending and returns, measured as the official statistics measure them.

The England & Wales proven reoffending measure follows a cohort of people for one year from a starting
event and counts those who commit at least one further offence (later proven) in that year. It is
offender-based: each person is counted once, at their first starting event in the cohort period. Two cohorts:

* **court order**: people starting a court order in the community: entering a *court-order stage* from a
  stage that is not a breach route's target (so a sentence, straight from the entry stage or after a stage
  such as remand, and not an order continued after a breach hearing);
* **custody release**: people released from custody: entering a *release stage* from a custody-setting stage
  (a release after a recall counts too: the person is counted once anyway, at their first release).

The roles of stages come from the scenario's journey (:func:`stage_roles`), never from stage names:

* court-order stages: community stages that a ``next`` edge of the entry stage leads to;
* release stages: community stages that a ``next`` edge of a custody stage leads to, other than the
  court-order stages;
* recall stages: custody stages that a release stage's ``on_breach`` route leads to;
* breach targets: every stage an ``on_breach`` route leads to.

A starting event is a ``stage_enter`` row; the stage before it is the stage of the case's previous
``stage_enter`` row. A case placed on day 0 (``initial``) has no stage before its first, so its first stay is
no starting event (its order or licence began before the run). The cohort period is the part of the window
``[warmup, horizon)`` that leaves a whole year of follow-up: starts in ``[warmup, horizon - 365]``. A person's
year runs ``[start, start + 365)`` days; an offence counts if it is any ``offence`` row (``supervised`` or
``after_exit``) of any case of the same person (register column ``person``; the case itself where the
register has none) after the start (later in time, or at the same time and later in the log).

Everything is column-wise over the ``stage_enter``, ``arrival`` and ``offence`` rows only (a small share of a
national log); no Python loop runs over rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from casesim.metrics.tables import LogArrays, RegisterPositions, exposure
from casesim.scenario.params import EXIT, RISKS

if TYPE_CHECKING:
    from casesim.metrics.summary import MetricsContext
    from casesim.scenario.journey import Journey

#: Days of follow-up of the proven reoffending measure (one calendar year, as the official measure).
FOLLOW_UP_DAYS = 365.0
#: Cohorts of ``proven_reoffending_1y``, in order.
COHORTS = ("all", "court_order", "custody_release", "custody_release_short")
#: Days served before release below which a release counts in the ``custody_release_short`` cohort: half a
#: year, the time served of a sentence under 12 months (released at the halfway point), the band the official
#: statistics publish separately.
SHORT_SERVED_DAYS = 182.5
#: Causes of ``arrival`` rows: a new person, a person in the population at the start, a person who left and
#: came back as a new case after a further offence.
NEW_ARRIVAL, INITIAL, RETURN = "arrival", "initial", "return"


@dataclass(frozen=True)
class StageRoles:
    """What each stage is to the reoffending measures (see the module docstring)."""

    court_order: frozenset[str] = frozenset()
    release: frozenset[str] = frozenset()
    recall: frozenset[str] = frozenset()
    breach_targets: frozenset[str] = frozenset()


def stage_roles(journey: Journey) -> StageRoles:
    """The stage roles of ``journey``, from its settings, entry stage, ``next`` edges and breach routes."""
    stages = journey.stages
    setting = {name: st.setting for name, st in stages.items()}

    def community_next(name: str) -> set[str]:
        return {t for t in stages[name].next if t != EXIT and setting.get(t) == "community"}

    court = community_next(journey.entry) - {journey.entry} if journey.entry in stages else set()
    release = {t for name, v in setting.items() if v == "custody" for t in community_next(name)} - court
    recall = {stages[name].on_breach.to for name in release            # type: ignore[union-attr]
              if stages[name].on_breach is not None and setting.get(stages[name].on_breach.to) == "custody"}
    targets = {st.on_breach.to for st in stages.values() if st.on_breach is not None}
    return StageRoles(frozenset(court), frozenset(release), frozenset(recall), frozenset(targets))


def _persons(register: pd.DataFrame, cases: np.ndarray) -> np.ndarray:
    """The person of each case: register ``person`` (the case itself where the register has no such column
    or does not hold the case)."""
    cases = np.asarray(cases, dtype=np.int64)
    if "person" not in register.columns or not len(cases):
        return cases
    pos = RegisterPositions(register["case"].to_numpy(dtype=np.int64))(cases)
    person = register["person"].to_numpy(dtype=np.int64)
    return np.where(pos >= 0, person[np.maximum(pos, 0)], cases)


def _risks(register: pd.DataFrame, cases: np.ndarray) -> np.ndarray:
    """The register risk of each case (risk at arrival; "" when the case is not in the register)."""
    if not len(cases):
        return np.zeros(0, dtype=object)
    pos = RegisterPositions(register["case"].to_numpy(dtype=np.int64))(np.asarray(cases, dtype=np.int64))
    risk = np.r_[register["risk"].astype(str).to_numpy(dtype=object), np.array([""], dtype=object)]
    return risk[pos]


def _starts(lg: LogArrays, roles: StageRoles, stage_setting: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Every starting event of the cohorts in the whole log: its ``stage_enter`` row, by cohort (``all`` is
    made by the caller). ``custody_release_short``: releases from a custody stage that is not a recall stage
    after a stay there under ``SHORT_SERVED_DAYS`` (time on remand, a stage of its own, is not counted)."""
    enter = lg.rows("stage_enter")
    order = np.lexsort((enter, lg.case[enter]))
    rows = enter[order]
    case = lg.case[rows]
    stage = lg.stage[rows].astype(np.int64)
    same = np.r_[False, case[1:] == case[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    before = np.where(same, np.r_[-1, stage[:-1]] if len(rows) else stage, -1)   # the stage before (-1: none)

    def mask(names: set[str] | frozenset[str]) -> np.ndarray:   # over stage codes, with -1 (none) -> False
        return np.r_[lg.stage_mask(names), False]

    custody = {s for s, v in stage_setting.items() if v == "custody"}
    court = mask(roles.court_order)[stage] & (before >= 0) & ~mask(roles.breach_targets)[before]
    release = mask(roles.release)[stage] & mask(custody)[before]
    t = lg.time[rows]
    served = t - np.r_[np.nan, t[:-1]] if len(rows) else t
    short = release & ~mask(roles.recall)[before] & (served < SHORT_SERVED_DAYS)
    return {"court_order": rows[court], "custody_release": rows[release], "custody_release_short": rows[short]}


def _first_per_person(person: np.ndarray, time: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of each person's first entry (by time, then row)."""
    order = np.lexsort((rows, time, person))
    first = np.r_[True, person[order][1:] != person[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
    return order[first]


def _follow_up(lg: LogArrays, register: pd.DataFrame, start_rows: np.ndarray,
               off_rows: np.ndarray, off_person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For cohort starts (one per person): whether the person offended within the year, and the days to
    their first offence after the start (NaN if none within the year)."""
    person = _persons(register, lg.case[start_rows])
    n_s = len(start_rows)
    rows = np.r_[start_rows, off_rows]
    who = np.r_[person, off_person]
    is_off = np.r_[np.zeros(n_s, dtype=bool), np.ones(len(off_rows), dtype=bool)]
    order = np.lexsort((rows, lg.time[rows], who))   # by person, then time, then log order
    big = len(order)
    at = np.where(is_off[order], np.arange(big), big)
    nxt = np.minimum.accumulate(at[::-1])[::-1] if big else at   # the first offence at or after each position
    where = np.empty(big, dtype=np.int64)
    where[order] = np.arange(big)
    j = nxt[where[:n_s]]
    found = j < big
    j = np.minimum(j, max(big - 1, 0))
    hit = found & (who[order][j] == person) if n_s else found
    days = lg.time[rows[order][j]] - lg.time[start_rows] if n_s else np.zeros(0)
    within = hit & (days < FOLLOW_UP_DAYS)
    return within, np.where(within, days, np.nan)


def _offences_in_year(lg: LogArrays, register: pd.DataFrame, start_rows: np.ndarray, off_rows: np.ndarray,
                      off_person: np.ndarray) -> np.ndarray:
    """For cohort starts: how many offences of the person fall in ``[start, start + 365)`` days."""
    person = _persons(register, lg.case[start_rows]).astype(np.float64)
    t0 = lg.time[start_rows]
    # One sorted key for (person, time): the time is below 1e6 days, so person x 1e6 + time keeps the order.
    key = np.sort(off_person.astype(np.float64) * 1e6 + lg.time[off_rows])
    lo = np.searchsorted(key, person * 1e6 + t0, side="left")
    hi = np.searchsorted(key, person * 1e6 + t0 + FOLLOW_UP_DAYS, side="left")
    return hi - lo


def reoffending_summary(lg: LogArrays, register: pd.DataFrame, ctx: MetricsContext,
                        case_years: float) -> dict[str, Any]:
    """The reoffending and return measures of ``summary.json`` (see the module docstring and docs/kpis.md).

    Returns:
        ``proven_reoffending_1y`` (by cohort), ``proven_reoffending_1y_by_risk`` (the ``all`` cohort by the
        register risk of the case at its start), ``mean_days_to_first_offence``, ``cases_returned`` (arrivals
        in the window that are returns), ``returning_share``,
        ``further_offences``, ``further_offences_per_case_year``, ``custody_days_recall`` and
        ``custody_days_new_sentence``; undefined values are None.
    """
    a, h = ctx.warmup, ctx.horizon
    roles = ctx.roles
    out: dict[str, Any] = {}
    # --- proven reoffending: cohorts starting in [a, h - 365], one year of follow-up each
    shares: dict[str, float | None] = dict.fromkeys(COHORTS)
    by_risk: dict[str, float | None] = dict.fromkeys(RISKS)
    mean_days = per_reoffender = None
    if h - FOLLOW_UP_DAYS >= a:
        off = lg.rows("offence")
        off_person = _persons(register, lg.case[off])
        starts = _starts(lg, roles, ctx.stage_setting)
        starts["all"] = np.r_[starts["court_order"], starts["custody_release"]]
        for name in COHORTS:
            rows = starts[name]
            t = lg.time[rows]
            rows = rows[(t >= a) & (t <= h - FOLLOW_UP_DAYS)]
            rows = rows[_first_per_person(_persons(register, lg.case[rows]), lg.time[rows], rows)]
            within, days = _follow_up(lg, register, rows, off, off_person)
            shares[name] = float(within.mean()) if len(rows) else None
            if name == "all":
                risk = _risks(register, lg.case[rows])
                for level in RISKS:
                    sel = risk == level
                    by_risk[level] = float(within[sel].mean()) if sel.any() else None
                mean_days = float(np.nanmean(days)) if within.any() else None
                if within.any():
                    count = _offences_in_year(lg, register, rows[within], off, off_person)
                    per_reoffender = float(count.mean())
    out["proven_reoffending_1y"] = shares
    out["proven_reoffending_1y_all"] = shares["all"]   # (the headline figure: one number a run)
    out["proven_reoffending_1y_by_risk"] = by_risk
    out["mean_days_to_first_offence"] = mean_days
    out["proven_reoffences_per_reoffender"] = per_reoffender
    # --- returns
    arr = lg.in_window(lg.rows("arrival"), a, h)
    returned = int(lg.cause_is(arr, RETURN).sum())
    new = returned + int(lg.cause_is(arr, NEW_ARRIVAL).sum())
    out["cases_returned"] = returned
    out["returning_share"] = returned / new if new else None
    # --- further offences
    n_off = len(lg.in_window(lg.rows("offence"), a, h))
    out["further_offences"] = n_off
    out["further_offences_per_case_year"] = n_off / case_years if case_years else None
    # --- custody days on recall, and of cases that came back
    enter, leave = lg.rows("stage_enter"), lg.closing("stage_exit")

    def days(keep_enter: np.ndarray, keep_leave: np.ndarray) -> float:
        return float(exposure(lg.time[enter[keep_enter]], a, h).sum()
                     - exposure(lg.time[leave[keep_leave]], a, h).sum())

    recall = lg.stage_mask(roles.recall)
    out["custody_days_recall"] = days(recall[lg.stage[enter]], recall[lg.stage[leave]])
    custody = lg.stage_mask({s for s, v in ctx.stage_setting.items() if v == "custody"})
    arrivals = lg.rows("arrival")
    came_back = np.unique(lg.case[arrivals[lg.cause_is(arrivals, RETURN)]])
    out["custody_days_new_sentence"] = days(custody[lg.stage[enter]] & np.isin(lg.case[enter], came_back),
                                            custody[lg.stage[leave]] & np.isin(lg.case[leave], came_back))
    return out


__all__ = ["COHORTS", "FOLLOW_UP_DAYS", "SHORT_SERVED_DAYS", "StageRoles", "reoffending_summary", "stage_roles"]
