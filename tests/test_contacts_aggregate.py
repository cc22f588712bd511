"""Contacts decided in aggregate (``process.contact_settlement: aggregate``).

The sampler must have exactly the law of one draw per contact; the engine must place every contact where
the per-contact engine would (on its mode's grid, inside its stay, before the horizon) and keep the log in
time order; and every table must count a row that stands for ``n`` contacts as those ``n`` contacts.
"""

from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casesim.engine.process import first_miss
from casesim.engine.simulation import Simulation
from casesim.metrics.costs import cost_table, fte_table
from casesim.metrics.summary import summarize, timeseries
from casesim.metrics.tables import LogArrays, case_table
from casesim.outputs.report import enforcement_by
from casesim.outputs.results import Result, run
from tests.helpers import small

AGG = "process.contact_settlement=aggregate"


def _law(keep: list[float]) -> np.ndarray:
    """P(first miss at j) for j < n, then P(all kept)."""
    out, alive = [], 1.0
    for p in keep:
        out.append(alive * (1 - p))
        alive *= p
    return np.array([*out, alive])


@pytest.mark.parametrize("keep", [[0.9] * 6, [0.6, 0.7, 0.8, 0.9, 0.95], [0.95, 0.9, 0.8, 0.5],
                                  [0.3] * 3, [0.999] * 8, [0.5]])
def test_the_first_miss_has_the_law_of_one_draw_per_contact(keep: list[float]) -> None:
    rng = np.random.default_rng(12345)
    trials = 60_000
    n = len(keep)
    got = np.zeros(n + 1)
    for _ in range(trials):
        gap, thin = rng.random(n), rng.random(n)
        j, p = first_miss(n, keep.__getitem__, gap.__getitem__, thin.__getitem__)
        got[j] += 1
        assert p == (keep[j] if j < n else 1.0)
    law = _law(keep)
    # each outcome's frequency within 4.5 standard errors of its probability (deterministic: fixed seed)
    se = np.sqrt(law * (1 - law) / trials)
    assert np.all(np.abs(got / trials - law) <= 4.5 * se + 1e-12), (got / trials, law)


def test_certain_outcomes_need_no_luck() -> None:
    never = pytest.fail   # no uniform may be drawn
    assert first_miss(4, lambda j: 1.0, never, never) == (4, 1.0)
    assert first_miss(4, lambda j: 0.0, lambda j: 0.5, lambda j: 0.5) == (0, 0.0)


@cache
def _runs() -> tuple[Result, Result]:
    each = run(small(), seed=3)
    agg = run(small(AGG), seed=3)
    return each, agg


def _contacts(result: Result) -> pd.DataFrame:
    """Every contact of the run, one row each: case, time, outcome."""
    lg = LogArrays(result.events)
    parts = []
    for kind in ("contact_kept", "contact_missed", "contact_cancelled"):
        rows, t = lg.contacts(kind, result.context.contact_interval)
        parts.append(pd.DataFrame({"case": lg.case[rows], "time": t, "kind": kind,
                                   "mode": lg.cause_names[lg.cause[rows]] if kind != "contact_cancelled"
                                   else None}))
    return pd.concat(parts, ignore_index=True).sort_values(["case", "time"], kind="stable")


def test_aggregate_runs_fewer_events_with_one_row_per_kept_stretch() -> None:
    each, agg = _runs()
    kinds = agg.events["kind"].astype(str)
    assert (kinds == "contacts_kept").sum() > 0 and (kinds == "contacts_cancelled").sum() > 0
    assert len(agg.events) < 0.9 * len(each.events)
    kept, away = agg.events[kinds == "contacts_kept"], agg.events[kinds == "contacts_cancelled"]
    assert (kept["value"] >= 1).all() and (away["value"] >= 2).all()   # one not offered is a row of its own
    assert (kept["value"] == kept["value"].round()).all() and (away["value"] == away["value"].round()).all()
    assert kept["value"].mean() > 2   # most kept stretches hold several contacts


def test_the_log_stays_in_time_order() -> None:
    _, agg = _runs()
    assert np.all(np.diff(agg.events["time"].to_numpy()) >= 0)


