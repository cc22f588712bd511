"""The correctional journey as a directed graph of stages.

Stages and their edges come from the scenario: each stage has a setting (community or
custody), the case-management activities run in it, a stay-length distribution by risk level
(and offence), the probabilities of where a case goes when the stay ends (by risk level), what
a breach leads to, and a further-offence hazard. ``EXIT`` is the sink. The graph is a
``networkx.DiGraph`` whose edges carry ``kind`` (``next`` or the breach event) and, for ``next``
edges, ``p`` (probabilities by risk).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import networkx as nx
from pydantic import field_validator

from casesim.scenario.params import (
    CV,
    CV_LIMIT,
    EXIT,
    FACTOR,
    FACTOR_LIMIT,
    RISKS,
    DaysByRisk,
    P,
    ProbabilityByRisk,
    RatePerYearByRisk,
    Strict,
    bounded,
)

ACTIVITIES = ("assess", "plan", "contacts", "review")


class Duration(Strict):
    """Length of a stay in a stage."""

    dist: Literal["fixed", "exponential", "lognormal", "uniform"] = P("lognormal", "distribution",
                                                                     "assumption: right-skewed stays")
    mean_days: DaysByRisk = P(..., "days", "scenario input", "above 0: every stay takes time, so no case can "
                              "go round the journey without the clock moving")
    cv: float = P(0.5, "coefficient of variation", "assumption; ignored for fixed and exponential", ge=0, le=CV,
                  limit=CV_LIMIT)
    offence_multiplier: dict[str, bounded(float, FACTOR_LIMIT, gt=0, le=FACTOR)] = P(
        dict, "factor on the mean by offence type", "scenario input; missing offence types use 1",
        "above 0, as the mean it multiplies")


class BreachRoute(Strict):
    """Where a breach (or a further offence) in this stage takes the case."""

    to: str = P(..., "stage", "scenario input")
    event: Literal["return_to_court", "recall"] = P(..., "event", "DOMICE: breach of a community measure "
                                                    "returns to court; of supervised release, recall")


class Stage(Strict):
    """One stage of the journey."""

    setting: Literal["community", "custody"] = P(..., "setting", "scenario input")
    activities: list[Literal["assess", "plan", "contacts", "review"]] = P(
        lambda: list(ACTIVITIES), "activities", "DOMICE: the assess-plan-implement-review cycle")
    duration: Duration = P(..., "section", "scenario input")
    duration_from: dict[str, Duration] = P(dict, "section per previous stage", "the journey's edges carry "
                                           "their own stay lengths: entering from that stage (e.g. "
                                           "release after recall) uses this instead of duration")
    next: dict[str, ProbabilityByRisk] = P(..., "probability by risk level",
                                           "scenario input; must sum to 1 per level")
    on_breach: BreachRoute | None = P(None, "section", "none: misses are recorded but not enforced")
    reoffending_rate_per_year: RatePerYearByRisk = P(0.0, "further offences leading to breach, per year",
                                          "explicit assumption (DOMAIN: reoffending is configurable)")
    workload_factor: float = P(1.0, "factor on the weekly hours of the case's mode", "assumption: e.g. a "
                               "pre-sentence report case asks less than a supervised order", ge=0, le=FACTOR,
                               limit=FACTOR_LIMIT)

    @field_validator("activities")
    @classmethod
    def _unique(cls, acts: list[str]) -> list[str]:
        if len(set(acts)) != len(acts):
            raise ValueError("activities must not repeat")
        return acts


class Journey(Strict):
    """Stages by name, and the stage every new case enters."""

    entry: str = P("PRE_SENTENCE", "stage", "DOMICE: the journey starts before sentence")
    stages: dict[str, Stage] = P(..., "stages", "scenario input")

    @staticmethod
    def default() -> Journey:
        """England-&-Wales-like journey (durations and probabilities are assumptions)."""
        return Journey.model_validate(DEFAULT_JOURNEY)


DEFAULT_JOURNEY: dict[str, Any] = {
    "entry": "PRE_SENTENCE",
    "stages": {
        "PRE_SENTENCE": {
            "setting": "community", "activities": ["assess"], "workload_factor": 0.5,
            "duration": {"mean_days": 28, "cv": 0.6},
            "next": {"NON_CUSTODIAL": {"LOW": 0.75, "MEDIUM": 0.6, "HIGH": 0.4},
                     "CUSTODY": {"LOW": 0.10, "MEDIUM": 0.25, "HIGH": 0.5},
                     "EXIT": {"LOW": 0.15, "MEDIUM": 0.15, "HIGH": 0.10}}},
        "NON_CUSTODIAL": {
            "setting": "community",
            "duration": {"mean_days": {"LOW": 300, "MEDIUM": 365, "HIGH": 450}, "cv": 0.4},
            "next": {"EXIT": 1.0},
            "on_breach": {"to": "BREACH_COURT", "event": "return_to_court"},
            "reoffending_rate_per_year": {"LOW": 0.04, "MEDIUM": 0.08, "HIGH": 0.12}},
        "BREACH_COURT": {
            "setting": "community", "activities": [], "workload_factor": 0.5,
            "duration": {"mean_days": 28, "cv": 0.5},
            "next": {"NON_CUSTODIAL": {"LOW": 0.7, "MEDIUM": 0.6, "HIGH": 0.5},
                     "CUSTODY": {"LOW": 0.3, "MEDIUM": 0.4, "HIGH": 0.5}}},
        "CUSTODY": {
            "setting": "custody", "workload_factor": 0.5,
            "duration": {"mean_days": {"LOW": 180, "MEDIUM": 270, "HIGH": 540}, "cv": 0.6},
            "next": {"SUPERVISED_RELEASE": 0.95, "EXIT": 0.05}},
        "SUPERVISED_RELEASE": {
            "setting": "community",
            "duration": {"mean_days": {"LOW": 270, "MEDIUM": 365, "HIGH": 540}, "cv": 0.4},
            "duration_from": {"RECALL_CUSTODY": {"mean_days": {"LOW": 120, "MEDIUM": 150, "HIGH": 200},
                                                 "cv": 0.5}},
            "next": {"EXIT": 1.0},
            "on_breach": {"to": "RECALL_CUSTODY", "event": "recall"},
            "reoffending_rate_per_year": {"LOW": 0.04, "MEDIUM": 0.07, "HIGH": 0.10}},
        "RECALL_CUSTODY": {
            "setting": "custody", "activities": ["assess", "review"], "workload_factor": 0.5,
            "duration": {"mean_days": 120, "cv": 0.8},
            "next": {"SUPERVISED_RELEASE": 0.85, "EXIT": 0.15}},
    },
}


def graph(j: Journey) -> nx.DiGraph:
    """The journey as a DiGraph (nodes: stages and EXIT)."""
    g = nx.DiGraph()
    g.add_node(EXIT, setting=None)
    for name, st in j.stages.items():
        g.add_node(name, setting=st.setting)
    for name, st in j.stages.items():
        for target, p in st.next.items():
            g.add_edge(name, target, kind="next", p=p.as_dict())
        if st.on_breach is not None:
            g.add_edge(name, st.on_breach.to, kind=st.on_breach.event)
    return g


def check_journey(j: Journey) -> list[tuple[tuple[Any, ...], str]]:
    """Problems with the journey as (path, message): unknown targets, probabilities that do not
    sum to 1, stages that cannot reach EXIT or cannot be reached from the entry."""
    out: list[tuple[tuple[Any, ...], str]] = []
    base = ("journey", "stages")
    valid = [*j.stages, EXIT]
    if j.entry not in j.stages:
        out.append((("journey", "entry"), f"unknown stage '{j.entry}'; valid: {', '.join(j.stages)}"))
    for name, st in j.stages.items():
        if name == EXIT:
            out.append(((*base, name), "EXIT is reserved for leaving the system"))
        for target in st.next:
            if target not in valid:
                out.append(((*base, name, "next", target), f"unknown stage; valid: {', '.join(valid)}"))
        for prev in st.duration_from:
            if prev not in j.stages:
                out.append(((*base, name, "duration_from", prev),
                            f"unknown stage; valid: {', '.join(j.stages)}"))
        if st.on_breach is not None and st.on_breach.to not in j.stages:
            out.append(((*base, name, "on_breach", "to"),
                        f"unknown stage '{st.on_breach.to}'; valid: {', '.join(j.stages)}"))
        if st.on_breach is None and max(st.reoffending_rate_per_year.as_dict().values()) > 0:
            out.append(((*base, name, "reoffending_rate_per_year"),
                        "a further-offence rate needs an on_breach route in this stage"))
        if not st.next:
            out.append(((*base, name, "next"), "a stage needs at least one successor"))
        for risk in RISKS:
            total = sum(p[risk] for p in st.next.values())
            if st.next and not math.isclose(total, 1.0, abs_tol=1e-9):
                out.append(((*base, name, "next"), f"probabilities for {risk} sum to {total:g}, not 1"))
            if any(p[risk] < 0 for p in st.next.values()):
                out.append(((*base, name, "next"), f"negative probability for {risk}"))
    if out:
        return out
    live = graph(j)
    for u, v, d in list(live.edges(data=True)):  # edges with zero probability for every level
        if d["kind"] == "next" and max(d["p"].values()) == 0:
            live.remove_edge(u, v)
    reach_exit = nx.ancestors(live, EXIT)
    for name in j.stages:
        if name not in reach_exit:
            out.append(((*base, name), "cannot reach EXIT: every case entering it would stay forever"))
    reachable = nx.descendants(live, j.entry) | {j.entry}
    for name in j.stages:
        if name not in reachable:
            out.append(((*base, name), f"cannot be reached from the entry stage '{j.entry}'"))
    return out


def instant_breach_cycles(j: Journey, first_contact_days: float,
                          misses_can_breach: bool) -> list[tuple[tuple[Any, ...], str]]:
    """Breach routes a case could go round forever with no time passing, as (path, message).

    Every stay takes time (mean stays are above 0), so the only way round the journey in no time is
    a breach at the very start of a stay: a stage with contacts whose first contact is due on entry
    (``process.first_contact_days`` 0) can breach a case that misses it at once, if a miss can lead to
    breach at all (``misses_can_breach``). A cycle of ``on_breach`` routes through such stages lets a
    case that misses every first contact (say, one nobody can hold to account at capacity 0) loop at one
    instant and the run never ends. One problem per cycle, at the ``on_breach.to`` of its first stage in
    file order, naming the stages.
    """
    if first_contact_days > 0 or not misses_can_breach:
        return []
    step = {name: st.on_breach.to for name, st in j.stages.items()
            if st.on_breach is not None and "contacts" in st.activities and st.on_breach.to in j.stages}
    out: list[tuple[tuple[Any, ...], str]] = []
    seen: set[str] = set()
    order = list(j.stages)
    for start in order:
        path: list[str] = []
        node: str | None = start
        while node in step and node not in seen and node not in path:
            path.append(node)
            node = step[node]
        seen.update(path)
        if node is None or node not in path:
            continue
        cycle = path[path.index(node):]
        first = min(cycle, key=order.index)
        at = cycle.index(first)
        cycle = cycle[at:] + cycle[:at]
        route = " -> ".join([*cycle, first])
        out.append((("journey", "stages", first, "on_breach", "to"),
                    f"breach routes {route} can loop with no time passing: each stay's first contact is due "
                    "the moment it begins (process.first_contact_days is 0), so a case that misses it is "
                    "breached on at once; set process.first_contact_days above 0 or break the cycle"))
    return out


class JourneyRuntime:
    """Fast lookups for the engine: setting per stage, successors by risk, stay lengths."""

    def __init__(self, j: Journey) -> None:
        self.entry = j.entry
        self.stages = j.stages
        self.setting = {n: s.setting for n, s in j.stages.items()}
        self.activities = {n: frozenset(s.activities) for n, s in j.stages.items()}
        self._succ = {(n, r): [(t, p[r]) for t, p in s.next.items() if p[r] > 0]
                      for n, s in j.stages.items() for r in RISKS}

    def next_stage(self, stage: str, risk: str, u: float) -> str:
        """Successor of ``stage`` for a case of ``risk``, chosen by the uniform ``u``."""
        acc = 0.0
        options = self._succ[(stage, risk)]
        for target, p in options:
            acc += p
            if u < acc:
                return target
        return options[-1][0]

    def stay_duration(self, stage: str, previous: str | None) -> Duration:
        """The stay-length distribution of ``stage`` when entered from ``previous``."""
        st = self.stages[stage]
        return st.duration_from.get(previous, st.duration) if previous is not None else st.duration
