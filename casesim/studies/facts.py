"""Stylised facts: directional findings of the literature and the domain, checked as paired comparisons.

``casesim check --only facts`` runs the table :data:`FACTS`. Each fact names two arms (a shipped scenario file
and ``--set`` style overrides; the control first, the treatment second), one KPI of the catalogue
(:mod:`casesim.metrics.kpis`; a dict KPI as ``<kpi>.<key>``, e.g. ``proven_reoffending_1y_by_risk.HIGH``),
the direction the source expects the treatment to move it, and the source. Both arms run the same
replications with the same seeds (common random numbers: the same people arrive at the same times with the
same attributes and the same luck), and the fact is judged on the paired differences ``d_r = treatment_r -
control_r`` over the replications ``r``: their mean and 95% Student-t interval (``n - 1`` degrees of freedom).

What PASS means, by direction:

- ``up``: the whole interval of the mean difference is above zero (``ci_low > 0``);
- ``down``: the whole interval is below zero (``ci_high < 0``);
- ``not_lower`` (a non-inferiority criterion, for "does not lower"): the interval reaches no further below
  zero than the margin, ``ci_low > -margin x |control mean|`` (``margin`` relative, :data:`NOT_LOWER_MARGIN`
  by default). So PASS says that the data rule out a fall larger than the margin; a FAIL says that they do
  not (a real fall, or an interval too wide to rule one out: the row's detail gives the mean difference).

A failing fact is a finding about the model (or about the scenario chosen to express the fact), not a
tolerance to widen. The method, the facts and their sources are in docs/checks.md (Stylised facts).

Two sizes: :data:`QUICK` runs every arm scaled to a third of its people, staff and provider places over two
years (as the tests' scaled scenarios), a few replications; :data:`FULL` runs the scenarios at their shipped
size, more replications. A run of one arm with one seed is made once and shared by every fact that uses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from casesim.studies.checkrow import CheckResult
from casesim.studies.sweep import mean_ci

#: The folder of the shipped scenarios.
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
#: Directions a fact can expect.
DIRECTIONS = ("up", "down", "not_lower")
#: Default non-inferiority margin of a ``not_lower`` fact, relative to the control arm's mean: a fall of
#: less than 5% of the control's value counts as "not lower". An assumption (no smaller effect is of
#: practical interest for the facts here; HOPE's replication found no effect on arrests, Lattimore et al. 2016).
NOT_LOWER_MARGIN = 0.05
#: Confidence level of the intervals.
CONFIDENCE = 0.95
#: Share of the people, staff and provider places in the quick form's scaled arms (as the tests' ``scaled()``).
SCALE = 1.0 / 3.0


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a scenario file of ``scenarios/`` with ``--set`` style overrides.

    ``places_factor`` multiplies every provider's places (after any override), at either size: the way to
    say "more places everywhere" without writing each provider's count; ``completion_factor`` multiplies every
    provider's completion probability (capped at 1): better programmes, the same places."""

    scenario: str
    overrides: tuple[str, ...] = ()
    places_factor: float = 1.0
    completion_factor: float = 1.0

    @property
    def label(self) -> str:
        parts = [Path(self.scenario).stem, *self.overrides]
        if self.places_factor != 1.0:
            parts.append(f"provider places x{self.places_factor:g}")
        if self.completion_factor != 1.0:
            parts.append(f"provider completion x{self.completion_factor:g} (at most 1)")
        return " + ".join(parts)


@dataclass(frozen=True)
class Fact:
    """One row of the table: the treatment arm against the control arm on one KPI."""

    key: str
    name: str
    control: Arm
    treatment: Arm
    kpi: str
    direction: Literal["up", "down", "not_lower"]
    source: str
    margin: float = 0.0           # relative margin of a ``not_lower`` fact (fraction of the control mean)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"fact {self.key}: direction must be one of {DIRECTIONS} (got {self.direction!r})")
        if self.direction == "not_lower" and not self.margin > 0:
            raise ValueError(f"fact {self.key}: a not_lower fact needs a margin > 0")

    @property
    def criterion(self) -> str:
        """What PASS means for this fact, in words."""
        if self.direction == "up":
            return "PASS if the 95% interval of the paired difference (treatment - control) is above 0"
        if self.direction == "down":
            return "PASS if the 95% interval of the paired difference (treatment - control) is below 0"
        return (f"PASS if the 95% interval's lower end of the paired difference (treatment - control) is above "
                f"-{self.margin:.0%} of the control mean (non-inferiority: no fall larger than the margin)")