def test_every_contact_lies_inside_its_stay_and_before_the_horizon() -> None:
    _, agg = _runs()
    c = _contacts(agg)
    ev = agg.events
    h = agg.context.horizon
    assert (c["time"] < h).all()
    # no case has two contacts at one instant: the windows never overlap
    assert not c.duplicated(["case", "time"]).any()
    # each contact falls within a stay of its case: between a stage_enter and the next stage_exit
    enter = ev[ev["kind"] == "stage_enter"][["case", "time"]].sort_values(["case", "time"])
    leave = ev[ev["kind"] == "stage_exit"][["case", "time"]].sort_values(["case", "time"])
    start = pd.merge_asof(c.sort_values("time"), enter.sort_values("time").rename(columns={"time": "start"}),
                          left_on="time", right_on="start", by="case", direction="backward")
    stop = pd.merge_asof(start.sort_values("time"), leave.sort_values("time").rename(columns={"time": "stop"}),
                         left_on="time", right_on="stop", by="case", direction="forward")
    assert stop["start"].notna().all()
    assert ((stop["stop"].isna()) | (stop["time"] <= stop["stop"])).all()
    assert (stop["start"] <= stop["time"]).all()


def test_contacts_of_a_stretch_follow_the_mode_interval() -> None:
    _, agg = _runs()
    lg = LogArrays(agg.events)
    rows, t = lg.contacts("contact_kept", agg.context.contact_interval)
    runs = lg.rows("contacts_kept")
    single = len(lg.rows("contact_kept"))
    assert len(rows) == single + int(lg.value[runs].sum())
    # a stretch's contacts: the first at the row's time, then one mode interval apart, to the last bit
    first = rows[single:][0]
    n = int(lg.value[first])
    step = agg.context.contact_interval[str(lg.cause_names[lg.cause[first]])]
    assert list(t[single:single + n]) == [lg.time[first] + j * step for j in range(n)]


def _expanded(result: Result) -> pd.DataFrame:
    """The run's log with each row that stands for ``n`` contacts replaced by ``n`` rows of one contact, in
    its place: the log the per-contact engine would write for the same decisions."""
    ev = result.events.reset_index(drop=True)
    kinds = ev["kind"].astype(str).to_numpy()
    single = {"contacts_kept": "contact_kept", "contacts_cancelled": "contact_cancelled"}
    is_run = np.isin(kinds, list(single))
    count = np.where(is_run, ev["value"].to_numpy(), 1).astype(np.int64)
    idx = np.repeat(np.arange(len(ev)), count)
    j = np.arange(len(idx)) - np.repeat(np.cumsum(count) - count, count)
    out = ev.iloc[idx].reset_index(drop=True)
    step = out["cause"].astype(str).map(result.context.contact_interval).fillna(0.0).to_numpy()
    run_rows = is_run[idx]
    out.loc[run_rows, "time"] = out["time"].to_numpy()[run_rows] + j[run_rows] * step[run_rows]
    new_kind = np.where(run_rows, pd.Series(kinds[idx]).map(single).fillna("").to_numpy(), kinds[idx])
    out["kind"] = pd.Categorical(new_kind, categories=ev["kind"].cat.categories)
    out.loc[run_rows, "value"] = 1.0
    cancelled = run_rows & (new_kind == "contact_cancelled")
    out["cause"] = out["cause"].astype(str)
    out.loc[cancelled, "cause"] = "holder_absent"
    out["cause"] = out["cause"].astype(ev["cause"].dtype if str(ev["cause"].dtype) != "category" else "category")
    return out


