"""Warnings about a run whose figures describe a service that cannot work as configured.

A scenario can be valid and still degenerate: a setting that cases pass through with no case managers,
or with case managers of no capacity, or a need whose provider has no places. Such a run does not fail.
Its contacts are simply not offered (logged as ``contact_cancelled``), and the figures computed over the
contacts that did happen look *better* than a staffed service's: of the few contacts offered most are
kept, fewer misses lead to fewer breaches, orders complete and staff cost less. These warnings say so,
in ``summary.json`` (key ``run_warnings``) and on the console after ``casesim run``.

Each warning is a dict ``{"code": ..., "message": ..., "figure": ...}``: ``code`` is one of
:data:`CODES`, ``figure`` the number that set it off (a staff count, a capacity, a number of places, a
share of contacts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from casesim.metrics.tables import LogArrays

#: Above this share of the contacts due in the measured window not offered, a run is warned about.
#:
#: Why 20%, the same for every scenario: a contact is not offered when nobody is at work to see the case.
#: With the default staffing a post is empty or its holder away about 15% of the time (30 days of leave and
#: 11 of sickness are 11% of the year; a 10% turnover with a 120-day recruitment lag leaves about 3% of
#: the time vacant), and with no cover at all about that share of contacts would go unoffered. Cover and
#: teams bring it lower: the shipped scenarios lose a few per cent, under a tenth. Over 20% is more
#: than absence alone explains: cases nobody holds (no staff, no capacity, a service far short of
#: staff), or staff away far longer than the defaults assume. Then compliance over the contacts offered
#: (``compliance_rate_of_offered``) no longer describes the service; read ``compliance_rate_of_due``. A threshold
#: derived from the scenario's own absence parameters would excuse a scenario whose staff are away most of
#: the time, which is the case to flag.
NOT_OFFERED_SHARE = 0.20

#: Every warning code, with what it means.
CODES: dict[str, str] = {
    "no_staff": "a setting that cases pass through has no case managers (staff count 0)",
    "no_capacity": "a setting that cases pass through has case managers, all with capacity 0",
    "no_places": "the provider serving a need in a setting has 0 places",
    "contacts_not_offered": f"more than {NOT_OFFERED_SHARE:.0%} of the contacts due were not offered",
}


def _warning(code: str, message: str, figure: float) -> dict[str, Any]:
    return {"code": code, "message": message, "figure": figure}


def stages_entered(events: pd.DataFrame) -> list[str]:
    """Stages some case entered at any time of the run (its ``stage_enter`` rows), sorted."""
    lg = LogArrays.of(events)
    codes = np.unique(lg.stage[lg.rows("stage_enter")])
    return sorted(str(s) for s in lg.stage_names[codes] if s != "")


def run_warnings(scenario: Any, stage_setting: Mapping[str, str], entered: Iterable[str],
                 summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The warnings of one run, in a fixed order (staff and capacity by setting, places by setting and need,
    then contacts not offered).

    Args:
        scenario: The :class:`~casesim.scenario.schema.Scenario` run (its ``staff`` and ``providers``).
        stage_setting: Stage -> setting (``MetricsContext.stage_setting``).
        entered: Stages that some case entered during the run (from its ``stage_enter`` rows).
        summary: The run's summary (``share_contacts_not_offered``, ``contacts_not_offered`` and
            ``contacts_required`` are read).

    Returns:
        A list of ``{"code", "message", "figure"}`` dicts, empty for a sound run.
    """
    out: list[dict[str, Any]] = []
    used: dict[str, list[str]] = {}
    for stage in sorted(set(entered)):
        if stage in stage_setting:
            used.setdefault(stage_setting[stage], []).append(stage)
    for setting, stages in sorted(used.items()):
        groups = [g for g in scenario.staff if g.setting == setting]
        count = sum(g.count for g in groups)
        where = f"cases passed through {', '.join(stages)} ({setting})"
        if count == 0:
            out.append(_warning("no_staff", f"{where}, but the {setting} setting has no case managers (staff "
                                "count 0): their contacts were not offered, and the figures over contacts "
                                "offered, completion, breaches and cost describe a service that did not "
                                "supervise them", 0))
        elif sum(g.count * scenario.hours_per_week(g) for g in groups) == 0:
            out.append(_warning("no_capacity", f"{where}, but every {setting} case manager has capacity 0 (no "
                                "casework hours: fte 0, or a role without productive hours): "
                                "any case they hold is over capacity, and the figures over staff at work "
                                "(caseload pressure) leave them out", 0.0))
    for (setting, need), i in sorted(scenario.serving().items()):
        provider = scenario.providers[i]
        if provider.places == 0:
            out.append(_warning("no_places", f"the need {need} in the {setting} setting is served by "
                                f"{provider.name}, which has 0 places: no referral to it can start", 0))
    share = summary.get("share_contacts_not_offered")
    if share is not None and share > NOT_OFFERED_SHARE:
        n = summary.get("contacts_not_offered", 0)
        due = n + summary.get("contacts_required", 0)
        out.append(_warning("contacts_not_offered", f"{share:.1%} of the contacts due in the measured window "
                            f"({n:,} of {due:,}) were not offered (nobody holding the case, or nobody at work to "
                            f"see it), more than {NOT_OFFERED_SHARE:.0%}: compliance over the contacts offered "
                            "(compliance_rate_of_offered) flatters the service; see compliance_rate_of_due", share))
    return out
