"""The catalogue of summary KPIs: what each key of ``summary.json`` is called, in which unit, and how it is shown.

Every view of a run's summary reads its words and formats here, so they cannot drift apart: the console
summary of ``casesim run`` (:mod:`casesim.cli`), the report (:mod:`casesim.outputs.report`), the comparison's
console table and ``compare.html`` (:mod:`casesim.studies.compare`), the titles of ``sweep.html``
(:mod:`casesim.studies.sweep`), the live view (:mod:`casesim.app.page`), the scenario table of docs/kpis.md
(``scripts/readme_facts.py``), and the rule that tells a share from other KPIs
(:func:`casesim.studies.staffing_solver.is_share`, which sets the interval the staffing solver uses and the
% format of the workbook).

Each :class:`Kpi` is declared once, in :data:`CATALOGUE` (in the order the report shows the headline ones):
its ``summary.json`` key, its kind (:data:`KINDS`), the plain label people read (report, comparison), its unit
(``{cur}`` stands for the run's currency), its display format, and where a narrower table needs them a short
label (console summary, ``sweep.html``, live view), a column header and a compact format (the scenario table
of docs/kpis.md, the live view). Dict KPIs (``*_by_setting``, ``compliance_by_stage``, ...) are here with the kind of
their values. The summary's other keys are not KPIs: :data:`NOT_KPIS` (what a run is; the sweep
reads it too) and :data:`LISTS` (lists of names).

This module imports nothing outside the standard library, so any view (and the CLI before a run) may load it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Kinds of KPI. ``share``: a proportion, within [0, 1] by construction (shown in %); ``ratio``: a quotient
#: that is not a share and may exceed 1 (cases per manager, caseload pressure); ``count``: a number of cases,
#: events or needs in the window; ``rate``: events per case-year; ``exposure``: case-years under the service's
#: responsibility; ``days``: a duration or a sum of days; ``hours``: staff hours; ``fte``: full-time
#: equivalents; ``money``: an amount in the run's currency.
KINDS = ("share", "ratio", "count", "rate", "exposure", "days", "hours", "fte", "money")
SHARE = "share"
#: Keys of ``summary.json`` that say what a run is, not what happened in it.
NOT_KPIS = frozenset({"scenario", "seed", "currency", "warmup_days", "horizon_days", "window_days"})
#: Keys of ``summary.json`` that hold lists of names or messages, not figures.
LISTS = frozenset({"unpriced_contact_modes", "run_warnings"})


@dataclass(frozen=True)
class Kpi:
    """One KPI of ``summary.json``.

    ``fmt`` is a :meth:`str.format` pattern, or ``%`` for a value shown as a percentage with one decimal
    (:func:`format_value`); ``compact`` is the format of narrow tables (``fmt`` when None). ``headline``
    KPIs are the report's table and the comparison's figures; those with a ``short`` label are the console
    summary of a run; those with a ``column`` header are the scenario table of docs/kpis.md. A dict KPI
    (``breakdown``) maps a setting, stage, cause, ... to values of its kind."""

    key: str
    kind: str
    label: str
    unit: str
    fmt: str
    short: str | None = None
    column: str | None = None
    compact: str | None = None
    headline: bool = False
    breakdown: bool = False

    @property
    def percent(self) -> bool:
        """Whether the value is shown as a percentage (``fmt`` ``%``): charts scale it by 100."""
        return self.fmt == "%"

    def shown(self, value: Any, compact: bool = False) -> str:
        """``value`` as text, in the compact format if asked (``n/a`` when undefined)."""
        return format_value(value, (self.compact or self.fmt) if compact else self.fmt)


def format_value(value: Any, pattern: str) -> str:
    """A KPI value as text: ``n/a`` when None or NaN; ``%`` formats a share as a percentage with one decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if pattern == "%":
        return f"{100.0 * value:.1f}%"
    return pattern.format(value)


def _k(key: str, kind: str, label: str, unit: str, fmt: str, **more: Any) -> Kpi:
    return Kpi(key, kind, label, unit, fmt, **more)


def _h(key: str, kind: str, label: str, unit: str, fmt: str, **more: Any) -> Kpi:
    return Kpi(key, kind, label, unit, fmt, headline=True, **more)