def _same(a: object, b: object, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, path


def test_every_table_counts_a_stretch_as_its_contacts() -> None:
    _, agg = _runs()
    ctx, reg = agg.context, agg.register
    flat = _expanded(agg)
    assert len(flat) > len(agg.events)
    _same(summarize(agg.events, reg, ctx), summarize(flat, reg, ctx))
    pd.testing.assert_frame_equal(timeseries(agg.events, reg, ctx), timeseries(flat, reg, ctx))
    pd.testing.assert_frame_equal(case_table(agg.events, reg, ctx), case_table(flat, reg, ctx))
    pd.testing.assert_frame_equal(cost_table(agg.events, ctx), cost_table(flat, ctx), rtol=1e-9)
    pd.testing.assert_frame_equal(fte_table(agg.events, ctx), fte_table(flat, ctx), rtol=1e-9)
    pd.testing.assert_frame_equal(enforcement_by(agg.events, reg, ctx), enforcement_by(flat, reg, ctx))


def _listed(lg: LogArrays, kind: str, interval: dict, start: float, end: float) -> np.ndarray:
    """The rows of the contacts of ``kind`` due in ``[start, end)``, one entry per contact (the listing that
    ``contact_counts`` replaces, kept here as its reference)."""
    rows, t = lg.contacts(kind, interval)
    return rows[(t >= start) & (t < end)]


def test_contacts_counted_per_row_are_the_contacts_listed_one_by_one() -> None:
    # contact_counts must give, row by row, exactly how many of the contacts listed one by one fall in the window,
    # also for windows whose ends fall exactly on a contact (and on the next float either side of it)
    _, agg = _runs()
    lg, iv = LogArrays(agg.events), agg.context.contact_interval
    _, times = lg.contacts("contact_kept", iv)
    inner = times[len(lg.rows("contact_kept")):]   # contacts of rows standing for several
    picks = [float(x) for x in inner[:: max(1, len(inner) // 7)]]
    edges = [-np.inf, 0.0, agg.context.warmup, agg.context.horizon, np.inf]
    edges += picks + [float(np.nextafter(x, -np.inf)) for x in picks] + [float(np.nextafter(x, np.inf)) for x in picks]
    for kind in ("contact_kept", "contact_missed", "contact_cancelled"):
        for start, end in itertools.product(edges, edges):
            rows, count = lg.contact_counts(kind, iv, start, end)
            # no count where no row stands for several (misses are always one by one)
            assert (count is None) == (kind == "contact_missed")
            count = np.ones(len(rows), dtype=np.int32) if count is None else count
            listed = _listed(lg, kind, iv, start, end)
            assert (count >= 1).all() and len(np.unique(rows)) == len(rows)
            want = {int(k): int(v) for k, v in pd.Series(listed).value_counts().items()}
            assert dict(zip(rows.tolist(), count.tolist(), strict=True)) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1e6), st.sampled_from([1e-3, 0.1, 1 / 3, 7.0, 28.7, 1e3]),
                      st.integers(1, 5000)), min_size=1, max_size=30),
       st.floats(-10.0, 1.1e6))
def test_the_first_contact_at_or_after_a_bound_is_found_exactly_for_many_runs_at_once(runs: list,
                                                                                   bound: float) -> None:
    # many runs in one call, far from the estimate's reach (tiny steps, large times), some corrected up and
    # some down at once
    from casesim.metrics.tables import _first_at_least
    t0, step, n = (np.array(x) for x in zip(*runs, strict=True))
    got = _first_at_least(t0.astype(float), step.astype(float), n.astype(np.int64), bound)
    for i, (a, d, k) in enumerate(runs):
        times = a + np.arange(k, dtype=np.float64) * d   # as LogArrays.contacts computes them
        assert got[i] == int(np.searchsorted(times, bound, side="left"))


def test_a_stretch_whose_mode_has_no_positive_interval_is_refused() -> None:
    _, agg = _runs()
    lg = LogArrays(agg.events)
    mode = str(lg.cause_names[lg.cause[lg.rows("contacts_kept")[0]]])
    for bad in (0.0, -7.0, math.inf):
        iv = {**agg.context.contact_interval, mode: bad}
        with pytest.raises(ValueError, match="not a positive number of days"):
            lg.contact_counts("contact_kept", iv, 0.0, 100.0)
        with pytest.raises(ValueError, match="not a positive number of days"):
            lg.contacts("contact_kept", iv)


def test_a_log_of_contacts_one_by_one_is_counted_without_counts() -> None:
    each, _ = _runs()
    lg = LogArrays(each.events)
    for kind in ("contact_kept", "contact_missed", "contact_cancelled"):
        rows, count = lg.contact_counts(kind, each.context.contact_interval, 100.0, 400.0)
        assert count is None
        np.testing.assert_array_equal(rows, _listed(lg, kind, each.context.contact_interval, 100.0, 400.0))


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 2000.0), st.sampled_from([0.1, 1 / 3, 7.0, 14.000000000000002, 28.7, 3.5]),
       st.integers(1, 40), st.integers(-3, 45), st.sampled_from([-1, 0, 1]), st.floats(-50.0, 2000.0))
def test_the_first_contact_at_or_after_a_bound_is_found_exactly(t0: float, step: float, n: int, j: int,
                                                                nudge: int, other: float) -> None:
    # the bound is a contact's own time (as the engine computes it), a float either side of it, or any time
    from casesim.metrics.tables import _first_at_least
    times = [t0 + float(i) * step for i in range(n)]
    bound = t0 + float(j) * step
    bound = float(np.nextafter(bound, np.inf if nudge > 0 else -np.inf)) if nudge else bound
    for b in (bound, other):
        want = next((i for i, t in enumerate(times) if t >= b), n)
        got = _first_at_least(np.array([t0]), np.array([step]), np.array([n]), b)
        assert got.tolist() == [want]


