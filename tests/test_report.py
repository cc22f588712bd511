"""The run report (report.html): its charts hold the same numbers as summary.json, the time series and the
tables, its journey flows conserve cases, and the page needs no network."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_small

from casesim.log.events import EventLog
from casesim.metrics.kpis import format_value, headline
from casesim.metrics.summary import MetricsContext
from casesim.outputs.report import (
    LEFT,
    NEW,
    START,
    STILL,
    costs_by_category,
    enforcement_by,
    figure_payloads,
    journey_flows,
    report_html,
    staff_caseloads,
    waits_by_provider,
)
from casesim.outputs.results import Result

#: A run with no warm-up and nobody on day 0 (edge case of the window and the journey's sources).
TINY = ("time.horizon_days=120", "time.warmup_days=0", "arrivals.rate_per_day=2", "initial_population.by_stage={}")


@pytest.fixture(scope="module")
def res() -> Result:
    return run_small()


@pytest.fixture(scope="module")
def page(res: Result) -> str:
    return report_html(res)


@pytest.fixture(scope="module")
def figs(page: str) -> dict[str, tuple[list, dict]]:
    return figure_payloads(page)


def values(xs: list) -> np.ndarray:
    """A figure's array as floats (None -> NaN)."""
    return np.array([np.nan if v is None else v for v in xs], dtype=float)


def in_window(ev: pd.DataFrame, res: Result) -> pd.DataFrame:
    return ev[(ev["time"] >= res.context.warmup) & (ev["time"] < res.context.horizon)]


# --------------------------------------------------------------------------- the page


def test_page_is_self_contained_deterministic_and_has_every_chart(res: Result, page: str, figs: dict) -> None:
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page, re.I), "the page must not load scripts"
    assert page.count("<script type=\"text/javascript\">/**\n* plotly.js") <= 1
    assert "plotly.js v" in page  # the library itself is inline
    assert set(figs) == {"fig-journey", "fig-population", "fig-caseload", "fig-pressure", "fig-breaks",
                         "fig-compliance-time", "fig-compliance-groups", "fig-waits", "fig-costs", "fig-fte"}
    assert report_html(res) == page, "same result, same page (no random ids, no clock)"