BASELINE = Arm("baseline.yaml")
#: Sources, shared by several rows.
_SEGMENTATION = ("domain: task (vertical) segmentation hands cases between staff by process task or journey stage, "
                 "patch segmentation keeps one manager for the journey in an area (/work/shared/domain/DOMAIN.md, "
                 "Segmentation of the caseload; docs/policies.md)")
_STAFFING = ("HM Inspectorate of Probation (2021) Research & Analysis Bulletin 2021/02, caseloads, workloads and "
             "staffing levels (at 50+ cases quality falls); Gendreau, Goggin & Fulton (2000): caseload size alone "
             "has little effect on recidivism, so a small rise is expected (evidence.yaml: caseload)")
_RISK = ("risk principle: Lowenkamp & Latessa (2005) Criminology & Public Policy 4(2); Bonta & Andrews, The "
         "Psychology of Criminal Conduct, RNR adherence (evidence.yaml: risk_principle)")
_HOPE = ("Lattimore et al. (2016) Criminology & Public Policy, HOPE Demonstration Field Experiment: no effect on "
         "arrests; Cowell et al. (2018): higher criminal-justice costs from more incarceration; CSG Justice Center "
         "(2019) Confined and Costly (evidence.yaml: sanctions_and_breach)")
_NEEDS = ("programmes: Perry et al. (2016) drug interventions; Davis et al. (2013, RAND) correctional education; "
          "Fontaine et al. (2012) supportive housing; Landenberger & Lipsey (2005) CBT (evidence.yaml: programmes)")
#: The risk principle's arms: one mode more intensive for every risk level (the control is the baseline with
#: HIGH risk on brokerage, so HIGH moves brokerage -> comprehensive and LOW administrative -> brokerage).
_LESS_INTENSIVE = Arm("baseline.yaml", ("mode_assignment.table.HIGH=BROKERAGE",))
_MORE_INTENSIVE = Arm("intensive_supervision.yaml")
_NO_COVER = Arm("baseline.yaml", ("management.community.cover={name: none}",))
_MORE_PLACES = Arm("baseline.yaml", places_factor=2.0)
_FEWER_PLACES = Arm("baseline.yaml", places_factor=0.5)
_WAITING = ("waiting lists: Festinger et al. (1995) Addictive Behaviors 20(1), the longer the delay the fewer "
            "attend; Chun et al. (2008) Am J Drug Alcohol Abuse 34(5), a quarter of people waiting untreated two "
            "months later (ProviderSpec.waiting_loss_per_month)")
_BETTER_PROGRAMMES = Arm("baseline.yaml", completion_factor=1.5)