def _b(key: str, kind: str, label: str, unit: str, fmt: str) -> Kpi:
    return Kpi(key, kind, label, unit, fmt, breakdown=True)


PER_CY = "per case-year"
#: Every KPI of ``summary.json``: the headline ones in the report's order, then the other counts, then the
#: dict KPIs.
CATALOGUE: tuple[Kpi, ...] = (
    _h("cases_entered", "count", "New cases", "cases", "{:,.0f}", short="Cases entered"),
    _h("cases_exited", "count", "Cases that left the service", "cases", "{:,.0f}", short="Cases exited"),
    _h("cases_active_end", "count", "Cases open at the end of the run", "cases", "{:,.0f}",
       short="Cases active at the end"),
    _h("case_years", "exposure", "Time under the service's responsibility", "case-years", "{:,.0f}",
       short="Case-years"),
    _h("mean_caseload", "ratio", "Cases per case manager (time average)", "cases per manager", "{:.1f}",
       short="Mean caseload per case manager (cases)", column="cases per manager"),
    _h("workload_pressure", "ratio", "Workload pressure (hours needed / hours of staff at work)",
       "% of the hours given", "%", short="Workload pressure (hours needed / hours given)", column="workload",
       compact="{:.0%}"),
    _h("share_staff_excessive_workload", "share", "Staff time with excessive workload (over 110% for 4 weeks)",
       "% of staff-weeks at work", "%", short="Staff-weeks with excessive workload (>110% for 4 weeks)",
       column="excessive workload", compact="{:.0%}"),
    _h("mean_caseload_pressure", "ratio", "Caseload pressure (hours the cases held ask / capacity)",
       "% of capacity", "%", short="Mean caseload pressure (caseload hours / capacity)", column="pressure",
       compact="{:.0%}"),
    _h("share_manager_time_over_capacity", "share", "Manager time above 100% of capacity", "% of manager time",
       "%", short="Manager time over capacity", column="manager time > 100%", compact="{:.0%}"),
    _h("share_manager_time_over_110", "share", "Manager time above 110% of capacity", "% of manager time", "%"),
    _h("continuity_breaks_per_case_year", "rate", "Changes of responsible manager (continuity breaks)", PER_CY,
       "{:.2f}", short="Continuity breaks per case-year", column="breaks per case-year"),
    _h("compliance_rate_of_offered", "share", "Contacts kept, of those offered",
       "% of contacts offered (kept or missed)", "%", short="Contacts kept, of those offered",
       column="contacts kept, of those offered"),
    _h("compliance_rate_of_due", "share", "Contacts kept, of those due", "% of contacts due (offered or not)", "%",
       short="Contacts kept, of those due", column="contacts kept, of those due"),
    _h("contacts_not_offered", "count", "Contacts not offered (nobody to see the person)", "contacts", "{:,.0f}",
       short="Contacts not offered (nobody to see the case)"),
    _h("share_contacts_not_offered", "share", "Contacts not offered (nobody at work to see the person)",
       "% of contacts due", "%", short="Contacts not offered, share of those due", column="contacts not offered"),
    _h("share_contacts_late", "share", "Contacts offered late (after waiting for someone to see the person)",
       "% of contacts offered", "%", short="Contacts offered late, share of those offered"),
    _h("mean_contact_delay_days", "days", "Delay of late contacts (mean)", "days", "{:.1f}",
       short="Mean delay of a late contact (days)"),
    _h("warnings_per_case_year", "rate", "Warnings", PER_CY, "{:.3f}", short="Warnings per case-year"),
    _h("breaches_per_case_year", "rate", "Breaches", PER_CY, "{:.3f}", short="Breaches per case-year",
       column="breaches per case-year"),
    _h("proven_reoffending_1y_all", "share", "Proven reoffending: share reoffending within a year of starting "
       "an order or release", "% of the cohort", "%", short="Proven reoffending (1 year)",
       column="proven reoffending, 1 year"),
    _h("sanctions_per_case_year", "rate", "Intermediate sanctions (closer reporting before breach)", PER_CY,
       "{:.3f}"),
    _h("returns_to_court_per_case_year", "rate", "Returns to court after breach", PER_CY, "{:.3f}",
       short="Returns to court per case-year"),
    _h("recalls_per_case_year", "rate", "Recalls to custody", PER_CY, "{:.3f}", short="Recalls per case-year"),
    _h("completion_rate", "share", "Orders and licences completed", "% of those that ended", "%",
       short="Orders completed", column="orders completed"),
    _h("referrals", "count", "Referrals to providers", "referrals", "{:,.0f}", short="Referrals"),
    _h("referral_acceptance_rate", "share", "Referrals accepted", "% of referrals", "%"),
    _h("mean_wait_days", "days", "Wait for an intervention to start (mean)", "days", "{:.1f}",
       short="Mean wait for an intervention (days)", column="mean wait (days)", compact="{:.0f}"),
    _h("share_needs_met", "share", "Identified needs met (intervention completed)", "% of needs identified", "%",
       short="Identified needs met"),
    _h("cost_total", "money", "Total cost", "{cur}", "{:,.0f}", short="Total cost"),
    _h("cost_per_case_year", "money", "Cost per case-year", "{cur} per case-year", "{:,.0f}",
       short="Cost per case-year", column="cost per case-year ({cur})"),
    _h("cost_per_completed_order", "money", "Cost per completed order", "{cur} per completed order", "{:,.0f}",
       short="Cost per completed order"),
    _h("fte_required", "fte", "Staff needed for the workload", "FTE", "{:.1f}",
       short="Staff FTE required (workload hours / productive hours)"),
    _h("fte_available", "fte", "Staff in post", "FTE", "{:.1f}", short="Staff FTE in post"),
    _h("fte_at_work", "fte", "Staff at work (in post, less absences and induction)", "FTE", "{:.1f}",
       short="Staff FTE at work"),
    # the counts behind the rates and shares, and other totals of the window
    _k("cases_active_start", "count", "Cases open at the start of the measured window", "cases", "{:,.0f}"),
    _k("cases_initial", "count", "Cases open when the run began (initial population)", "cases", "{:,.0f}"),
    _k("continuity_breaks", "count", "Changes of responsible manager", "changes", "{:,.0f}"),
    _k("contacts_required", "count", "Contacts offered (kept or missed)", "contacts", "{:,.0f}"),
    _k("contacts_kept", "count", "Contacts kept", "contacts", "{:,.0f}"),
    _k("warnings", "count", "Warnings", "warnings", "{:,.0f}"),
    _k("breaches", "count", "Breaches", "breaches", "{:,.0f}"),
    _k("sanctions", "count", "Intermediate sanctions (closer reporting before breach)", "sanctions", "{:,.0f}"),
    _k("returns_to_court", "count", "Returns to court after breach", "returns", "{:,.0f}"),
    _k("recalls", "count", "Recalls to custody", "recalls", "{:,.0f}"),
    _k("interventions_started", "count", "Interventions started", "interventions", "{:,.0f}"),
    _k("interventions_completed", "count", "Interventions completed", "interventions", "{:,.0f}"),
    _k("needs_identified", "count", "Needs identified at assessment", "needs", "{:,.0f}"),
    _k("orders_ended", "count", "Orders and licences that ended", "orders", "{:,.0f}"),
    _k("orders_completed", "count", "Orders and licences completed", "orders", "{:,.0f}"),
    _k("custody_days", "days", "Days spent in custody stages", "days", "{:,.0f}"),
    _k("intervention_place_days", "days", "Intervention places occupied", "place-days", "{:,.0f}"),
    _k("workload_hours", "hours", "Staff workload", "hours", "{:,.0f}"),
    # further offences and returns (casesim/metrics/reoffending.py)
    _k("further_offences", "count", "Further offences (later proven)", "offences", "{:,.0f}"),
    _k("further_offences_per_case_year", "rate", "Further offences, during or after supervision, per case-year "
       "under supervision (custody stops offending: compare proven reoffending)", PER_CY, "{:.3f}"),
    _k("mean_days_to_first_offence", "days", "Days to the first further offence (mean, of those who reoffended "
       "within a year)", "days", "{:.0f}"),
    _k("proven_reoffences_per_reoffender", "ratio", "Further offences within the year per person who reoffended "
       "(all cohort)", "offences per reoffender", "{:.2f}"),
    _k("cases_returned", "count", "New cases that are people coming back after a further offence", "cases",
       "{:,.0f}"),
    _k("returning_share", "share", "New cases that are people coming back after a further offence",
       "% of new cases (arrivals and returns)", "%"),
    _k("custody_days_recall", "days", "Days spent in recall custody", "days", "{:,.0f}"),
    _k("custody_days_new_sentence", "days", "Days in custody of people who came back as new cases", "days",
       "{:,.0f}"),
    # dict KPIs: the kind of their values
    _b("continuity_breaks_by_cause", "count", "Changes of responsible manager, by cause", "changes", "{:,.0f}"),
    _b("mean_caseload_by_setting", "ratio", "Cases per case manager, by setting", "cases per manager", "{:.1f}"),
    _b("mean_caseload_pressure_by_setting", "ratio", "Caseload pressure, by setting", "% of capacity", "%"),
    _b("share_manager_time_over_capacity_by_setting", "share", "Manager time above 100% of capacity, by setting",
       "% of manager time", "%"),
    _b("share_manager_time_over_110_by_setting", "share", "Manager time above 110% of capacity, by setting",
       "% of manager time", "%"),
    _b("compliance_by_stage", "share", "Contacts kept, of those offered, by stage", "% of contacts offered", "%"),
    _b("compliance_by_mode", "share", "Contacts kept, of those offered, by mode", "% of contacts offered", "%"),
    _b("compliance_by_risk", "share", "Contacts kept, of those offered, by risk level", "% of contacts offered",
       "%"),
    _b("cost_by_category", "money", "Cost by category", "{cur}", "{:,.0f}"),
    _b("cost_by_setting", "money", "Cost by setting", "{cur}", "{:,.0f}"),
    _b("fte_required_by_setting", "fte", "Staff needed for the workload, by setting", "FTE", "{:.1f}"),
    _b("fte_available_by_setting", "fte", "Staff in post, by setting", "FTE", "{:.1f}"),
    _b("fte_at_work_by_setting", "fte", "Staff at work, by setting", "FTE", "{:.1f}"),
    _b("workload_pressure_by_setting", "ratio", "Workload pressure, by setting", "% of the hours given", "%"),
    _b("share_staff_excessive_workload_by_setting", "share", "Staff time with excessive workload, by setting",
       "% of staff-weeks at work", "%"),
    _b("workload_hours_by_activity", "hours", "Staff workload, by activity", "hours", "{:,.0f}"),
    # not headline: the report's table and the comparison's figures show one figure a KPI, so dict KPIs are
    # never headline ones
    _b("proven_reoffending_1y", "share", "Proven reoffending within a year (all, court orders, custody releases, "
       "releases after under half a year served)",
       "% of the cohort", "%"),
    _b("proven_reoffending_1y_by_risk", "share", "Proven reoffending within a year, by risk level at arrival",
       "% of the cohort", "%"),
)
#: The catalogue by key.
BY_KEY: dict[str, Kpi] = {k.key: k for k in CATALOGUE}


def headline() -> Iterator[Kpi]:
    """The headline KPIs (report table, comparison figures), in the report's order."""
    return (k for k in CATALOGUE if k.headline)


def console() -> Iterator[Kpi]:
    """The KPIs of the console summary of a run (those with a short label), in order."""
    return (k for k in CATALOGUE if k.short)


def readme_columns() -> Iterator[Kpi]:
    """The KPIs of the scenario table of docs/kpis.md (those with a column header), in order."""
    return (k for k in CATALOGUE if k.column)


def kind_of(kpi: str) -> str | None:
    """The kind of ``kpi``, a summary key or a dotted ``<dict KPI>.<key>`` (None when not in the catalogue)."""
    entry = BY_KEY.get(kpi.split(".", 1)[0])
    return entry.kind if entry else None


__all__ = ["CATALOGUE", "BY_KEY", "KINDS", "Kpi", "NOT_KPIS", "LISTS", "format_value", "headline",
           "console", "readme_columns", "kind_of"]
