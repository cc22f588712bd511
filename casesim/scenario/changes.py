"""Changes from a date: policies, staff counts and rates that change part-way through a run.

A scenario's ``changes`` list (:class:`~casesim.scenario.schema.Change`) says what is different from a day of
the run on::

    changes:
      - at_day: 730
        set:
          management.community.segmentation: {name: patch}
      - at_day: 365
        over_days: 365
        set:
          staff.probation.count: 120

Each ``set`` entry is a dotted path and a value, applied with the same machinery as ``--set``
(:func:`casesim.scenario.yamlio.set_path`), so the scenario in force from a change on (the base with every
change up to it applied, in order) is validated like any scenario file, and its problems name the file, the
line of the ``set`` entry and the field. What may change mid-run is what :func:`refusal` allows: policies,
rates, costs and staff counts; never what lays out the run or its random streams (the seed, the clock, the
scale, the journey's structure, the initial population, the needs, patches, staff groups or providers).

Values are written at full size: ``population_scale`` scales them as it scales the base (a change's values
are read back from the scaled scenario in force, so a resolved scenario holds them scaled, as it holds
the rest). The engine adopts each scenario on its day (:meth:`casesim.engine.simulation.Simulation.adopt`). This module
holds the rules and the pieces; the schema, which validates a scenario, checks its changes with them
(:func:`casesim.scenario.schema.in_force` gives the scenario in force from each change).
"""

from __future__ import annotations

import copy
from typing import Any

from casesim.scenario.yamlio import LineMap, PathKey, Problem, ScenarioError, set_path

#: Top-level sections that may change mid-run, whole or in part (everything under them).
FREE = ("management", "mode_assignment", "enforcement", "process", "compliance", "skill", "pressure",
        "reoffending", "motivation", "relationships", "staffing")
#: The fields of a mode that may change (its prices are the run's: ``costs``).
MODE_FIELDS = ("contact_interval_days", "intensity")
#: The fields of ``arrivals`` that may change (rates and the mix of the people arriving).
ARRIVALS = ("rate_per_day", "periods", "risk_mix", "offence_mix", "needs_prevalence", "propensity_sd",
            "motivation_mean", "motivation_concentration")
#: The fields of a journey stage that may change: its rates and probabilities, not its structure.
STAGE_RATES = ("duration", "duration_from", "next", "reoffending_rate_per_year", "workload_factor")
#: Why a top-level section cannot change mid-run.
FIXED = {
    "name": "a label of the whole run", "description": "a label of the whole run",
    "seed": "the seed lays out every random stream of the run",
    "population_scale": "the scale applies to the whole run", "population_scale_applied": "set by the loader",
    "time": "the run's clock (horizon, warm-up, tick) is fixed",
    "initial_population": "the population at day 0 is past by then",
    "journey": "the journey's structure (its stages, entry, settings, activities and breach routes) is fixed; "
               f"a stage's {', '.join(STAGE_RATES)} may change",
    "patches": "the patches lay out the arrivals' attributes and the staff's localities",
    "providers": "providers' places and queues are fixed for the run",
    "changes": "changes cannot change changes",
    "staff": "a staff group's posts are fixed but for its count (staff.<group>.count)",
    "costs": "the run is priced, and its FTE required counted, at one set of prices and hours",
}


def refusal(path: PathKey) -> str | None:
    """Why the value at ``path`` (as :func:`set_path` resolved it) cannot change mid-run, or None if it can."""
    head = path[0]
    if head in FREE:
        return None
    if head == "arrivals":
        if len(path) >= 2 and path[1] in ARRIVALS:
            return None
        return f"only arrivals.{{{', '.join(ARRIVALS)}}} may change"
    if head == "staff" and len(path) == 3 and path[2] == "count":
        return None
    if head == "modes":
        if len(path) >= 3 and path[2] in MODE_FIELDS:
            return None
        return f"only a mode's {' and '.join(MODE_FIELDS)} may change (modes.<MODE>.<field>); its cost is the run's"
    if head == "journey" and len(path) >= 4 and path[1] == "stages" and path[3] in STAGE_RATES:
        return None
    return FIXED.get(str(head), "not a setting that can change mid-run")


def layout(data: dict[str, Any]) -> dict[str, Any]:
    """What must be the same before and after a change (the run's structure), from a scenario's dump."""
    stages = data["journey"]["stages"]
    return {"seed": data["seed"], "time": data["time"], "scale": data["population_scale"],
            "needs": list(data["arrivals"]["needs_prevalence"]), "patches": data["patches"],
            "entry": data["journey"]["entry"],
            "stages": {n: (s["setting"], s["activities"], s["on_breach"]) for n, s in stages.items()},
            "staff": [{k: v for k, v in g.items() if k != "count"} for g in data["staff"]],
            "providers": data["providers"], "settings": sorted(data["management"])}


def origin(lines: LineMap, path: PathKey) -> tuple[str, int | None]:
    return lines.locate(path)


def derive(base: dict[str, Any], lines: LineMap, changes: list[Any], upto: int, defaults: dict[str, Any],
           problems: list[Problem] | None = None) -> tuple[dict[str, Any], LineMap, list[PathKey]]:
    """``base`` (without ``changes``) with the ``set`` entries of ``changes[:upto + 1]`` applied in order
    (``defaults``: every default of the schema, for paths the base does not write); the paths set by the last
    one. A path that cannot be set or cannot change is a problem (raised, or added to ``problems``)."""
    data = copy.deepcopy(base)
    data.pop("changes", None)
    work = LineMap(lines.top_file, {p: o for p, o in ((p, lines.get(p)) for p in lines.paths()) if o is not None
                                    and p[:1] != ("changes",)})
    paths: list[PathKey] = []
    for i, change in enumerate(changes[:upto + 1]):
        for key, value in change.set.items():
            where = origin(lines, ("changes", i, "set", key))
            try:
                path = set_path(data, work, key, value, where, defaults, where=where, by_name=True)
            except ScenarioError as exc:
                if problems is None:
                    raise
                problems.extend(Problem(p.file, p.line, f"changes.{i}.set.{key}", p.message) for p in exc.problems)
                continue
            why = refusal(path)
            if why is not None:
                problem = Problem(where[0], where[1], f"changes.{i}.set.{key}", f"cannot change mid-run: {why}")
                if problems is None:
                    raise ScenarioError([problem])
                problems.append(problem)
            if i == upto:
                paths.append(path)
    return data, work, paths


def value_at(data: Any, path: PathKey) -> Any:
    """The value at ``path`` in nested ``data``."""
    for step in path:
        data = data[step]
    return data


def named(path: str, written: dict[str, str]) -> str:
    """``path`` (a field of the scenario in force) as the change entry that set it, or under it, names it:
    ``changes.0.set.staff.0.count``; unchanged if no change set it."""
    for prefix in sorted(written, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "."):
            return written[prefix] + path[len(prefix):]
    return path


def changed_paths(change: Any) -> str:
    """The paths a change sets, '+'-joined in the order written (the ``policy_change`` event's cause)."""
    return "+".join(change.set)
