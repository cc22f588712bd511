"""Proven reoffending and returns (casesim/metrics/reoffending.py) on hand-built logs with known answers, the
stage roles of shipped and renamed journeys, the catalogue entries, the comparison's cost per further offence
avoided, and a real run against a plain reference implementation."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pandas as pd
import pytest

from casesim.log.events import EventLog
from casesim.metrics import kpis
from casesim.metrics.reoffending import StageRoles, stage_roles
from casesim.metrics.summary import MetricsContext, summarize
from casesim.scenario.journey import DEFAULT_JOURNEY, Journey
from tests.helpers import SCENARIOS, small

PRE, NON, BC, CUS, SR, RC = ("PRE_SENTENCE", "NON_CUSTODIAL", "BREACH_COURT", "CUSTODY", "SUPERVISED_RELEASE",
                             "RECALL_CUSTODY")
SETTING = {PRE: "community", NON: "community", BC: "community", CUS: "custody", SR: "community", RC: "custody"}
NEW_KEYS = ("proven_reoffending_1y", "proven_reoffending_1y_by_risk", "returning_share",
            "proven_reoffences_per_reoffender",
            "mean_days_to_first_offence", "further_offences", "further_offences_per_case_year",
            "custody_days_recall", "custody_days_new_sentence")


def ctx_for(warmup: float = 100.0, horizon: float = 1000.0, roles: StageRoles | None = None) -> MetricsContext:
    return MetricsContext(warmup=warmup, horizon=horizon, tick=10.0, stage_setting=SETTING,
                          order_stages=frozenset({NON, SR}), staff_setting={}, contact_cost={},
                          custody_cost_per_day=0.0, provider_cost_per_day={}, court_cost=0.0, recall_cost=0.0,
                          roles=stage_roles(Journey.default()) if roles is None else roles)


def frame(rows: list[tuple]) -> pd.DataFrame:
    log = EventLog()
    for row in sorted(rows, key=lambda r: r[0]):   # stable: rows at one time keep their order
        log.add(*row)
    return log.to_frame()


def arrive(t: float, case: int, cause: str = "arrival", stage: str = PRE) -> list[tuple]:
    return [(t, case, "arrival", "", -1, cause, 1.0), (t, case, "stage_enter", stage, -1, cause, 0.0)]


def move(t: float, case: int, old: str, new: str, outcome: str = "completed") -> list[tuple]:
    cause = {"completed": "completed", "breach": "return_to_court" if new == BC else "recall"}.get(outcome, "")
    return [(t, case, "stage_exit", old, -1, outcome, 0.0), (t, case, "stage_enter", new, -1, cause, 0.0)]


def leave(t: float, case: int, old: str) -> list[tuple]:
    return [(t, case, "stage_exit", old, -1, "completed", 0.0), (t, case, "exit", "", -1, "completed", 1.0)]


def offence(t: float, case: int, stage: str = "", new: str = "") -> list[tuple]:
    """An offence: after exit (no stage), or in a stay, which it ends (stage_exit further_offence, breach, the
    breach route's row and the next stage's stage_enter at the same time)."""
    if not stage:
        return [(t, case, "offence", "", -1, "after_exit", 1.0)]
    route = "return_to_court" if new == BC else "recall"
    return [(t, case, "offence", stage, -1, "supervised", 1.0),
            (t, case, "stage_exit", stage, -1, "further_offence", 0.0),
            (t, case, "breach", stage, -1, "further_offence", 0.0),
            (t, case, route, stage, -1, "further_offence", 0.0),
            (t, case, "stage_enter", new, -1, route, 0.0)]


#: Window [100, 1000): the cohort period is [100, 635].
ROWS = [
    # person 0 (LOW): court order at 130; a further offence at 300 (day 170) sends the order back to court, and
    # the order resumed at 328 (from BREACH_COURT) is no new start
    *arrive(100, 0), *move(130, 0, PRE, NON), *offence(300, 0, NON, BC), *move(328, 0, BC, NON),
    # person 1 (MEDIUM): court order at 140, left at 400, an offence at day 366: not within the year
    *arrive(110, 1), *move(140, 1, PRE, NON), *leave(400, 1, NON), *offence(506, 1),
    # person 2 (HIGH): sentenced before the window, released at 200, an offence at day 365 exactly: not within
    *arrive(50, 2), *move(78, 2, PRE, CUS), *move(200, 2, CUS, SR), *leave(500, 2, SR), *offence(565, 2),
    # person 3 (MEDIUM, then HIGH as case 6): court order at 150, left at 200; back as case 6 (a return) at 260,
    # custody 290-400 (a new sentence), released at 400, offends at 450 as case 6: within a year of both starts
    *arrive(120, 3), *move(150, 3, PRE, NON), *leave(200, 3, NON),
    *arrive(260, 6, "return"), *move(290, 6, PRE, CUS), *move(400, 6, CUS, SR), *offence(450, 6, SR, RC),
    # person 4 (LOW): in both cohorts (court order at 120, breached, custody, released at 400), never offends
    *arrive(100, 4), *move(120, 4, PRE, NON), *move(200, 4, NON, BC, "breach"), *move(228, 4, BC, CUS),
    *move(400, 4, CUS, SR), *leave(600, 4, SR),
    # person 5 (HIGH): on licence on day 0 (no start), recalled at 150, re-released at 270 (a start), offends at
    # 300 (day 30) and is recalled to the end: recall custody 150-270 and 300-1000
    *arrive(0, 5, "initial", SR), *move(150, 5, SR, RC, "breach"), *move(270, 5, RC, SR), *offence(300, 5, SR, RC),
    # person 7 (LOW): a court order at 640, after the cohort period
    *arrive(600, 7), *move(640, 7, PRE, NON), *offence(700, 7, NON, BC),
    # person 8 (MEDIUM): a court order at 635, the last day of the cohort period; offends at day 265
    *arrive(610, 8), *move(635, 8, PRE, NON), *offence(900, 8, NON, BC),
    # person 9 (LOW): a court order at 50, before the window; offences at 80 (before it) and 120
    *arrive(20, 9), *move(50, 9, PRE, NON), *offence(80, 9, NON, BC), *move(108, 9, BC, NON), *offence(120, 9, NON, BC),
]
RISK = {0: "LOW", 1: "MEDIUM", 2: "HIGH", 3: "MEDIUM", 4: "LOW", 5: "HIGH", 6: "HIGH", 7: "LOW", 8: "MEDIUM",
        9: "LOW"}


def register(person: bool = True) -> pd.DataFrame:
    reg = pd.DataFrame({"case": list(RISK), "risk": list(RISK.values())}).sort_values("case", ignore_index=True)
    if person:
        reg["person"] = [c if c != 6 else 3 for c in reg["case"]]
        reg["previous"] = [-1 if c != 6 else 3 for c in reg["case"]]
    return reg


@pytest.fixture(scope="module")
def summary() -> dict:
    return summarize(frame(ROWS), register(), ctx_for())


def test_proven_reoffending_by_cohort_counts_each_person_once_with_a_year_of_follow_up(summary: dict) -> None:
    got = summary["proven_reoffending_1y"]
    # court orders: 0 yes (day 170), 1 no (day 366), 3 yes (case 6, day 300), 4 no, 8 yes (day 265); 7 and 9
    # start outside [100, 635]; 0's order resumed after the breach court is no start
    assert got["court_order"] == pytest.approx(3 / 5)
    # releases: 2 no (day 365), 3 yes (at 400, day 50), 4 no, 5 yes (re-release at 270, day 30)
    assert got["custody_release"] == pytest.approx(2 / 4)
    # all: 0, 1, 2, 3 (at 150), 4 (once, at 120), 5, 8; of them 0, 3, 5, 8 offended within the year
    assert got["all"] == pytest.approx(4 / 7)
    # releases after under half a year in a custody stage that is not a recall: 2 (122 days served), 3 (as
    # case 6: 110 days, offends), 4 (172 days); 5's release ends a recall
    assert got["custody_release_short"] == pytest.approx(1 / 3)
    assert summary["mean_days_to_first_offence"] == pytest.approx((170 + 300 + 30 + 265) / 4)
    # by the register risk of the case at its start: person 3 counts as case 3 (MEDIUM), not case 6 (HIGH)
    assert summary["proven_reoffending_1y_by_risk"] == pytest.approx({"LOW": 1 / 2, "MEDIUM": 2 / 3, "HIGH": 1 / 2})


def test_offences_alongside_a_stay_count_and_so_does_each_offence_of_the_year() -> None:
    def during(t: float, case: int) -> list[tuple]:   # dealt with alongside the stay, which goes on
        return [(t, case, "offence", NON, -1, "during_stay", 1.0)]

    rows = [*arrive(100, 0), *move(130, 0, PRE, NON), *during(200, 0), *during(260, 0), *leave(300, 0, NON),
            *offence(494, 0), *offence(496, 0),              # day 364 (in the year) and day 366 (not)
            *arrive(100, 1), *move(140, 1, PRE, NON), *leave(500, 1, NON)]
    reg = pd.DataFrame({"case": [0, 1], "risk": ["LOW", "LOW"], "person": [0, 1], "previous": [-1, -1]})
    got = summarize(frame(rows), reg, ctx_for())
    assert got["proven_reoffending_1y"]["court_order"] == pytest.approx(1 / 2)
    assert got["mean_days_to_first_offence"] == pytest.approx(70)
    assert got["proven_reoffences_per_reoffender"] == pytest.approx(3)
    assert got["further_offences"] == 4


def test_returns_further_offences_and_custody_days(summary: dict) -> None:
    # arrivals in the window: cases 0, 1, 3, 4, 7, 8 (arrival) and 6 (return); 5 was initial, 2 and 9 came earlier
    assert summary["returning_share"] == pytest.approx(1 / 7)
    # every offence row in [100, 1000): all but person 9's at day 80
    assert summary["further_offences"] == 8
    assert summary["further_offences_per_case_year"] == pytest.approx(8 / summary["case_years"])
    # recall custody: person 5's two recalls (150-270, 300-1000) and case 6's (450-1000)
    assert summary["custody_days_recall"] == pytest.approx((270 - 150) + (1000 - 300) + (1000 - 450))
    # custody of the case that came back: its sentence (290-400) and its recall (450-1000), which is in both
    assert summary["custody_days_new_sentence"] == pytest.approx((400 - 290) + (1000 - 450))
    assert summary["custody_days"] == pytest.approx((200 - 100) + (400 - 290) + (400 - 228) + 1370)
    json.dumps(summary, allow_nan=False)


def test_an_offence_counts_for_the_person_only_through_the_register(summary: dict) -> None:
    alone = summarize(frame(ROWS), register(person=False), ctx_for())["proven_reoffending_1y"]
    # without ``person`` case 6 is someone else: person 3 (case 3) never offends, and case 6 is a person of
    # its own in the release cohort (at 400, offending at 450)
    assert alone["court_order"] == pytest.approx(2 / 5)
    assert alone["custody_release"] == pytest.approx(2 / 4)
    assert alone["all"] == pytest.approx(4 / 8)


@pytest.mark.parametrize(("warmup", "horizon", "court"), [
    (130.0, 1000.0, 3 / 4),    # person 4 (120) is out; 0 starts on the first day of the period
    (100.0, 1000.0 - 1e-9, 2 / 4),   # 8 (635) is just after the period
    (100.0, 1000.0, 3 / 5),
])
def test_the_cohort_period_edges(warmup: float, horizon: float, court: float) -> None:
    got = summarize(frame(ROWS), register(), ctx_for(warmup, horizon))
    assert got["proven_reoffending_1y"]["court_order"] == pytest.approx(court)


def test_a_window_shorter_than_a_year_leaves_no_cohort() -> None:
    got = summarize(frame(ROWS), register(), ctx_for(warmup=700.0))
    assert got["proven_reoffending_1y"] == dict.fromkeys(("all", "court_order", "custody_release",
                                                          "custody_release_short"))
    assert got["proven_reoffending_1y_by_risk"] == dict.fromkeys(("LOW", "MEDIUM", "HIGH"))
    assert got["mean_days_to_first_offence"] is None
    assert got["further_offences"] == 2 and got["returning_share"] is None   # arrivals at 600, 610 are before 700
    json.dumps(got, allow_nan=False)


def test_stage_roles_come_from_the_journey_not_the_names() -> None:
    default = stage_roles(Journey.default())
    assert default == StageRoles(frozenset({NON}), frozenset({SR}), frozenset({RC}), frozenset({BC, RC}))
    from casesim.scenario.schema import load_scenario

    ew = stage_roles(load_scenario(SCENARIOS / "england_wales.yaml")[0].journey)
    assert ew == default   # REMAND is custody, but NON_CUSTODIAL follows the entry: a court order, not a release
    names = dict(zip((PRE, NON, BC, CUS, SR, RC), ("REPORT", "ORDER", "HEARING", "PRISON", "LICENCE", "RECALLED"),
                     strict=True))
    text = json.dumps(DEFAULT_JOURNEY)
    for old, new in names.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    renamed = stage_roles(Journey.model_validate(json.loads(text)))
    assert renamed == StageRoles(frozenset({"ORDER"}), frozenset({"LICENCE"}), frozenset({"RECALLED"}),
                                 frozenset({"HEARING", "RECALLED"}))


def test_a_community_sentence_after_remand_starts_a_court_order() -> None:
    setting = {**SETTING, "REMAND": "custody"}
    ctx = replace(ctx_for(), stage_setting=setting)
    rows = [*arrive(100, 0), *move(120, 0, PRE, "REMAND"), *move(200, 0, "REMAND", NON), *offence(300, 0, NON, BC)]
    got = summarize(frame(rows), pd.DataFrame({"case": [0], "risk": ["LOW"], "person": [0]}), ctx)
    assert got["proven_reoffending_1y"] == {"all": 1.0, "court_order": 1.0, "custody_release": None,
                                            "custody_release_short": None}


def test_every_new_key_is_in_the_catalogue(summary: dict) -> None:
    for key in NEW_KEYS:
        assert key in summary and key in kpis.BY_KEY, key
        assert kpis.BY_KEY[key].kind in kpis.KINDS
    for key in ("proven_reoffending_1y", "proven_reoffending_1y_by_risk", "returning_share"):
        assert kpis.BY_KEY[key].kind == kpis.SHARE and kpis.BY_KEY[key].percent
    assert kpis.BY_KEY["proven_reoffending_1y"].breakdown and not kpis.BY_KEY["proven_reoffending_1y"].headline
    assert kpis.kind_of("proven_reoffending_1y.all") == kpis.SHARE


def test_cost_per_further_offence_avoided() -> None:
    from casesim.studies.compare import cost_per_offence_avoided

    runs = pd.DataFrame({"scenario": ["a", "a", "b", "b", "c", "c", "d", "d"], "replication": [0, 1] * 4,
                         "cost_total": [100.0, 200.0, 160.0, 240.0, 90.0, 200.0, 500.0, 500.0],
                         "further_offences": [10.0, 12.0, 8.0, 10.0, 11.0, 12.0, 10.0, 12.0]})
    got = cost_per_offence_avoided(runs, ["a", "b", "c", "d"])
    # b: costs 50 more on average and avoids 2 offences; c: avoids none (one more, then as many); d: none
    assert got == {"b": pytest.approx(25.0), "c": None, "d": None}
    assert cost_per_offence_avoided(runs.drop(columns="further_offences"), ["a", "b"]) == {"b": None}


def reference(ev: pd.DataFrame, reg: pd.DataFrame, roles: StageRoles, setting: dict[str, str], a: float,
              h: float) -> dict[str, float | None]:
    """The proven reoffending shares by cohort, a person at a time (plain Python: small logs only)."""
    person = dict(zip(reg["case"], reg["person"], strict=True))
    offences: dict[int, list[tuple[float, int]]] = {}
    for i, row in ev[ev["kind"] == "offence"].iterrows():
        offences.setdefault(person[row["case"]], []).append((row["time"], i))
    starts: dict[str, dict[int, tuple[float, int]]] = {"court_order": {}, "custody_release": {},
                                                        "custody_release_short": {}}
    last: dict[int, tuple[str, float]] = {}
    for i, row in ev[ev["kind"] == "stage_enter"].iterrows():
        stage, t = str(row["stage"]), row["time"]
        before, since = last.get(row["case"], (None, t))
        last[row["case"]] = (stage, t)
        if not a <= t <= h - 365 or before is None:
            continue
        kind = ("court_order" if stage in roles.court_order and before not in roles.breach_targets else
                "custody_release" if stage in roles.release and setting[before] == "custody" else None)
        if kind is not None:
            starts[kind].setdefault(person[row["case"]], (t, i))
        if kind == "custody_release" and before not in roles.recall and t - since < 182.5:
            starts["custody_release_short"].setdefault(person[row["case"]], (t, i))
    starts["all"] = {p: min(x for x in (starts["court_order"].get(p), starts["custody_release"].get(p)) if x)
                     for p in starts["court_order"].keys() | starts["custody_release"].keys()}
    out: dict[str, float | None] = {}
    for name, group in starts.items():
        counts = [sum((t, i) > (t0, i0) and t < t0 + 365 for t, i in offences.get(p, [])) for p, (t0, i0) in
                  group.items()]
        out[name] = sum(c > 0 for c in counts) / len(counts) if counts else None
        if name == "all":
            out["per_reoffender"] = sum(counts) / sum(c > 0 for c in counts)
    return out


def test_a_real_run_matches_the_reference() -> None:
    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import metrics_context

    sim = Simulation(small("time.horizon_days=800", "time.warmup_days=100"), seed=1)
    sim.run_to_end()
    ev, reg = sim.log.to_frame(), pd.DataFrame(sim.register)
    ctx = metrics_context(sim)
    got = summarize(ev, reg, ctx)
    want = reference(ev, reg, ctx.roles, dict(ctx.stage_setting), ctx.warmup, ctx.horizon)
    assert all(v is not None for v in want.values())
    assert got["proven_reoffences_per_reoffender"] == pytest.approx(want.pop("per_reoffender"))
    assert want["custody_release_short"] > 0 and want["custody_release_short"] != want["custody_release"]
    assert got["proven_reoffending_1y"] == pytest.approx(want)
    during = (ev["kind"] == "offence") & (ev["cause"] == "during_stay")
    assert during.any(), "no offence alongside a stay: the run does not exercise them"
    returned = (ev["kind"] == "arrival") & (ev["cause"] == "return")
    assert returned.any(), "no person came back: the run does not exercise returns"
    assert (reg["person"] != reg["case"]).sum() == returned.sum()
    assert not math.isnan(got["mean_days_to_first_offence"])