#: The table of facts, in the order they are reported.
FACTS: tuple[Fact, ...] = (
    Fact("task_process_breaks", "Task segmentation by process breaks continuity more than patch",
         BASELINE, Arm("individual_task_process.yaml"), "continuity_breaks_per_case_year", "up", _SEGMENTATION),
    Fact("task_stage_breaks", "Task segmentation by stage breaks continuity more than patch",
         BASELINE, Arm("individual_task_stage.yaml"), "continuity_breaks_per_case_year", "up", _SEGMENTATION),
    Fact("understaffed_pressure", "Fewer staff raise caseload pressure",
         BASELINE, Arm("understaffed.yaml"), "mean_caseload_pressure", "up", _STAFFING),
    Fact("understaffed_compliance", "Fewer staff lower compliance (contacts kept, of those due)",
         BASELINE, Arm("understaffed.yaml"), "compliance_rate_of_due", "down", _STAFFING),
    Fact("understaffed_reoffending", "Fewer staff raise proven reoffending",
         BASELINE, Arm("understaffed.yaml"), "proven_reoffending_1y_all", "up", _STAFFING),
    Fact("intensive_high_risk", "Intensive supervision lowers HIGH-risk reoffending (risk principle)",
         _LESS_INTENSIVE, _MORE_INTENSIVE, "proven_reoffending_1y_by_risk.HIGH", "down", _RISK),
    Fact("intensive_low_risk", "Intensive supervision does not lower LOW-risk reoffending (risk principle)",
         _LESS_INTENSIVE, _MORE_INTENSIVE, "proven_reoffending_1y_by_risk.LOW", "not_lower", _RISK,
         margin=NOT_LOWER_MARGIN),
    Fact("cover_contacts", "Cover (temporary reallocation) keeps contacts delivered, against no cover",
         _NO_COVER, BASELINE, "share_contacts_not_offered", "down",
         "domain: cover for absent managers (DOMAIN.md, Approach; docs/policies.md, Staff dynamics and cover)"),
    Fact("pods_contacts", "Pod cover keeps contacts delivered, against no cover",
         _NO_COVER, Arm("pods_cover.yaml"), "share_contacts_not_offered", "down",
         "domain: pods that cover each other's absences (DOMAIN.md, Approach; docs/policies.md)"),
    Fact("statutory_duty_waits", "A statutory duty on universal providers shortens waits for interventions",
         BASELINE, Arm("statutory_duty.yaml"), "mean_wait_days", "down",
         "domain: a statutory duty to co-operate gives the agency's cases priority over public users "
         "(DOMAIN.md, providers; scenarios/statutory_duty.yaml)"),
    Fact("strict_breaches", "Strict enforcement raises breaches",
         BASELINE, Arm("strict_enforcement.yaml"), "breaches_per_case_year", "up", _HOPE),
    Fact("strict_recalls", "Strict enforcement raises recalls",
         BASELINE, Arm("strict_enforcement.yaml"), "recalls_per_case_year", "up", _HOPE),
    Fact("strict_custody_cost", "Strict enforcement raises custody costs",
         BASELINE, Arm("strict_enforcement.yaml"), "cost_by_category.custody", "up", _HOPE),
    Fact("strict_reoffending", "Strict enforcement does not lower proven reoffending",
         BASELINE, Arm("strict_enforcement.yaml"), "proven_reoffending_1y_all", "not_lower", _HOPE,
         margin=NOT_LOWER_MARGIN),
    Fact("places_needs_met", "More provider places meet more needs",
         BASELINE, _MORE_PLACES, "share_needs_met", "up", _NEEDS),
    Fact("places_reoffending", "More provider places (more needs met) lower proven reoffending",
         BASELINE, _MORE_PLACES, "proven_reoffending_1y_all", "down", _NEEDS),
    Fact("places_returns", "More provider places (more needs met) lower returns after a further offence",
         BASELINE, _MORE_PLACES, "cases_returned", "down", _NEEDS),
    Fact("fewer_places_needs_met", "Fewer provider places (halved) meet fewer needs: people wait longer and "
         "more drop off the lists", BASELINE, _FEWER_PLACES, "share_needs_met", "down", _WAITING),
    Fact("programmes_needs_met", "Better programmes (completion x1.5) meet more needs",
         BASELINE, _BETTER_PROGRAMMES, "share_needs_met", "up", _NEEDS),
    Fact("programmes_reoffending", "Better programmes (more needs met) lower proven reoffending",
         BASELINE, _BETTER_PROGRAMMES, "proven_reoffending_1y_all", "down", _NEEDS),
    Fact("programmes_returns", "Better programmes (more needs met) lower returns after a further offence",
         BASELINE, _BETTER_PROGRAMMES, "cases_returned", "down", _NEEDS),
)