def test_a_stretch_of_an_unknown_mode_is_refused_by_name() -> None:
    _, agg = _runs()
    with pytest.raises(ValueError, match="has no contact interval"):
        LogArrays(agg.events).contacts("contact_kept", {})


def test_aggregate_is_reproducible_and_close_to_each_contact_at_its_time() -> None:
    each, agg = _runs()
    again = run(small(AGG), seed=3)
    pd.testing.assert_frame_equal(agg.events, again.events)
    # the same people arrive and stay; only the contacts' luck differs (seed noise, not a bias)
    s, a = each.summary, agg.summary
    assert a["cases_entered"] == s["cases_entered"]
    assert a["contacts_required"] == pytest.approx(s["contacts_required"], rel=0.02)
    assert a["compliance_rate_of_offered"] == pytest.approx(s["compliance_rate_of_offered"], abs=0.01)
    assert a["share_contacts_not_offered"] == pytest.approx(s["share_contacts_not_offered"], abs=0.01)


def test_the_report_says_when_contacts_were_decided_in_aggregate() -> None:
    each, agg = _runs()
    assert "Contacts were decided in aggregate" in agg.report_html()
    assert "Contacts were decided in aggregate" not in each.report_html()


def _one_draw_per_contact(n: int, keep, u_gap, u_thin) -> tuple[int, float]:   # noqa: ANN001
    """The per-contact engine's decisions inside a window: contact ``j`` is kept when its uniform (the one
    the per-contact engine draws for it) is below its probability."""
    for j in range(n):
        p = keep(j)
        if u_gap(j) >= p:
            return j, p
    return n, 1.0


