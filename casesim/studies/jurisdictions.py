"""Jurisdiction profiles run with one standard cohort, and the map of their choices.

A *jurisdiction profile* is an ordinary scenario (``scenarios/jurisdictions/``): its journey, staff,
case-management models per setting, modes and their rule, enforcement and providers describe an
organisation. A *cohort* file (``scenarios/jurisdictions/standard_cohort.yaml``) describes people: with
``casesim compare ... --cohort COHORT.yaml`` every profile is run with the cohort's sections in place of its
own, so each profile sees the same arrivals, initial population, attributes and per-case luck, and the
differences are the organisations' alone (docs/jurisdictions.md).

* :data:`COHORT_SECTIONS`: the sections a cohort replaces (whole; one it leaves out takes the schema's
  default in every profile); ``entry`` is checked, not replaced: a profile whose journey starts at another
  stage, or lacks a stage the cohort's initial population is in, is refused.
* :func:`load_profile`: a profile read with a cohort (and ``--set`` overrides), every problem reported as
  ``file:line: field: problem``.
* :func:`choices`: the row of the map of choices, read from a :class:`~casesim.scenario.schema.Scenario`.
* :data:`SIDE_BY_SIDE`: the KPIs of the comparison's side-by-side view (labels from the KPI catalogue).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from casesim.scenario.schema import Scenario, check_size, load_scenario, validate_data
from casesim.scenario.yamlio import LineMap, Problem, ScenarioError, resolve

#: The sections a cohort file holds and replaces in every profile: the people and the window they are seen in.
COHORT_SECTIONS: tuple[str, ...] = ("seed", "time", "patches", "arrivals", "initial_population")
#: Keys of a cohort file that are not scenario sections: its name, a description and the entry stage (checked).
COHORT_KEYS: tuple[str, ...] = ("cohort", "description", "entry")
#: The KPIs of the side-by-side view of a comparison (continuity, caseload pressure, compliance, enforcement,
#: proven reoffending, cost per case), in order; labels, units and formats are the catalogue's.
SIDE_BY_SIDE: tuple[str, ...] = ("continuity_breaks_per_case_year", "mean_caseload_pressure",
                                 "compliance_rate_of_offered", "breaches_per_case_year", "recalls_per_case_year",
                                 "proven_reoffending_1y_all", "cost_per_case_year")
#: The columns of the map of choices (:func:`choices`), with their headers.
CHOICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("approach", "approach"), ("segmentation", "segmentation"), ("modes", "modes rule"),
    ("enforcement", "enforcement"), ("review_interval_days", "review interval (days)"),
    ("staffing_ratio", "cases per staff in post at the start"))


def _defaults() -> dict[str, Any]:
    return Scenario.model_validate({}).model_dump(mode="json")


def _subset(lines: LineMap, top: str, keep: Sequence[str]) -> LineMap:
    return LineMap(top, {p: lines.get(p) for p in lines.paths() if p and p[0] in keep})  # type: ignore[misc]


def is_cohort_file(path: str | Path) -> bool:
    """Whether ``path`` reads as a cohort file (a top-level ``cohort:`` key); False when it cannot be read."""
    try:
        data, _ = resolve(path)
    except ScenarioError:
        return False
    return isinstance(data, dict) and "cohort" in data


def read_cohort(path: str | Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], LineMap]:
    """The cohort file (``extends`` applied, then the ``overrides`` whose first segment is a cohort section).

    Raises:
        ScenarioError: a key that is not a cohort section, a missing ``cohort`` key, or a bad ``entry``.
    """
    data, lines = resolve(path, overrides, defaults=_defaults() if overrides else None)
    display = str(path)
    problems: list[Problem] = []
    if not isinstance(data, dict) or "cohort" not in data:
        problems.append(Problem(display, 1, "cohort", "not a cohort file: a cohort file names itself with a "
                                "top-level 'cohort:' key (see scenarios/jurisdictions/standard_cohort.yaml)"))
    for key in data if isinstance(data, dict) else ():
        if key not in COHORT_SECTIONS and key not in COHORT_KEYS:
            file, line = lines.locate((key,))
            problems.append(Problem(file, line, str(key), "not a section of a cohort: a cohort holds only the "
                                    f"people ({', '.join(COHORT_SECTIONS)}; and {', '.join(COHORT_KEYS)}); "
                                    "everything else is the organisation's, in each profile"))
    if isinstance(data, dict) and not isinstance(data.get("entry", ""), str):
        file, line = lines.locate(("entry",))
        problems.append(Problem(file, line, "entry", "must be the name of a stage"))
    if problems:
        raise ScenarioError(problems)
    return data, lines


def load_profile(profile: str | Path, cohort: str | Path, overrides: Sequence[str] = (), *,
                 allow_large: bool = True) -> tuple[Scenario, LineMap]:
    """A jurisdiction profile run with a cohort: the profile file (with its ``extends``) and the cohort's
    sections (:data:`COHORT_SECTIONS`) in place of its own, then validated as any scenario. An override
    (``--set``) of a cohort section is applied to the cohort, any other to the profile.

    Raises:
        ScenarioError: every problem, ``file:line: field: problem``: the profile's or the cohort's own, and a
            profile that cannot take the cohort: its journey enters at another stage than the cohort's
            ``entry``, it lacks a stage the cohort's initial population is in, or one of its ``changes`` sets
            a cohort section.
    """
    own = [o for o in overrides if o.partition("=")[0].strip().split(".")[0] not in COHORT_SECTIONS]
    theirs = [o for o in overrides if o not in own]
    problems: list[Problem] = []
    try:
        cdata, clines = read_cohort(cohort, theirs)
    except ScenarioError as err:
        problems.extend(err.problems)
        cdata, clines = None, None
    try:
        alone, alone_lines = load_scenario(profile, own)
    except ScenarioError as err:
        raise ScenarioError([*problems, *err.problems]) from None
    if cdata is None:
        raise ScenarioError(problems)
    problems.extend(_fit(alone, alone_lines, str(profile), cdata, clines, str(cohort)))
    if problems:
        raise ScenarioError(problems)
    data, lines = resolve(profile, own, defaults=_defaults() if own else None)
    for section in COHORT_SECTIONS:
        data.pop(section, None)
        if section in cdata:
            data[section] = copy.deepcopy(cdata[section])
    lines = lines.merged(_subset(clines, lines.top_file, COHORT_SECTIONS), [(s,) for s in COHORT_SECTIONS])
    scenario, lines = validate_data(data, lines)
    if not allow_large:
        check_size(scenario, lines)
    return scenario, lines


def _fit(s: Scenario, lines: LineMap, display: str, cohort: dict[str, Any], clines: LineMap,
         cdisplay: str) -> list[Problem]:
    """Why the profile ``s`` cannot take the cohort (empty: it can)."""
    out: list[Problem] = []
    stages = s.journey.stages
    entry = cohort.get("entry", s.journey.entry)
    if entry != s.journey.entry:
        file, line = lines.locate(("journey", "entry"))
        cfile, cline = clines.locate(("entry",))
        default = "" if lines.get(("journey", "entry")) else " (not written: the default journey's entry)"
        out.append(Problem(file, line, "journey.entry", f"this profile's new cases enter at '{s.journey.entry}'"
                           f"{default}, "
                           f"but the cohort ({cfile}:{cline}) arrives at '{entry}': the profile cannot take the "
                           "cohort"))
    by_stage = (cohort.get("initial_population") or {}).get("by_stage") or {}
    for stage in by_stage if isinstance(by_stage, dict) else ():
        if stage not in stages:
            cfile, cline = clines.locate(("initial_population", "by_stage", stage))
            out.append(Problem(cfile, cline, f"initial_population.by_stage.{stage}", f"profile {display} has no "
                               f"stage '{stage}' (its stages: {', '.join(stages)}): it cannot take the cohort"))
    for i, change in enumerate(s.changes):
        for key in change.set:
            if key.split(".")[0] in COHORT_SECTIONS:
                file, line = lines.locate(("changes", i, "set", key))
                out.append(Problem(file, line, f"changes.{i}.set.{key}", "changes a section the cohort "
                                   f"({cdisplay}) holds: with a cohort the people are the cohort's"))
    return out


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (False when either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --------------------------------------------------------------------------- the map of choices


def _approach(p: Any) -> str:
    if p.name == "individual":
        return "individual" + (" (keeps the case from the other setting)" if p.keep_from_other_setting else "")
    if p.name == "hybrid":
        return f"hybrid (chair + {p.staff_members} staff, one drives the plan)"
    if p.name == "team":
        return f"team (chair + {p.staff_members} staff)"
    return str(p.name)


def _segmentation(p: Any) -> str:
    if p.name == "patch":
        text = "patch" if p.match_patch else "pooled (any patch)"
    elif p.name in ("task", "type"):
        text = f"{p.name} by {p.by}"
    else:
        text = str(p.name)
    return text + (", previous manager first" if getattr(p, "prefer_previous_manager", False) else "")


def _modes(p: Any) -> str:
    if p.name == "risk_table":
        return "by risk: " + ", ".join(f"{risk} {mode}" for risk, mode in p.table.items())
    if p.name == "rules":
        parts = []
        for rule in p.rules:
            cond = [f"{field} {'/'.join(map(str, v))}" for field in ("risk", "offence")
                    if (v := getattr(rule, field)) is not None]
            cond += [f"a need of {'/'.join(rule.needs_any)}"] if rule.needs_any is not None else []
            cond += [f"at least {rule.min_needs} unmet needs"] if rule.min_needs is not None else []
            cond += [f"at most {rule.max_needs} unmet needs"] if rule.max_needs is not None else []
            parts.append(f"{rule.mode} if {' and '.join(cond) or 'any'}")
        return "rules: " + "; ".join([*parts, f"else {p.default}"])
    return str(p.name)


def _enforcement(p: Any) -> str:
    acceptable = f"{p.acceptable_absence_share:.0%} of misses acceptable"
    if p.name == "graduated":
        sanctions = f", {p.sanctions_before_breach} sanction(s)" if p.sanctions_before_breach else ""
        return (f"graduated: {p.warnings_before_breach} warning(s) in {p.window_days:g} days{sanctions}, "
                f"then breach; {acceptable}")
    if p.name == "strict":
        return f"strict: every unacceptable miss a breach; {acceptable}"
    return str(p.name)


def staffing_ratio(s: Scenario) -> float:
    """Cases per member of staff in post at the start: the initial population over the staff in post on day 0
    (posts, in FTE, less the vacancies of ``staffing.vacancy_rate``); NaN without staff in post."""
    in_post = sum(g.count * g.fte for g in s.staff) * (1.0 - s.staffing.vacancy_rate)
    cases = sum(s.initial_population.by_stage.values())
    return cases / in_post if in_post > 0 else float("nan")


def choices(s: Scenario) -> dict[str, Any]:
    """The row of the map of choices for ``s``, read from the scenario (keys: :data:`CHOICE_COLUMNS`):
    approach and segmentation per setting (``"community: ...; custody: ..."``, in the order of
    ``management``), the rule of modes, the enforcement policy, the review interval (days) and the staffing
    ratio (:func:`staffing_ratio`)."""
    return {
        "approach": "; ".join(f"{setting}: {_approach(m.approach)}" for setting, m in s.management.items()),
        "segmentation": "; ".join(f"{setting}: {_segmentation(m.segmentation)}"
                                  for setting, m in s.management.items()),
        "modes": _modes(s.mode_assignment),
        "enforcement": _enforcement(s.enforcement),
        "review_interval_days": float(s.process.review_interval_days),
        "staffing_ratio": staffing_ratio(s),
    }


def choice_cells(row: dict[str, Any]) -> list[str]:
    """A row of :func:`choices` as text, in :data:`CHOICE_COLUMNS` order."""
    out = []
    for key, _ in CHOICE_COLUMNS:
        value = row[key]
        out.append(f"{value:g}" if key == "review_interval_days" else f"{value:.1f}" if key == "staffing_ratio"
                   else str(value))
    return out


__all__ = ["COHORT_SECTIONS", "COHORT_KEYS", "SIDE_BY_SIDE", "CHOICE_COLUMNS", "read_cohort", "load_profile",
           "is_cohort_file", "same_file", "choices", "choice_cells", "staffing_ratio"]