@dataclass(frozen=True)
class FactSettings:
    """How much simulation the facts do."""

    replications: int
    scaled: bool          # a third of the people, staff and places over two years (else the shipped size)


QUICK = FactSettings(replications=4, scaled=True)
FULL = FactSettings(replications=8, scaled=False)


class FactResult(CheckResult):
    """A fact's row in :class:`~casesim.studies.check.CheckResult`'s shape: ``theory`` is the control arm's mean,
    ``simulated`` the treatment arm's, ``difference`` the relative change (ratio - 1), ``ci_low``/``ci_high`` the
    treatment's mean as the control mean plus the 95% interval of the paired difference (so ``up`` passes
    when ``ci_low > theory``), ``tolerance`` the ``not_lower`` margin (0 otherwise). ``extra`` has the paired
    difference, its interval, the ratio, the arms, the direction, the criterion, the source and the values of
    every replication. PASS/FAIL follows the direction (see the module's docstring), not the tolerance rule
    of the other checks."""

    @property
    def direction(self) -> str:
        return str(self.extra.get("direction", ""))

    @property
    def criterion_short(self) -> str:
        if self.direction == "up":
            return "CI > 0"
        if self.direction == "down":
            return "CI < 0"
        return f"CI low > -{self.tolerance:.0%}"

    @property
    def passed(self) -> bool:
        return fact_passed(self.direction, self.extra.get("diff_ci_low", math.nan),
                           self.extra.get("diff_ci_high", math.nan), self.theory, self.tolerance)