def _outcomes(events: pd.DataFrame) -> pd.DataFrame:
    k = events["kind"].astype(str)
    c = events[k.isin(["contact_kept", "contact_missed", "contact_cancelled", "warning"])][["case", "time", "kind"]]
    return c.astype({"kind": str}).sort_values(["case", "time"], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("policy", ["", "management.community.cover={name: pod}",
                                    "management.community.cover={name: none}",
                                    "management.community.approach={name: team}",
                                    "management.custody.approach.name=hybrid"])
def test_windows_settle_every_contact_as_the_per_contact_engine_would(
        policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the luck of one draw per contact swapped in and the two terms a window holds fixed switched
    off (caseload pressure, unmet needs), the aggregate engine must make exactly the per-contact engine's
    decisions: same contacts, same times, same outcomes (kept, missed, not offered). This checks that a
    window never runs across a change of holder, deliverer or availability, a review, a plan or the end of
    a stay. No initial population: cases placed at day 0 tie at the same instants, and SimPy breaks ties by
    scheduling order, which fewer wake-ups change."""
    sets = ["compliance.pressure=0", "compliance.unmet_need=0", "initial_population.by_stage={}",
            "arrivals.rate_per_day=4", "time.horizon_days=500", "time.warmup_days=100", *([policy] if policy else [])]
    each = run(small(*sets), seed=11)
    import casesim.engine.process
    monkeypatch.setattr(casesim.engine.process, "first_miss", _one_draw_per_contact)
    agg = run(small(AGG, *sets), seed=11)
    assert (agg.events["kind"] == "contacts_kept").sum() > 1000   # windows of several contacts were used
    pd.testing.assert_frame_equal(_outcomes(each.events), _outcomes(_expanded(agg)))
    assert agg.summary["breaches"] == each.summary["breaches"] and agg.summary["recalls"] == each.summary["recalls"]


def test_the_log_is_indexed_once_inside_a_shared_block_and_anew_outside() -> None:
    from casesim.metrics.tables import shared_log_arrays
    _, agg = _runs()
    ev, other = agg.events, agg.events.copy()
    assert LogArrays.of(ev) is not LogArrays.of(ev)           # no block: built each time
    with shared_log_arrays(ev):
        first = LogArrays.of(ev)
        assert LogArrays.of(ev) is first                      # the same frame: one index
        assert LogArrays.of(other) is not first               # an equal copy is another frame
        with shared_log_arrays(other):
            assert LogArrays.of(other) is LogArrays.of(other) and LogArrays.of(ev) is first
    assert LogArrays.of(ev) is not first                      # the block is over: nothing kept
    np.testing.assert_array_equal(LogArrays.of(ev).rows("contacts_kept"), first.rows("contacts_kept"))


def _absence_calendar(cover: str) -> tuple[Simulation, list[tuple]]:
    """A run that records, at each start and end of an absence and each departure, the person's published
    calendar just before it."""
    sim = Simulation(small(AGG, "time.horizon_days=900", "time.warmup_days=100", f"management.community.cover={cover}",
                           "staffing.sickness_episode_days=12"), seed=2)
    seen: list[tuple] = []
    start, end, leave = sim.absence_start, sim.absence_end, sim.staff_leaves

    def on_start(m, cause, days):   # noqa: ANN001, ANN202
        seen.append(("start", m.unique_id, sim.env.now, days, m.next_change, m.next_back, m.next_after_back,
                     sim.cover[m.setting].acts_on(days)))
        start(m, cause, days)

    def on_end(m):   # noqa: ANN001, ANN202
        seen.append(("end", m.unique_id, sim.env.now))
        end(m)

    def on_leave(m):   # noqa: ANN001, ANN202
        seen.append(("leave", m.unique_id, sim.env.now, m.next_change))
        leave(m)

    sim.absence_start, sim.absence_end, sim.staff_leaves = on_start, on_end, on_leave
    while sim.running:
        sim.step()
    return sim, seen


@pytest.mark.parametrize("cover", ["{name: none}", "{name: temporary}", "{name: pod}"])
def test_staff_publish_their_next_absence_and_the_change_after_its_end(cover: str) -> None:
    """What a window reads ahead must be what then happens: the absence's start and end, whether cover acts
    on it, and the person's next change after the return (the next absence, or leaving)."""
    sim, seen = _absence_calendar(cover)
    quiet = loud = 0
    for i, row in enumerate(seen):
        if row[0] != "start":
            continue
        _, who, now, days, change, back, after, acts = row
        assert change == pytest.approx(now, rel=1e-12, abs=1e-9)
        if acts:
            assert back is None
            loud += 1
            continue
        quiet += 1
        rest = [r for r in seen[i + 1:] if r[1] == who]
        if not rest:   # still away at the horizon
            assert back >= sim.horizon
            continue
        assert rest[0][0] == "end" and back == rest[0][2]   # the return, to the last bit
        if len(rest) > 1:   # the person's next change: an absence or leaving, when the run went that far
            assert rest[1][0] in ("start", "leave") and after == pytest.approx(rest[1][2], rel=1e-12, abs=1e-9)
        else:
            assert after >= sim.horizon - 1e-9
    assert quiet > 50 and loud > 0   # (custody keeps its own cover policy)


def test_a_window_runs_across_an_absence_nobody_acts_on_and_skips_its_contacts() -> None:
    from casesim.engine.process import _window

    sim = Simulation(small(AGG, "management.community.cover={name: none}"), seed=6)
    while sim.time < 200:
        sim.step()
    checked = 0
    for case in sorted(sim.cases(), key=lambda c: c.no):
        holder = case.holder
        if holder is None or sim.deliverer(case) is not holder or holder.next_back is None or case.mode is None:
            continue
        n, staff, interval, away = _window(sim, case, math.inf, math.inf, 1e6)
        now, s, e = sim.env.now, holder.next_change, holder.next_back
        times = [now + j * interval for j in range(n)]
        assert staff is holder and times[-1] < min(holder.next_after_back, sim.horizon)
        inside = [j for j, t in enumerate(times) if s < t < e]
        if away is None:
            assert not inside
        else:
            assert list(range(*away)) == inside and away[0] < away[1]
            checked += 1
    assert checked > 20


def test_a_case_history_is_its_rows_so_far_in_time_order() -> None:
    sim = Simulation(small(AGG), seed=6)
    while sim.time < 300:
        sim.step()
    assert not sim.log.in_order   # rows of later contacts were logged ahead of the clock
    case = max(sim.cases(), key=lambda c: c.contacts)
    h = case.history()
    assert len(h) > 5 and (h["case"] == case.no).all()
    assert h["time"].is_monotonic_increasing and h["time"].max() <= sim.time
    ahead = sim.log.columns(in_time_order=False)
    assert (ahead["time"] > sim.time).any()
