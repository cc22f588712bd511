"""Analytic validation: ``casesim check`` compares the engine with results known in closed form.

Checks (each gives one or more rows: theory, simulated value, interval, tolerance, PASS/FAIL):

1. **M/M/c against Erlang C** (``mmc``). The real :class:`~casesim.agents.provider.Provider`
   runs inside a real :class:`~casesim.engine.simulation.Simulation` (its SimPy clock, its event log,
   its per-case luck for intervention lengths), but referrals are fed to it directly by a
   Poisson process of this module instead of coming from case journeys. The full journey
   would not give an M/M/c queue: a case that leaves its stage withdraws its waiting referral
   (abandonment) and cuts its intervention short, and referrals follow assessment and
   planning, so the stream reaching one provider is not a plain Poisson process with
   exponential services. The provider has ``c`` places, exponential durations, acceptance
   probability 1, no acceptance delay and completion probability 1, so it is exactly M/M/c
   FCFS. A second, exact row per load replays the engine's own arrival and service times
   through the Kiefer-Wolfowitz recursion: every wait must agree to 1e-6 days.
2. **Little's law** (``little``) per journey stage and for caseloads per staff group, on the
   baseline scenario scaled to a third: mean number present = entry rate x mean time present.
   An exact accounting row (time inside the window) and the standard estimator (complete
   stays that start in the window, followed past its end) are both reported.
3. **Conservation** (``conservation``): stepping the model tick by tick, cases created =
   active + exited, the population by stage sums to the active cases, each provider's busy
   places and waiting list equal its open tickets, and each staff member's caseload equals the
   cases carried.
4. **Common random numbers** (``crn``): two scenarios that differ only in staffing see the
   same people arriving at the same times with the same attributes.

The method and the tolerances are in docs/checks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from casesim.studies.sweep import mean_ci, t_quantile

#: Names of the checks, in the order they run.
CHECKS = ("mmc", "little", "conservation", "crn")

# --- M/M/c settings -------------------------------------------------------------------------------
#: (places c, load rho) of the M/M/c comparisons: a light, a busy and a heavy load.
MMC_LOADS: tuple[tuple[int, float], ...] = ((2, 0.5), (3, 0.8), (2, 0.9))
#: Mean intervention length of the test provider (days). Pure scale: waits in units of it are
#: independent of its value; 90 days is the order of the baseline providers' durations.
MMC_MEAN_SERVICE_DAYS = 90.0
#: Relative variance per counted referral of the control-variate estimate of the mean wait
#: (Var(estimate) / Wq^2 x referrals), by (c, rho): measured in a pilot of 100 replications of
#: 40,000 referrals each with an independent Kiefer-Wolfowitz simulation (see docs/checks.md). It sets
#: how many referrals each load needs for the target interval half-width.
MMC_PILOT_VARIANCE: dict[tuple[int, float], float] = {(2, 0.5): 32.5, (3, 0.8): 90.4, (2, 0.9): 285.1,
                                                      (2, 0.95): 1429.0}
#: Tolerance of the M/M/c mean wait: relative difference from Erlang C's Wq (brief: 5%).
MMC_TOLERANCE = 0.05
#: Warm-up in relaxation times: the queue starts empty and its distance from the stationary
#: distribution decays like exp(-t / tau); after 10 tau it is below 5e-5 of the initial one.
MMC_WARMUP_RELAXATIONS = 10.0
#: Largest disagreement (days) between an engine wait and the FCFS recursion on the same inputs.
MMC_PATH_TOLERANCE_DAYS = 1e-6


@dataclass(frozen=True)
class Settings:
    """How much simulation each check does."""

    mmc_replications: int
    mmc_half_width: float            # target relative half-width of the 95% interval at every load
    little_window_days: float        # measured window [warm-up, warm-up + window)
    little_overrun_days: float       # run on after the window so that stays started in it end
    conservation_days: float         # horizon of the stepped conservation / CRN runs


FULL = Settings(mmc_replications=20, mmc_half_width=0.03, little_window_days=1461.0,
                little_overrun_days=1095.0, conservation_days=365.0)
QUICK = Settings(mmc_replications=10, mmc_half_width=0.045, little_window_days=730.0,
                 little_overrun_days=730.0, conservation_days=182.0)

#: Little's law: warm-up before the window (days). The initial population starts with shortened
#: (residual) stays, so custody numbers dip and recover on the time scale of a custody stay (about
#: a year); three years leave less than a twentieth of that transient.
LITTLE_WARMUP_DAYS = 1095.0
#: Tolerance of the standard Little's-law estimator (relative; brief: 2%) ...
LITTLE_TOLERANCE = 0.02
#: ... unless the window's edge noise makes 2% unattainable even for a perfect simulator: then
#: this many standard deviations of the edge noise (99%, two-sided).
LITTLE_EDGE_Z = 2.58
#: Tolerance of the window-accounting identity (relative): float rounding only.
IDENTITY_TOLERANCE = 1e-9
#: Share of the baseline's people, staff and places in the validation scenario (a third, as tests).
SCALE = 1.0 / 3.0
#: CRN: the community staff count of the second scenario, as a share of the first's.
CRN_STAFF_SHARE = 2.0 / 3.0


@dataclass
class CheckResult:
    """One row of the report."""

    check: str
    name: str
    theory: float
    simulated: float
    tolerance: float
    relative: bool = True             # tolerance on |sim - theory| / |theory|, else on |sim - theory|
    ci_low: float | None = None
    ci_high: float | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def difference(self) -> float:
        diff = self.simulated - self.theory
        if not self.relative:
            return diff
        return diff / abs(self.theory) if self.theory else (0.0 if diff == 0 else math.inf)

    @property
    def passed(self) -> bool:
        ok = math.isfinite(self.difference) and abs(self.difference) <= self.tolerance
        if ok and self.ci_low is not None and self.ci_high is not None and self.relative and self.theory:
            # an interval wider than the tolerance cannot tell a right model from a wrong one
            ok = (self.ci_high - self.ci_low) / 2 <= self.tolerance * abs(self.theory)
        return ok

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["difference"] = self.difference
        out["passed"] = self.passed
        return out


# ------------------------------------------------------------------------------------ queueing theory
def erlang_b(c: int, a: float) -> float:
    """Erlang's loss probability B(c, a) by the stable recursion B(k) = a B(k-1) / (k + a B(k-1))."""
    if c < 0 or a < 0:
        raise ValueError("erlang_b needs c >= 0 and a >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``a = lambda / mu`` (< c).

    Computed from Erlang B (C = B / (1 - rho + rho B), rho = a / c): no factorials or powers,
    stable for thousands of servers.
    """
    if c < 1:
        raise ValueError("erlang_c needs at least one server")
    if not 0 <= a < c:
        raise ValueError(f"erlang_c needs 0 <= a < c (a={a}, c={c}): the queue is unstable otherwise")
    b = erlang_b(c, a)
    rho = a / c
    return b / (1.0 - rho + rho * b)


def mmc_wq(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c: Wq = C(c, a) / (c mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def relaxation_days(lam: float, mu: float, c: int) -> float:
    """Relaxation time of the queue, 1 / (sqrt(c mu) - sqrt(lambda))^2 (exact for M/M/1 with rate c mu;
    the standard heavy-traffic approximation for M/M/c)."""
    return 1.0 / (math.sqrt(c * mu) - math.sqrt(lam)) ** 2


def fcfs_waits(arrivals: Sequence[float], services: Sequence[float], c: int) -> list[float]:
    """Waits of FCFS customers at ``c`` servers (Kiefer-Wolfowitz recursion over server free times)."""
    import heapq

    free = [0.0] * c
    out = []
    for t, s in zip(arrivals, services, strict=True):
        start = max(t, free[0])
        out.append(start - t)
        heapq.heapreplace(free, start + s)
    return out


def t_interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval."""
    ci = mean_ci(values, 0.95)
    return ci.mean, (ci.ci_high - ci.mean) if ci.n > 1 else math.inf


def cv_interval(y: Sequence[float], controls: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Control-variate estimate of E[y] and the half-width of its 95% interval.

    ``controls`` are per-replication statistics with known mean 0; y is regressed on them across
    replications and the intercept is the estimate (Lavenberg and Welch 1981), with a t interval
    on n - q - 1 degrees of freedom.
    """
    import numpy as np

    yv = np.asarray(y, dtype=float)
    x = np.column_stack([np.ones(len(yv)), np.asarray(controls, dtype=float).T])
    n, p = x.shape
    if n <= p:
        raise ValueError("more replications than controls + 1 are needed")
    beta, *_ = np.linalg.lstsq(x, yv, rcond=None)
    resid = yv - x @ beta
    s2 = float(resid @ resid) / (n - p)
    cov = s2 * np.linalg.inv(x.T @ x)
    return float(beta[0]), t_quantile(0.975, n - p) * math.sqrt(float(cov[0, 0]))


# ----------------------------------------------------------------------------------------- M/M/c check
class _Referral:
    """What a provider needs of a case, for referrals fed straight to it (no journey)."""

    __slots__ = ("no", "luck", "referrals", "stage", "risk", "pending", "met")

    def __init__(self, no: int, luck: int) -> None:
        self.no = no
        self.luck = luck
        self.referrals = 0
        self.stage = None
        self.risk = "MEDIUM"
        self.pending: tuple[Any, ...] = ()
        self.met: set[int] = set()

    def need_met(self, need_index: int) -> None:
        self.met.add(need_index)


def _provider_scenario(places: int, mean_service: float) -> Any:
    from casesim.scenario.params import CENTURY_DAYS
    from casesim.scenario.schema import Scenario

    return Scenario.model_validate({
        "name": "mmc_check", "time": {"horizon_days": CENTURY_DAYS, "warmup_days": 0, "tick_days": CENTURY_DAYS},
        "arrivals": {"rate_per_day": 0.0}, "staff": [],
        "staffing": {"annual_leave_days": 0, "sickness_days_per_year": 0, "turnover_per_year": 0},
        "providers": [{"name": "mmc", "setting": "community", "need": "substance_misuse", "places": places,
                       "duration": {"dist": "exponential", "mean_days": mean_service},
                       "completion_probability": 1.0, "acceptance_probability": 1.0,
                       "acceptance_delay_days": 0.0, "relationship": "protocol"}],
    })


def mmc_replication(lam: float, mean_service: float, places: int, counted: int, warmup_days: float,
                    seed: int) -> dict[str, Any]:
    """One replication: Poisson referrals at ``lam`` to one provider until ``counted`` referrals have
    joined after ``warmup_days``; arrivals then stop and the run goes on until every counted
    referral has started (so no wait is censored). Returns arrays from the engine's log."""
    import numpy as np

    from casesim.engine.simulation import Simulation

    sim = Simulation(_provider_scenario(places, mean_service), seed=seed)
    provider = sim.providers[0]
    rng = sim.streams["check_referrals"]
    env = sim.env

    def referrals():  # noqa: ANN202 - a SimPy generator
        key, refer, timeout = sim.luck.case_key, provider.refer, env.timeout
        i = n_in = 0
        while n_in < counted:
            gaps = rng.exponential(1.0 / lam, 4096)
            for g in gaps:
                yield timeout(g)
                r = _Referral(i, key(i))
                r.pending += (refer(r, 0),)
                i += 1
                if env.now >= warmup_days:
                    n_in += 1
                    if n_in >= counted:
                        return

    env.process(referrals())
    env.run()   # arrivals stop, then the provider drains: every wait is complete
    ev = sim.log.to_frame()
    kind = ev["kind"].astype(str).to_numpy()
    case, time, value = ev["case"].to_numpy(), ev["time"].to_numpy(), ev["value"].to_numpy()
    n = int(case.max()) + 1
    arrive, start, end = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    sel = kind == "referral"
    arrive[case[sel]] = time[sel]
    sel = kind == "intervention_start"
    start[case[sel]] = time[sel]
    wait = np.full(n, np.nan)
    wait[case[sel]] = value[sel]
    sel = kind == "intervention_end"
    end[case[sel]] = time[sel]
    return {"arrive": arrive, "wait": wait, "service": end - start, "sim_events": len(ev)}


def referrals_needed(c: int, rho: float, half_width: float, replications: int) -> int:
    """Counted referrals per replication so that the 95% interval's relative half-width is about
    ``half_width``: n = V (t / h)^2 / R with the pilot variance V (see MMC_PILOT_VARIANCE)."""
    v = MMC_PILOT_VARIANCE.get((c, rho))
    if v is None:
        raise ValueError(f"no pilot variance for c={c}, rho={rho}; add it to MMC_PILOT_VARIANCE")
    t = t_quantile(0.975, replications - 3)
    return math.ceil(v * (t / half_width) ** 2 / replications)


def check_mmc(c: int, rho: float, settings: Settings, seed: int, places: int | None = None,
              index: int = 0, per_rep: int | None = None) -> list[CheckResult]:
    """Mean wait against Erlang C at ``c`` places and load ``rho``; ``places`` (default ``c``) is what
    the simulated provider really has (a different value makes the check fail on purpose)."""
    import numpy as np

    mu = 1.0 / MMC_MEAN_SERVICE_DAYS
    lam = rho * c * mu
    theory = mmc_wq(lam, mu, c)
    places = c if places is None else places
    warmup = MMC_WARMUP_RELAXATIONS * relaxation_days(lam, mu, c)
    reps = settings.mmc_replications
    if per_rep is None:
        per_rep = referrals_needed(c, rho, settings.mmc_half_width, reps)
    means, ctl_s, ctl_a, path_err, n_total = [], [], [], 0.0, 0
    seeds = np.random.SeedSequence(seed, spawn_key=(0x33C, index)).spawn(reps)
    for ss in seeds:
        r = mmc_replication(lam, MMC_MEAN_SERVICE_DAYS, places, per_rep, warmup, int(ss.generate_state(1)[0]))
        arrive, wait, service = r["arrive"], r["wait"], r["service"]
        keep = arrive >= warmup
        means.append(float(wait[keep].mean()))
        # controls with known mean 0: mean service / mean, and mean gap x lambda, minus 1
        ctl_s.append(float(service[keep].mean()) / MMC_MEAN_SERVICE_DAYS - 1.0)
        ctl_a.append(float(np.diff(arrive)[keep[1:]].mean()) * lam - 1.0)
        ref = np.asarray(fcfs_waits(arrive.tolist(), service.tolist(), places))
        path_err = max(path_err, float(np.max(np.abs(ref - wait))))
        n_total += int(keep.sum())
    raw_mean, raw_half = t_interval(means)
    est, half = cv_interval(means, [ctl_s, ctl_a])
    label = f"c={c}, rho={rho:g}" + (f" (simulated with {places} places)" if places != c else "")
    extra = {"c": c, "rho": rho, "places_simulated": places, "lambda_per_day": lam, "mean_service_days": 1 / mu,
             "erlang_c": erlang_c(c, lam / mu), "warmup_days": warmup, "replications": reps,
             "referrals_per_replication": per_rep, "referrals_counted": n_total,
             "raw_mean": raw_mean, "raw_ci": [raw_mean - raw_half, raw_mean + raw_half],
             "replication_means": means}
    return [
        CheckResult("mmc", f"M/M/c mean wait (days), {label}", theory, est, MMC_TOLERANCE,
                    ci_low=est - half, ci_high=est + half,
                    detail=f"{reps} replications x {per_rep:,} referrals after a {warmup:,.0f}-day warm-up; "
                    "control-variate mean and 95% t interval", extra=extra),
        CheckResult("mmc", f"FCFS recursion on the engine's inputs, {label}: max |wait difference| (days)",
                    0.0, path_err, MMC_PATH_TOLERANCE_DAYS, relative=False,
                    detail="every referral of every replication, warm-up included"),
    ]


# ------------------------------------------------------------------------------------- Little's law
def validation_scenario(path: str | Path | None = None, horizon: float | None = None,
                        overrides: Sequence[str] = ()) -> Any:
    """The baseline scenario (or ``path``) scaled to a third of its people, staff and places."""
    from casesim.scenario.schema import load_scenario

    src = Path(path) if path is not None else Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"
    full = load_scenario(src)[0]
    sets = [f"arrivals.rate_per_day={full.arrivals.rate_per_day * SCALE:g}"]
    sets += [f"initial_population.by_stage.{s}={int(n * SCALE)}" for s, n in full.initial_population.by_stage.items()]
    sets += [f"staff.{i}.count={max(1, round(g.count * SCALE))}" for i, g in enumerate(full.staff)]
    sets += [f"providers.{i}.places={max(1, round(p.places * SCALE))}" for i, p in enumerate(full.providers)]
    if horizon is not None:
        sets += [f"time.horizon_days={horizon:g}", f"time.warmup_days={min(full.time.warmup_days, horizon / 2):g}"]
    return load_scenario(src, [*sets, *overrides])[0]


def _pair_spells(key: Any, t: Any, opens: Any, end_default: float) -> tuple[Any, Any, Any]:
    """Pair each opening row with the next row of the same key if that row closes (rows in time
    order); spells still open end at ``end_default``. Returns (start, end, index of the opening row)."""
    import numpy as np

    order = np.lexsort((np.arange(len(key)), key))
    k, tt, op = key[order], t[order], opens[order]
    nxt_same = np.r_[k[1:] == k[:-1], False]
    nxt_close = np.r_[~op[1:], False]
    closed = nxt_same & nxt_close & op
    end = np.where(closed, np.r_[tt[1:], end_default], end_default)
    return tt[op], end[op], order[op]


def _little_rows(label: str, start: Any, end: Any, occupancy: float, a: float, h: float, run_end: float,
                 unit: str) -> list[CheckResult]:
    """Exact window-accounting row and standard-estimator row for one population."""
    import numpy as np

    span = h - a
    inside = np.clip(np.minimum(end, h) - np.maximum(start, a), 0.0, None)
    overlap = inside > 0
    lam_eff = overlap.sum() / span
    w_eff = inside[overlap].mean() if overlap.any() else 0.0
    entered = (start >= a) & (start < h)
    lam = entered.sum() / span
    stays = end[entered] - start[entered]
    w = stays.mean() if entered.any() else 0.0
    censored = int((end[entered] >= run_end).sum())
    # size of the edge terms: time in the window of stays that began before it, and time after
    # it of stays that began in it; their difference is what separates L from lambda W
    pre = inside[start < a]
    post = np.clip(end[entered] - h, 0.0, None)
    edge_sd = math.sqrt(float((pre ** 2).sum() + (post ** 2).sum())) / span
    predicted = lam * w
    tolerance = max(LITTLE_TOLERANCE, LITTLE_EDGE_Z * edge_sd / occupancy) if occupancy > 0 else LITTLE_TOLERANCE
    return [
        CheckResult("little", f"Little (time in window) {label}: mean {unit}", occupancy, lam_eff * w_eff,
                    IDENTITY_TOLERANCE, detail=f"{int(overlap.sum()):,} spells overlap the window; "
                    f"L = {lam_eff:.4g}/day x {w_eff:.4g} days"),
        CheckResult("little", f"Little (entries in window) {label}: mean {unit}", occupancy, predicted,
                    tolerance, ci_low=predicted - 1.96 * edge_sd, ci_high=predicted + 1.96 * edge_sd,
                    detail=f"{int(entered.sum()):,} entries, {lam:.4g}/day x mean stay {w:.4g} days; "
                    f"{censored} still open at day {run_end:g}; interval = edge noise",
                    extra={"entries": int(entered.sum()), "lambda_per_day": lam, "mean_stay_days": w,
                           "censored": censored, "edge_sd": edge_sd}),
    ]


def check_little(settings: Settings, seed: int, scenario_path: str | Path | None = None) -> list[CheckResult]:
    """Little's law per stage and per staff group over [warm-up, warm-up + window)."""
    import dataclasses

    import numpy as np

    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import metrics_context, staff_load, stage_occupancy

    a = LITTLE_WARMUP_DAYS
    h = a + settings.little_window_days
    run_end = h + settings.little_overrun_days
    scenario = validation_scenario(scenario_path, horizon=run_end)
    sim = Simulation(scenario, seed)
    sim.run_to_end()
    ev = sim.log.to_frame()
    ctx = dataclasses.replace(metrics_context(sim), warmup=a, horizon=h)
    kind = ev["kind"].astype(str).to_numpy()
    t, case, mgr = ev["time"].to_numpy(), ev["case"].to_numpy(), ev["manager"].to_numpy()
    stage = ev["stage"].astype(str).to_numpy()
    cause = ev["cause"].astype(str).to_numpy()
    out: list[CheckResult] = []
    # stages: L from the metrics module (integrated enter/exit events), stays paired here
    occ = stage_occupancy(ev, ctx).set_index("stage")
    st = (kind == "stage_enter") | (kind == "stage_exit")
    st_start, st_end, idx = _pair_spells(case[st], t[st], kind[st] == "stage_enter", run_end)
    st_stage = stage[st][idx]
    for name in occ.index:
        sel = st_stage == name
        out += _little_rows(f"stage {name}", st_start[sel], st_end[sel], float(occ.loc[name, "L"]), a, h,
                            run_end, "cases")
    # caseloads: cases carried per staff group (load assign -> unassign of the same case and manager)
    seg = staff_load(ev, ctx)
    table = sim.staff_table().set_index("manager")
    seg_group = table.loc[seg["manager"].to_numpy(), "group"].to_numpy()
    dur = np.clip(np.minimum(seg["end"].to_numpy(), h) - np.maximum(seg["start"].to_numpy(), a), 0.0, None)
    ld = (kind == "load") & ((cause == "assign") | (cause == "unassign"))
    pair_key = case[ld] * (int(mgr.max()) + 2) + mgr[ld]
    ld_start, ld_end, idx = _pair_spells(pair_key, t[ld], cause[ld] == "assign", run_end)
    ld_mgr = mgr[ld][idx]
    ld_group = table.loc[ld_mgr, "group"].to_numpy()
    for group in dict.fromkeys(table["group"]):
        occupancy = float((seg["count"].to_numpy() * dur)[seg_group == group].sum()) / (h - a)
        sel = ld_group == group
        out += _little_rows(f"caseload {group}", ld_start[sel], ld_end[sel], occupancy, a, h, run_end,
                            "cases carried by the group")
    return out


# ------------------------------------------------------------------------------------- conservation
def conservation_violations(sim: Any) -> list[str]:
    """Every way the live state of ``sim`` breaks conservation right now (empty if none)."""
    from casesim.agents.provider import ACTIVE, QUEUED

    problems: list[str] = []
    cases = list(sim.cases())
    kinds = sim.log.to_frame()["kind"].astype(str)
    arrived, exited = int((kinds == "arrival").sum()), int((kinds == "exit").sum())
    if sim.cases_created != arrived:
        problems.append(f"cases created {sim.cases_created} != arrivals logged {arrived}")
    if sim.cases_created != len(cases) + exited:
        problems.append(f"created {sim.cases_created} != active {len(cases)} + exited {exited}")
    by_stage: dict[str, int] = {}
    for c in cases:
        by_stage[str(c.stage)] = by_stage.get(str(c.stage), 0) + 1
    if "None" in by_stage:
        problems.append(f"{by_stage['None']} active cases are in no stage")
    if sum(n for s, n in by_stage.items() if s in sim.journey.stages) != len(cases):
        problems.append(f"population by stage {by_stage} does not sum to active {len(cases)}")
    for p in sim.providers:
        tickets = [tk for c in cases for tk in c.pending if tk.provider is p]
        busy = sum(1 for tk in tickets if tk.state == ACTIVE)
        queued = sum(1 for tk in tickets if tk.state == QUEUED)
        if (p.busy, p.queued) != (busy, queued):
            problems.append(f"provider {p.name}: busy/queued {p.busy}/{p.queued} != tickets {busy}/{queued}")
        used = p.busy + p.public_busy   # the agency's cases and the public's users (a universal provider)
        if used > p.places or ((p.queued > 0 or p.public_queued > 0) and used < p.places):
            problems.append(f"provider {p.name}: {used} busy of {p.places} places with {p.queued} cases and "
                            f"{p.public_queued} public users waiting")
    carried: dict[int, tuple[int, float]] = {}
    for c in cases:
        if c.load_staff is not None:
            n, w = carried.get(c.load_staff.unique_id, (0, 0.0))
            carried[c.load_staff.unique_id] = (n + 1, w + c.load_weight)
    for m in sim.all_staff():
        n, w = carried.get(m.unique_id, (0, 0.0))
        if m.in_post:   # and the hours of its seats on case teams
            w += sim.seat_hours * len(m.teams)
        if m.count != n or abs(m.load - w) > 1e-6:
            problems.append(f"staff {m.unique_id}: count/load {m.count}/{m.load:g} != carried {n}/{w:g}")
    return problems


def check_conservation(settings: Settings, seed: int, scenario_path: str | Path | None = None,
                       keep: dict[str, Any] | None = None) -> list[CheckResult]:
    """Step the model tick by tick and count conservation violations (must be 0)."""
    from casesim.engine.simulation import Simulation

    sim = Simulation(validation_scenario(scenario_path, horizon=settings.conservation_days), seed)
    ticks = violations = 0
    first = ""
    while sim.running:
        sim.step()
        ticks += 1
        found = conservation_violations(sim)
        violations += len(found)
        if found and not first:
            first = f"day {sim.time:g}: {found[0]}"
    if keep is not None:
        keep["sim"] = sim
    return [CheckResult("conservation", f"conservation at every tick ({ticks} ticks): violations", 0.0,
                        float(violations), 0.0, relative=False,
                        detail=first or "cases created = active + exited; stages sum to active; provider "
                        "places and waiting lists = open tickets; caseloads = cases carried")]


def check_crn(settings: Settings, seed: int, scenario_path: str | Path | None = None,
              first: Any = None) -> list[CheckResult]:
    """Two scenarios differing only in community staffing: identical register of arrivals."""
    import pandas as pd

    from casesim.engine.simulation import Simulation

    base = validation_scenario(scenario_path, horizon=settings.conservation_days)
    if first is None:
        first = Simulation(base, seed)
        first.run_to_end()
    count = max(1, round(base.staff[0].count * CRN_STAFF_SHARE))
    other = Simulation(validation_scenario(scenario_path, horizon=settings.conservation_days,
                                           overrides=[f"staff.0.count={count}"]), seed)
    other.run_to_end()
    # the newcomers (initial population and arrivals), not the people who come back: how many come back, and
    # when, is what a scenario changes; their case numbers move with the returns, so they are not compared
    def newcomers(sim: Simulation) -> pd.DataFrame:
        reg = pd.DataFrame(sim.register)
        return reg[reg["previous"] < 0].drop(columns=["case", "person", "previous"]).reset_index(drop=True)

    a, b = newcomers(first), newcomers(other)
    n = min(len(a), len(b))
    cells = int((a.iloc[:n].astype(str) != b.iloc[:n].astype(str)).to_numpy().sum()) + abs(len(a) - len(b))
    same_log = len(first.log) == len(other.log)
    back = [first.cases_created - first.newcomers, other.cases_created - other.newcomers]
    return [CheckResult("crn", f"CRN: staff {base.staff[0].count} vs {count}: register cells that differ", 0.0,
                        float(cells), 0.0, relative=False,
                        detail=f"{len(a):,} vs {len(b):,} newcomers (arrival time, risk, offence, needs, propensity, "
                        f"motivation, patch), {back[0]:,} vs {back[1]:,} returns; event logs "
                        f"{'equal in length' if same_log else 'differ'} ({len(first.log):,} vs {len(other.log):,} "
                        f"events): the staffing change does act",
                        extra={"people": [len(a), len(b)], "returns": back,
                               "events": [len(first.log), len(other.log)]})]


# ------------------------------------------------------------------------------------------ running
def run_checks(quick: bool = False, seed: int = 20261122, only: Sequence[str] = (),
               fault: str | None = None, scenario_path: str | Path | None = None,
               on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run the checks (all, or those named in ``only``) and return their rows.

    ``fault="mmc-places"`` simulates every M/M/c provider with one place fewer than the theory
    assumes: the check must then fail (used by the tests to show the check can fail).
    """
    settings = QUICK if quick else FULL
    wanted = [c for c in CHECKS if not only or c in only]
    rows: list[CheckResult] = []

    def add(new: list[CheckResult]) -> None:
        rows.extend(new)
        for r in new:
            if on_result is not None:
                on_result(r)

    for name in wanted:
        if name == "mmc":
            for i, (c, rho) in enumerate(MMC_LOADS):
                places = c - 1 if fault == "mmc-places" else c
                add(check_mmc(c, rho, settings, seed, places=places, index=i) if rho * c < places
                    else [_unstable_row(c, rho, places)])
        elif name == "little":
            add(check_little(settings, seed, scenario_path))
        elif name == "conservation":
            kept: dict[str, Any] = {}
            add(check_conservation(settings, seed, scenario_path, keep=kept))
            if "crn" in wanted:
                add(check_crn(settings, seed, scenario_path, first=kept.get("sim")))
        elif name == "crn" and "conservation" not in wanted:
            add(check_crn(settings, seed, scenario_path))
    return rows


def _unstable_row(c: int, rho: float, places: int) -> CheckResult:
    """A fault that leaves fewer places than the load needs: the queue grows without bound."""
    mu = 1.0 / MMC_MEAN_SERVICE_DAYS
    return CheckResult("mmc", f"M/M/c mean wait (days), c={c}, rho={rho:g} (simulated with {places} places)",
                       mmc_wq(rho * c * mu, mu, c), math.inf, MMC_TOLERANCE,
                       detail=f"load {rho * c:g} >= {places} places: the simulated queue is unstable")


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.6g}" if abs(x) < 1e5 else f"{x:,.0f}"


def render(rows: Sequence[CheckResult]) -> Any:
    """A rich table of the rows."""
    from rich.table import Table

    table = Table(title="casesim check: simulation against theory")
    for col, just in (("Check", "left"), ("Theory", "right"), ("Simulated", "right"), ("95% interval", "right"),
                      ("Difference", "right"), ("Tolerance", "right"), ("Result", "center")):
        table.add_column(col, justify=just, min_width=40 if col == "Check" else None)  # type: ignore[arg-type]
    for r in rows:
        ci = f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)}" if r.ci_low is not None else ""
        diff = f"{r.difference:+.2%}" if r.relative and math.isfinite(r.difference) else _fmt(r.difference)
        tol = f"{r.tolerance:.0%}" if r.relative and r.tolerance >= 0.01 else f"{r.tolerance:g}"
        table.add_row(r.name, _fmt(r.theory), _fmt(r.simulated), ci, diff, tol,
                      "[green]PASS[/green]" if r.passed else "[bold red]FAIL[/bold red]")
    return table


def write_json(path: str | Path, rows: Sequence[CheckResult], meta: dict[str, Any]) -> None:
    """Write the results atomically (temporary file renamed into place)."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    doc = {**meta, "passed": all(r.passed for r in rows), "checks": [r.as_dict() for r in rows]}
    try:
        tmp.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def add_parser(sub: Any) -> None:
    """Add ``casesim check`` to the CLI's subparsers."""
    p = sub.add_parser("check", help="validate the engine against queueing theory, Little's law, conservation "
                       "and common random numbers (exit 1 if a check fails)")
    p.add_argument("--quick", action="store_true", help="fewer replications and shorter runs (about a minute)")
    p.add_argument("--seed", type=int, default=20261122, help="master seed (default 20261122)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--only", action="append", choices=CHECKS, default=[], metavar="CHECK",
                   help=f"run only this check (repeatable): {', '.join(CHECKS)}")
    p.add_argument("--scenario", metavar="FILE", help="scenario scaled to a third for the Little, conservation "
                   "and CRN checks (default scenarios/baseline.yaml)")
    p.add_argument("--fault", choices=["mmc-places"], help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """Run the checks, print the table, write JSON; exit 0 if all pass, 1 if any fails, 2 on bad input."""
    from rich.console import Console

    if args.seed < 0:
        print(f"--seed: must be a non-negative integer (got {args.seed})", file=sys.stderr)
        return 2
    if args.json:
        target = Path(args.json)
        if target.is_dir() or not target.parent.is_dir():
            why = "is a directory" if target.is_dir() else f"folder '{target.parent}' does not exist"
            print(f"{args.json}: --json: {why}", file=sys.stderr)
            return 2
    if args.scenario is not None and not Path(args.scenario).is_file():
        print(f"{args.scenario}: --scenario: no such file", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    with console.status("running checks") as status:
        rows = run_checks(quick=args.quick, seed=args.seed, only=args.only, fault=args.fault,
                          scenario_path=args.scenario,
                          on_result=lambda r: status.update(f"done: {r.name}"))
    Console(width=None if sys.stdout.isatty() else 200).print(render(rows))
    failed = [r for r in rows if not r.passed]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed" + (f"; FAILED: {len(failed)}" if failed else ""))
    if args.json:
        try:
            write_json(args.json, rows, {"seed": args.seed, "quick": bool(args.quick), "only": list(args.only),
                                         "fault": args.fault})
        except OSError as exc:
            print(f"{args.json}: --json: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 1 if failed else 0