def fact_passed(direction: str, ci_low: float, ci_high: float, control_mean: float, margin: float) -> bool:
    """Whether the interval ``[ci_low, ci_high]`` of the paired difference lies where ``direction`` wants it
    (see the module's docstring). A missing or infinite bound is a FAIL."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return False
    if direction == "up":
        return ci_low > 0
    if direction == "down":
        return ci_high < 0
    if direction == "not_lower":
        return math.isfinite(control_mean) and ci_low > -margin * abs(control_mean)
    raise ValueError(f"unknown direction {direction!r}")


def arm_scenario(arm: Arm, scaled: bool) -> Any:
    """The validated scenario of an arm, at the shipped size or scaled to a third (people, staff, places) over
    two years with a 180-day warm-up (as the tests' ``scaled()``); scheduled changes come as far into the run."""
    from casesim.scenario.schema import load_scenario

    path = SCENARIOS / arm.scenario
    full = load_scenario(path, arm.overrides)[0]
    share = SCALE if scaled else 1.0
    sets = [f"providers.{i}.places={max(1, round(p.places * share * arm.places_factor))}"
            for i, p in enumerate(full.providers)] if (scaled or arm.places_factor != 1.0) else []
    if arm.completion_factor != 1.0:
        sets += [f"providers.{i}.completion_probability={min(1.0, p.completion_probability * arm.completion_factor):g}"
                 for i, p in enumerate(full.providers)]
    if scaled:
        sets += [f"arrivals.rate_per_day={full.arrivals.rate_per_day * SCALE:g}",
                 "time.horizon_days=730", "time.warmup_days=180"]
        sets += [f"initial_population.by_stage.{s}={n // 3}" for s, n in full.initial_population.by_stage.items()]
        sets += [f"staff.{i}.count={max(1, round(g.count * SCALE))}" for i, g in enumerate(full.staff)]
        sets += [f"changes.{i}.at_day={c.at_day * 730 / full.time.horizon_days:g}"
                 for i, c in enumerate(full.changes)]
    return load_scenario(path, [*arm.overrides, *sets])[0]


def kpi_value(kpis: dict[str, float], key: str) -> float:
    """A KPI of :func:`casesim.studies.sweep.kpi_columns`' flat dict (NaN when the run has none)."""
    v = kpis.get(key)
    return math.nan if v is None else float(v)


def check_kpi_key(key: str) -> None:
    """Raise ValueError unless ``key`` (or its part before the first dot) is in the KPI catalogue."""
    from casesim.metrics.kpis import BY_KEY

    if key not in BY_KEY and key.split(".", 1)[0] not in BY_KEY:
        raise ValueError(f"unknown KPI {key!r}: not in casesim/metrics/kpis.py's catalogue")


def evaluate(fact: Fact, control: Sequence[float], treatment: Sequence[float], seeds: Sequence[int] = (),
             detail: str = "") -> FactResult:
    """The row of one fact from its arms' values, replication by replication (paired by position)."""
    if len(control) != len(treatment):
        raise ValueError("the arms need the same replications")
    diffs = [t - c for c, t in zip(control, treatment, strict=True)]
    d = mean_ci(diffs, CONFIDENCE)
    c = mean_ci(control, CONFIDENCE)
    t = mean_ci(treatment, CONFIDENCE)
    ratio = t.mean / c.mean if c.mean else (1.0 if t.mean == 0 else math.inf)
    low = d.ci_low if d.n > 1 else math.nan
    high = d.ci_high if d.n > 1 else math.nan
    extra = {"fact": fact.key, "kpi": fact.kpi, "direction": fact.direction, "margin": fact.margin,
             "control": fact.control.label, "treatment": fact.treatment.label, "source": fact.source,
             "criterion": fact.criterion, "replications": d.n, "seeds": list(seeds),
             "control_values": list(control), "treatment_values": list(treatment),
             "diff_mean": d.mean, "diff_ci_low": low, "diff_ci_high": high, "ratio": ratio}
    return FactResult("facts", f"{fact.name}: {fact.kpi} {fact.direction.replace('_', ' ')} "
                      f"({fact.treatment.label} vs {fact.control.label})",
                      theory=c.mean, simulated=t.mean, tolerance=fact.margin, relative=True,
                      ci_low=c.mean + low, ci_high=c.mean + high,
                      detail=(detail + "; " if detail else "") + f"paired difference {d.mean:+.4g} "
                      f"(95% t interval {low:+.4g} to {high:+.4g}), ratio {ratio:.3f}; {fact.criterion}; "
                      f"source: {fact.source}", extra=extra)


def run_facts(quick: bool = False, seed: int = 20261122, facts: Sequence[Fact] | None = None,
              settings: FactSettings | None = None, workers: int = 1,
              on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every arm of ``facts`` with the same replication seeds (common random numbers) and return one
    row per fact. Replication ``r`` runs with ``replication_seed(seed, r)`` in every arm; a run of one arm and
    one seed is made once, whatever the number of facts that use it."""
    from casesim.studies.compare import _execute
    from casesim.studies.experiment import replication_seed

    facts = FACTS if facts is None else facts
    settings = settings or (QUICK if quick else FULL)
    if settings.replications < 2:
        raise ValueError("facts need at least 2 replications for an interval")
    for f in facts:
        check_kpi_key(f.kpi)
    arms: list[Arm] = []
    for f in facts:
        for a in (f.control, f.treatment):
            if a not in arms:
                arms.append(a)
    scenarios = [arm_scenario(a, settings.scaled) for a in arms]
    seeds = [replication_seed(seed, r) for r in range(settings.replications)]
    tasks = [(i, r, scenarios[i], seeds[r]) for r in range(settings.replications) for i in range(len(arms))]
    done = _execute(tasks, workers, None)
    kpis: dict[tuple[int, int], dict[str, float]] = {(d["index"], d["replication"]): d["kpis"] for d in done}
    size = ("scaled to a third, 2 years" if settings.scaled else "shipped size")
    rows: list[CheckResult] = []
    for f in facts:
        ci, ti = arms.index(f.control), arms.index(f.treatment)
        reps = range(settings.replications)
        row = evaluate(f, [kpi_value(kpis[ci, r], f.kpi) for r in reps],
                       [kpi_value(kpis[ti, r], f.kpi) for r in reps], seeds,
                       detail=f"{settings.replications} paired replications, {size}")
        rows.append(row)
        if on_result is not None:
            on_result(row)
    return rows