def test_kpi_table_shows_summary_values_with_units(res: Result, page: str) -> None:
    table = page[page.index("<table class='kpi'>"):page.index("</table>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td class='num'>(.*?)</td><td>(.*?)</td><td><code>(.*?)</code>", table)
    by_key = {key: (value, unit) for _, value, unit, key in rows}
    assert set(by_key) == {k.key for k in headline() if k.key in res.summary}
    s = res.summary
    assert by_key["compliance_rate_of_offered"] == (f"{100 * s['compliance_rate_of_offered']:.1f}%",
                                                    "% of contacts offered (kept or missed)")
    assert by_key["mean_caseload"][0] == f"{s['mean_caseload']:.1f}"
    assert by_key["cost_total"] == (f"{s['cost_total']:,.0f}", "GBP")
    assert by_key["mean_wait_days"][1] == "days"
    assert format_value(None, "%") == "n/a"


def test_result_write_includes_the_report(res: Result, tmp_path: Path) -> None:
    out = res.write(tmp_path / "run")
    assert (out / "report.html").read_text(encoding="utf-8") == res.report_html()
    assert "report.html" in __import__("casesim.outputs.results", fromlist=["OUTPUT_FILES"]).OUTPUT_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary folders left


# --------------------------------------------------------------------------- journey flows


def flows_from(figs: dict) -> tuple[list[str], pd.DataFrame]:
    data, _ = figs["fig-journey"]
    sankey = data[0]
    keys = sankey["node"]["customdata"]
    link = sankey["link"]
    return keys, pd.DataFrame({"source": [keys[i] for i in link["source"]],
                               "target": [keys[i] for i in link["target"]], "cases": link["value"]})


def test_sankey_conserves_cases_and_matches_the_summary(res: Result, figs: dict) -> None:
    keys, flows = flows_from(figs)
    s = res.summary
    for node in keys:
        inflow = flows.loc[flows["target"] == node, "cases"].sum()
        outflow = flows.loc[flows["source"] == node, "cases"].sum()
        if not node.startswith("@"):
            assert inflow == outflow > 0, node
    total = {k: flows.loc[(flows["source"] == k) | (flows["target"] == k), "cases"].sum()
             for k in (START, NEW, LEFT, STILL)}
    assert total == {START: s["cases_active_start"], NEW: s["cases_entered"], LEFT: s["cases_exited"],
                     STILL: s["cases_active_end"]}
    # breach routes: every return to court enters the breach court, every recall the recall stage
    moves = flows[~flows["source"].str.startswith("@")]
    assert moves.loc[moves["target"] == "BREACH_COURT", "cases"].sum() == s["returns_to_court"]
    assert moves.loc[moves["target"] == "RECALL_CUSTODY", "cases"].sum() == s["recalls"]
    # flow out of each stage (not counting those still there) = stays that ended in the window
    ev = in_window(res.events, res)
    ended = ev[ev["kind"] == "stage_exit"].groupby("stage", observed=True).size()
    moved = flows[~flows["source"].str.startswith("@") & (flows["target"] != STILL)].groupby("source")["cases"].sum()
    assert moved.to_dict() == {str(k): int(v) for k, v in ended.items() if v}
    # plain words for the stages of the default journey
    labels = figs["fig-journey"][0][0]["node"]["label"]
    assert "Community order" in labels and "NON_CUSTODIAL" not in labels


def ev_row(time: float, case: int, kind: str, stage: str = "", cause: str = "") -> tuple:
    return (time, case, kind, stage, -1, cause, 0.0)


def test_journey_flows_on_a_hand_built_log() -> None:
    pre, non, court, cus, sr = "PRE_SENTENCE", "NON_CUSTODIAL", "BREACH_COURT", "CUSTODY", "SUPERVISED_RELEASE"
    rows = [
        # case 1: on an order before the window, breached in it, back on the order after court
        ev_row(0, 1, "arrival", cause="arrival"), ev_row(0, 1, "stage_enter", pre, "arrival"),
        ev_row(10, 1, "stage_exit", pre, "completed"), ev_row(10, 1, "stage_enter", non, "completed"),
        ev_row(50, 1, "stage_exit", non, "breach"), ev_row(50, 1, "stage_enter", court, "return_to_court"),
        ev_row(60, 1, "stage_exit", court, "completed"), ev_row(60, 1, "stage_enter", non, "completed"),
        # case 2: arrives in the window and leaves after pre-sentence
        ev_row(30, 2, "arrival", cause="arrival"), ev_row(30, 2, "stage_enter", pre, "arrival"),
        ev_row(40, 2, "stage_exit", pre, "completed"), ev_row(40, 2, "exit", cause="completed"),
        # case 3: in custody at the start of the window, released on licence in it
        ev_row(5, 3, "arrival", cause="arrival"), ev_row(5, 3, "stage_enter", pre, "arrival"),
        ev_row(15, 3, "stage_exit", pre, "completed"), ev_row(15, 3, "stage_enter", cus, "completed"),
        ev_row(90, 3, "stage_exit", cus, "completed"), ev_row(90, 3, "stage_enter", sr, "completed"),
    ]
    log = EventLog()
    for row in sorted(rows, key=lambda r: r[0]):
        log.add(*row)
    ctx = MetricsContext(warmup=20.0, horizon=100.0, tick=10.0,
                         stage_setting={pre: "community", non: "community", cus: "custody", sr: "community"},
                         order_stages=frozenset({non, sr}), staff_setting={}, contact_cost={},
                         custody_cost_per_day=0.0, provider_cost_per_day={}, court_cost=0.0, recall_cost=0.0)
    got = {tuple(r) for r in journey_flows(log.to_frame(), ctx).itertuples(index=False)}
    assert got == {(START, non, "", 1), (START, cus, "", 1), (NEW, pre, "", 1), (pre, LEFT, "completed", 1),
                   (non, court, "breach", 1), (court, non, "completed", 1), (cus, sr, "completed", 1),
                   (non, STILL, "", 1), (sr, STILL, "", 1)}


def test_no_warmup_and_no_initial_population() -> None:
    res = run_small(*TINY)
    flows = journey_flows(res.events, res.context)
    assert START not in set(flows["source"])  # nobody before day 0
    assert flows.loc[flows["source"] == NEW, "cases"].sum() == res.summary["cases_entered"]
    assert flows.loc[flows["target"] == STILL, "cases"].sum() == res.summary["cases_active_end"]
    figs = figure_payloads(report_html(res))
    assert figs["fig-population"][1].get("shapes") == []  # no warm-up band


# --------------------------------------------------------------------------- the other charts


def test_population_and_pressure_follow_the_timeseries(res: Result, figs: dict) -> None:
    ts = res.timeseries
    data, _ = figs["fig-population"]
    stacked = np.sum([values(t["y"]) for t in data], axis=0)
    assert len(data) == sum(c.startswith("stage:") for c in ts.columns)
    np.testing.assert_array_equal(stacked, ts["active"].to_numpy(dtype=float))  # every active case is in a stage
    data, layout = figs["fig-pressure"]
    np.testing.assert_allclose(values(data[0]["y"]), 100 * ts["mean_pressure"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(values(data[1]["y"]), 100 * ts["share_over_capacity"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(values(data[2]["y"]), 100 * ts["share_over_110"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(values(data[0]["x"]), ts["time"].to_numpy())
    lines = sorted(s["y0"] for s in layout["shapes"] if s["type"] == "line" and s["y0"] == s["y1"])
    assert lines == [100, 110]
    data, _ = figs["fig-compliance-time"]
    np.testing.assert_allclose(values(data[0]["y"]), 100 * ts["compliance_rate_of_offered"].to_numpy(), rtol=1e-12)
    assert {t["name"]: sum(t["y"]) for t in data[1:]} == {
        "warnings": ts["warnings"].sum(), "breaches": ts["breaches"].sum(),
        "returns to court": ts["returns_to_court"].sum(), "recalls": ts["recalls"].sum()}


def test_caseload_histogram_matches_the_mean_caseload(res: Result, figs: dict) -> None:
    loads = staff_caseloads(res.events, res.context)
    s = res.summary
    mean = (loads["mean_cases"] * loads["days_in_post"]).sum() / loads["days_in_post"].sum()
    assert mean == pytest.approx(s["mean_caseload"], rel=1e-9)
    for setting, sub in loads.groupby("setting"):
        got = (sub["mean_cases"] * sub["days_in_post"]).sum() / sub["days_in_post"].sum()
        assert got == pytest.approx(s["mean_caseload_by_setting"][setting], rel=1e-9)
    data, _ = figs["fig-caseload"]
    shown = np.sort(np.concatenate([values(t["x"]) for t in data]))
    np.testing.assert_allclose(shown, np.sort(loads["mean_cases"].to_numpy()), rtol=1e-12)
    assert len(shown) >= sum(g.count for g in res.scenario.staff)  # every post, and any replacements


def test_breaks_by_cause_match_summary_and_log(res: Result, figs: dict) -> None:
    data, _ = figs["fig-breaks"]
    shown = {cd[0]: y for cd, y in zip(data[0]["customdata"], data[0]["y"], strict=True)}
    assert shown == res.summary["continuity_breaks_by_cause"]
    assert sum(shown.values()) == res.summary["continuity_breaks"]
    ev = in_window(res.events, res)
    log = ev[ev["kind"] == "manager_change"].groupby("cause", observed=True).size()
    assert shown == {str(k): int(v) for k, v in log.items() if v}


def test_compliance_and_enforcement_by_mode_and_risk(res: Result, figs: dict) -> None:
    s = res.summary
    table = enforcement_by(res.events, res.register, res.context)
    for by in ("mode", "risk"):
        sub = table[table["by"] == by]
        assert sub["contacts_required"].sum() == s["contacts_required"]
        assert sub["warnings"].sum() == s["warnings"]
        assert sub["breaches"].sum() == s["breaches"]
    data, _ = figs["fig-compliance-groups"]
    mode_bars, risk_bars = data[0], data[3]
    assert dict(zip(mode_bars["x"], mode_bars["y"], strict=True)) == pytest.approx(
        {k: 100 * v for k, v in s["compliance_by_mode"].items()})
    assert dict(zip(risk_bars["x"], risk_bars["y"], strict=True)) == pytest.approx(
        {k: 100 * v for k, v in s["compliance_by_risk"].items()})
    # the compliance rates by mode agree with the table's contacts: kept / required
    ev = in_window(res.events, res)
    kept = ev[ev["kind"] == "contact_kept"]
    sub = table[table["by"] == "mode"].set_index("label")
    for mode, rate in s["compliance_by_mode"].items():
        assert sub.loc[mode, "contacts_required"] * rate == pytest.approx((kept["cause"] == mode).sum(), abs=1e-6)
    breaches = data[2]  # per 1,000 contacts by mode
    expect = 1000 * sub["breaches"] / sub["contacts_required"]
    assert breaches["y"] == pytest.approx(expect.tolist())


def test_waits_by_provider_match_the_mean_wait(res: Result, figs: dict) -> None:
    from casesim.outputs.report import provider_names

    waits = waits_by_provider(res.events, res.context, provider_names(res))
    s = res.summary
    assert waits["started"].sum() == s["interventions_started"]
    got = waits[waits["started"] > 0]
    assert (got["mean_wait_days"] * got["started"]).sum() / got["started"].sum() == pytest.approx(
        s["mean_wait_days"], rel=1e-9)
    assert set(waits["name"]) == {p.name for p in res.scenario.providers}
    data, _ = figs["fig-waits"]
    shown = dict(zip(data[0]["y"], data[0]["x"], strict=True))
    expect = {n.replace("_", " "): w for n, w in zip(got["name"], got["mean_wait_days"], strict=True)}
    assert shown == pytest.approx(expect)


def test_costs_by_category_match_summary_and_cost_table(res: Result, figs: dict) -> None:
    data, _ = figs["fig-costs"]
    cats = data[0]["customdata"]
    per_cat = {c: sum(t["y"][i] for t in data) for i, c in enumerate(cats)}
    assert per_cat == pytest.approx(res.summary["cost_by_category"], rel=1e-9)
    assert sum(per_cat.values()) == pytest.approx(res.summary["cost_total"], rel=1e-9)
    by_table = costs_by_category(res.costs).groupby("category")["cost"].sum().to_dict()
    assert per_cat == pytest.approx(by_table, rel=1e-12)
    assert {t["name"] for t in data} == set(res.costs["setting"])
    data, _ = figs["fig-fte"]
    assert math.fsum(data[0]["y"]) == pytest.approx(res.summary["fte_required"], rel=1e-9)
    assert math.fsum(data[1]["y"]) == pytest.approx(res.summary["fte_available"], rel=1e-9)


def test_the_days_of_a_scenarios_changes_are_marked_on_the_time_charts(res: Result, figs: dict,
                                                                      tmp_path: Path) -> None:
    from casesim.outputs.report import report_figures
    from casesim.outputs.results import run
    from casesim.scenario.schema import load_scenario

    def orange(fig: dict | tuple) -> list[float]:   # (a figure dict, or the page's (data, layout))
        layout = fig[1] if isinstance(fig, tuple) else fig["layout"]
        return sorted({s["x0"] for s in layout.get("shapes", []) if s.get("line", {}).get("dash") == "dot"})

    assert all(orange(figs[k]) == [] for k in ("fig-population", "fig-pressure", "fig-compliance-time"))
    small = Path(__file__).parent / "data" / "small.yaml"
    path = tmp_path / "changing.yaml"
    path.write_text(f"extends: {small}\nname: changing\ntime: {{horizon_days: 200, warmup_days: 50}}\n"
                    "changes:\n  - {at_day: 120, set: {staff.0.count: 15}}\n"
                    "  - {at_day: 160, set: {enforcement.warnings_before_breach: 2}}\n")
    changed = {div: fig for div, _, _, fig in report_figures(run(load_scenario(path)[0], seed=1))}
    for key in ("fig-population", "fig-pressure", "fig-compliance-time"):
        assert orange(changed[key]) == [120.0, 160.0], key
    notes = [a for a in changed["fig-population"]["layout"]["annotations"] if "change on day" in a["text"]]
    assert [a["hovertext"] for a in notes] == ["staff.0.count", "enforcement.warnings_before_breach"]
