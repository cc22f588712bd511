"""Analytic validation: ``casesim check`` compares the engine with results known in closed form.

Checks (each gives one or more rows: theory, simulated value, interval, tolerance, PASS/FAIL). The rows
that compare with a value known in closed form are ``mmc`` and ``mginf``; ``conservation`` and ``crn``
compare independent records of one run (or two runs) and must agree exactly; ``little`` rows are
consistency rows. Every check has a fault (``run_checks(fault=...)``, hidden ``--fault`` option) that
makes it fail, and a test that shows it does.

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
2. **M/G/inf** (``mginf``): a journey of two stages built here (:func:`mginf_scenario`) in which nothing
   ends a stay early and nobody comes back: Poisson arrivals (the engine's own arrival process) at
   lambda = 10 a day enter SHORT (exponential stays, mean 1 day); a share 0.75 goes on to LONG (lognormal
   stays, mean 60 days, cv 0.5, drawn by the engine's sampler), the rest leave. Both are infinite-server
   queues, so in the steady state each population is Poisson with mean lambda_stage x E[S]: 10 in SHORT,
   450 in LONG. Replications start empty and are measured after an 8 x 60-day warm-up (start-up shortfall
   under 5e-4, bounded in closed form by :func:`mginf_warmup_bias`); rows: each stage's time-average
   population against lambda E[S] (tolerance 2%, 95% t interval over replications) and SHORT's dispersion
   index (time-average variance / mean) against its exact expectation, 1 less the window-mean term
   (tolerance 10%). These rows can fail: ``fault="stay-scale"`` (stays 10% longer than the theory says)
   fails the means, ``fault="arrival-bursts"`` (the same mean rate in on/off bursts) the dispersion.
3. **Little's law consistency** (``little``) per journey stage and for caseloads per staff group, on the
   baseline scenario scaled to a third. Two views of one event log, with no closed-form value: an
   accounting identity (time inside the window; it fails only if the occupancy metrics and the stays
   paired from events disagree) and the standard estimator (complete stays that start in the window,
   followed past its end), within its edge noise. They are labelled consistency rows.
4. **Conservation** (``conservation``): the scaled baseline is stepped tick by tick and its live state is
   recorded (the cases in Mesa's AgentSet by their current stage, the model's counter of cases created,
   each staff member's caseload count and hours). Afterwards the state is rebuilt from the event log
   alone (:func:`replay_log`: a row-by-row state machine over ``arrival``, ``stage_enter``,
   ``stage_exit``, ``exit`` and ``load`` rows, independent of the metrics module) and compared at every
   tick with (a) the live agents, (b) the model's time series (the per-tick ``stage:*``, ``active`` and
   ``entered_total`` of :func:`casesim.metrics.summary.timeseries`, and the DataCollector's
   ``active_cases``) and, for caseloads, (c) every staff member's live count and hours. Any difference at
   any tick fails, and so does any row that breaks the event contract (entering a stage while in one,
   leaving a stage one is not in, a case carried by two staff). A last consistency row compares two
   live views (providers' places and waiting lists vs open tickets; caseload counters vs cases carried).
   ``fault="drop-exit"`` / ``"drop-unassign"`` make the run's log lose rows, and the check fails.
5. **Common random numbers** (``crn``): two scenarios that differ only in staffing see the
   same people arriving at the same times with the same attributes.
6. **Stylised facts** (``facts``, run only when asked: ``--only facts``): directional findings of the
   literature and the domain, each a paired comparison of two scenarios over replications with common random
   numbers, PASS when the 95% interval of the paired difference lies on the expected side
   (:mod:`casesim.studies.facts`). A failing fact is a finding about the model, not an engine fault.

The method and the tolerances are in docs/checks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casesim.studies.checkrow import CheckResult
from casesim.studies.sweep import mean_ci, t_quantile

#: Names of the checks, in the order they run.
CHECKS = ("mmc", "mginf", "little", "conservation", "crn", "facts")
#: The checks ``casesim check`` runs without ``--only``: all but the stylised facts, which are findings about
#: the model's behaviour rather than validation of the engine (``--only facts`` runs them).
DEFAULT_CHECKS = tuple(c for c in CHECKS if c != "facts")

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
    mginf_replications: int          # independent runs of the M/G/inf journey
    mginf_window_days: float         # measured window of each, after MGINF_WARMUP_DAYS


FULL = Settings(mmc_replications=20, mmc_half_width=0.03, little_window_days=1461.0,
                little_overrun_days=1095.0, conservation_days=365.0,
                mginf_replications=20, mginf_window_days=2000.0)
QUICK = Settings(mmc_replications=10, mmc_half_width=0.045, little_window_days=730.0,
                 little_overrun_days=730.0, conservation_days=182.0,
                 mginf_replications=8, mginf_window_days=1000.0)

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
                       "acceptance_delay_days": 0.0, "waiting_loss_per_month": 0.0,   # (nobody leaves the queue)
                       "relationship": "protocol"}],
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


# ---------------------------------------------------------------------------------------- M/G/inf check
#: The M/G/inf journey: Poisson arrivals at MGINF_RATE a day enter SHORT (exponential stays, mean
#: MGINF_SHORT_DAYS), go on to LONG with probability MGINF_ROUTE_SHARE (else leave), and LONG's stays are
#: lognormal (mean MGINF_LONG_DAYS, cv MGINF_LONG_CV), drawn by the engine's own sampler. Nothing ends a stay
#: early (no activities, no breach route, no further offences) and nobody comes back after leaving, so both
#: stages are infinite-server queues: SHORT is M/M/inf with lambda, LONG is M/G/inf with the Poisson stream of
#: SHORT's departures thinned by the routing share (a Poisson process, rate p lambda, in the steady state).
MGINF_RATE = 10.0
MGINF_SHORT_DAYS = 1.0
MGINF_ROUTE_SHARE = 0.75
MGINF_LONG_DAYS = 60.0
MGINF_LONG_CV = 0.5
#: Warm-up (days): the run starts empty. A stage's mean population at t falls short of its steady state by
#: lambda E[(S_total - t)^+] at most, S_total the time from arrival to leaving it; for LONG, with
#: (a + b - t)^+ <= (a - t/2)^+ + (b - t/2)^+, that is under 5e-4 of its mean after 8 mean LONG stays.
MGINF_WARMUP_DAYS = 8 * MGINF_LONG_DAYS
#: Tolerance of the mean populations (relative): 2%; see docs/checks.md.
MGINF_TOLERANCE = 0.02
#: Tolerance of SHORT's dispersion index (relative, against its exact expectation over the window): 10%.
MGINF_DISPERSION_TOLERANCE = 0.10
#: Faults of the M/G/inf check, injected into the check's scenario (the theory is not told):
#: ``stay-scale`` makes every stay 10% longer; ``arrival-bursts`` keeps the mean arrival rate but lets people
#: arrive at twice the rate in alternate MGINF_BURST_DAYS-day periods and not at all in between.
MGINF_FAULTS = ("stay-scale", "arrival-bursts")
MGINF_STAY_SCALE = 1.10
MGINF_BURST_DAYS = 30.0


def lognormal_excess(mean: float, cv: float, t: float) -> float:
    """E[(S - t)^+] for a lognormal S of mean ``mean`` and coefficient of variation ``cv`` (closed form)."""
    from statistics import NormalDist

    if t <= 0:
        return mean - t
    s = math.sqrt(math.log1p(cv * cv))
    d1 = (math.log(mean / t) + 0.5 * s * s) / s
    phi = NormalDist().cdf
    return mean * phi(d1) - t * phi(d1 - s)


def exponential_excess(mean: float, t: float) -> float:
    """E[(S - t)^+] for an exponential S of mean ``mean``."""
    return mean * math.exp(-max(t, 0.0) / mean) + max(-t, 0.0)


def mginf_warmup_bias() -> dict[str, float]:
    """Upper bounds on the relative shortfall of each stage's mean population at the end of the warm-up
    (the run starts empty): lambda E[(S - w)^+] / (lambda E[S]) for SHORT; for LONG, whose cases spent
    S_short + S_long from arrival, E[(S_short - w/2)^+] + E[(S_long - w/2)^+] over E[S_long]."""
    w = MGINF_WARMUP_DAYS
    return {"SHORT": exponential_excess(MGINF_SHORT_DAYS, w) / MGINF_SHORT_DAYS,
            "LONG": (exponential_excess(MGINF_SHORT_DAYS, w / 2)
                     + lognormal_excess(MGINF_LONG_DAYS, MGINF_LONG_CV, w / 2)) / MGINF_LONG_DAYS}


def mm_inf_dispersion_expectation(mean_stay: float, window: float) -> float:
    """Expected time-average variance over mean of an M/M/inf population in the steady state, measured over a
    window of ``window`` days around the window's own mean: 1 - Var(window mean) / L, with
    Var(window mean) = (2 / T) int_0^T (1 - u/T) C(u) du and C(u) = L exp(-u/m), so
    1 - (2/T) (m - m^2/T (1 - exp(-T/m)))."""
    m, t = mean_stay, window
    return 1.0 - 2.0 / t * (m - m * m / t * (1.0 - math.exp(-t / m)))


def mginf_scenario(horizon: float, fault: str | None = None) -> Any:
    """The M/G/inf journey (see :data:`MGINF_RATE`), with ``fault`` (see :data:`MGINF_FAULTS`) if given."""
    from casesim.scenario.schema import Scenario

    scale = MGINF_STAY_SCALE if fault == "stay-scale" else 1.0
    arrivals: dict[str, Any] = {"rate_per_day": MGINF_RATE}
    if fault == "arrival-bursts":
        starts = [k * MGINF_BURST_DAYS for k in range(1, math.ceil(horizon / MGINF_BURST_DAYS))]
        arrivals = {"rate_per_day": 2 * MGINF_RATE,
                    "periods": [{"start_day": s, "rate_per_day": 0.0 if k % 2 == 0 else 2 * MGINF_RATE}
                                for k, s in enumerate(starts)]}
    elif fault not in (None, "stay-scale"):
        raise ValueError(f"unknown M/G/inf fault {fault!r}; known: {', '.join(MGINF_FAULTS)}")
    return Scenario.model_validate({
        "name": "mginf_check", "time": {"horizon_days": horizon, "warmup_days": 0, "tick_days": horizon},
        "arrivals": arrivals, "staff": [],
        "staffing": {"annual_leave_days": 0, "sickness_days_per_year": 0, "turnover_per_year": 0},
        "reoffending": {"after_exit_rate_per_year": 0.0, "return_share": 0.0},
        "journey": {"entry": "SHORT", "stages": {
            "SHORT": {"setting": "community", "activities": [],
                      "duration": {"dist": "exponential", "mean_days": MGINF_SHORT_DAYS * scale},
                      "next": {"LONG": MGINF_ROUTE_SHARE, "EXIT": 1.0 - MGINF_ROUTE_SHARE}},
            "LONG": {"setting": "community", "activities": [],
                     "duration": {"dist": "lognormal", "mean_days": MGINF_LONG_DAYS * scale, "cv": MGINF_LONG_CV},
                     "next": {"EXIT": 1.0}}}},
    })


def population_moments(log: Any, stage: str, start: float, end: float) -> tuple[float, float]:
    """Time-average population of ``stage`` over [start, end) and its time-average variance, integrated
    exactly from the log's ``stage_enter`` / ``stage_exit`` rows (the population is a step function)."""
    import numpy as np

    from casesim.log.events import KIND_CODES

    c = log.columns(names=("time", "kind", "stage"))
    code = log.strings.index(stage)
    enter = (c["kind"] == KIND_CODES["stage_enter"]) & (c["stage"] == code)
    leave = (c["kind"] == KIND_CODES["stage_exit"]) & (c["stage"] == code)
    t = np.r_[c["time"][enter], c["time"][leave]]
    d = np.r_[np.ones(int(enter.sum())), -np.ones(int(leave.sum()))]
    order = np.argsort(t, kind="stable")
    t, d = t[order], d[order]
    n0 = float(d[t < start].sum())
    inside = (t >= start) & (t < end)
    tt, level = t[inside], n0 + np.cumsum(d[inside])
    edges = np.r_[start, tt, end]
    values = np.r_[n0, level]
    dt = np.diff(edges)
    span = end - start
    mean = float((values * dt).sum()) / span
    var = float(((values - mean) ** 2 * dt).sum()) / span
    return mean, var


def mginf_replication(window: float, seed: int, fault: str | None = None) -> dict[str, float]:
    """One run of the M/G/inf journey from empty: time averages over [warm-up, warm-up + window)."""
    from casesim.engine.simulation import Simulation

    a = MGINF_WARMUP_DAYS
    sim = Simulation(mginf_scenario(a + window, fault), seed=seed)
    sim.run_to_end()
    out: dict[str, float] = {"cases": float(sim.cases_created)}
    for stage in ("SHORT", "LONG"):
        mean, var = population_moments(sim.log, stage, a, a + window)
        out[f"{stage}_mean"], out[f"{stage}_var"] = mean, var
    return out


def check_mginf(settings: Settings, seed: int, fault: str | None = None) -> list[CheckResult]:
    """Mean populations of SHORT (M/M/inf) and LONG (M/G/inf) against lambda E[S], and SHORT's dispersion
    index against its exact expectation, over replications (see the module docstring)."""
    import numpy as np

    reps, window = settings.mginf_replications, settings.mginf_window_days
    seeds = np.random.SeedSequence(seed, spawn_key=(0x61F,)).spawn(reps)
    runs = [mginf_replication(window, int(ss.generate_state(1)[0]), fault) for ss in seeds]
    bias = mginf_warmup_bias()
    label = f" ({fault})" if fault else ""
    theory = {"SHORT": MGINF_RATE * MGINF_SHORT_DAYS,
              "LONG": MGINF_RATE * MGINF_ROUTE_SHARE * MGINF_LONG_DAYS}
    what = {"SHORT": f"M/M/inf: exponential stays, mean {MGINF_SHORT_DAYS:g} day",
            "LONG": f"M/G/inf: lognormal stays, mean {MGINF_LONG_DAYS:g} days, cv {MGINF_LONG_CV:g}, "
                    f"entered by a share {MGINF_ROUTE_SHARE:g} of SHORT's leavers"}
    cases = sum(r["cases"] for r in runs)
    common = {"replications": reps, "window_days": window, "warmup_days": MGINF_WARMUP_DAYS,
              "rate_per_day": MGINF_RATE, "cases": cases, "fault": fault}
    rows = []
    for stage in ("SHORT", "LONG"):
        values = [r[f"{stage}_mean"] for r in runs]
        est, half = t_interval(values)
        rows.append(CheckResult(
            "mginf", f"M/G/inf mean population of {stage} = lambda E[S]{label}", theory[stage], est,
            MGINF_TOLERANCE, ci_low=est - half, ci_high=est + half,
            detail=f"{what[stage]}; {reps} replications x {window:g} days after a {MGINF_WARMUP_DAYS:g}-day "
            f"warm-up from empty (start-up shortfall < {bias[stage]:.1e}); 95% t interval",
            extra={**common, "replication_means": values, "warmup_bias_bound": bias[stage]}))
    index = [r["SHORT_var"] / r["SHORT_mean"] if r["SHORT_mean"] > 0 else math.inf for r in runs]
    est, half = t_interval(index)
    expect = mm_inf_dispersion_expectation(MGINF_SHORT_DAYS, window)
    rows.append(CheckResult(
        "mginf", f"M/G/inf dispersion index (variance / mean) of SHORT = 1{label}", expect, est,
        MGINF_DISPERSION_TOLERANCE, ci_low=est - half, ci_high=est + half,
        detail=f"the population is Poisson: index 1, or {expect:.4f} measured about each window's own mean "
        f"({window:g} days); 95% t interval over {reps} replications",
        extra={**common, "replication_values": index}))
    return rows


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
        CheckResult("little", f"Little consistency (time in window, identity) {label}: mean {unit}", occupancy,
                    lam_eff * w_eff, IDENTITY_TOLERANCE, detail=f"{int(overlap.sum()):,} spells overlap the window; "
                    f"L = {lam_eff:.4g}/day x {w_eff:.4g} days"),
        CheckResult("little", f"Little consistency (entries in window) {label}: mean {unit}", occupancy, predicted,
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
#: Faults of the conservation check: the engine's event log loses rows as it is written (a log class
#: swapped in by this module for the run, see :func:`_break_log`; nothing in the engine changes). ``drop-exit``
#: loses the ``stage_exit`` rows of every case whose number is ``FAULT_CASE_REMAINDER`` modulo
#: ``FAULT_CASE_MODULUS``; ``drop-unassign`` loses their caseload ``load unassign`` rows.
CONSERVATION_FAULTS = ("drop-exit", "drop-unassign")
FAULT_CASE_MODULUS = 50
FAULT_CASE_REMAINDER = 7
#: Largest difference (hours a week) between a staff member's load rebuilt from the log and the live one:
#: both are sums of the same float weights, added in the same order; 1e-6 leaves room for rounding only.
LOAD_TOLERANCE_HOURS = 1e-6


def _break_log(sim: Any, fault: str) -> None:
    """Make ``sim``'s event log lose rows from now on (a deliberately broken engine for the tests): its class
    becomes a subclass whose ``stage_exit`` (``drop-exit``) or ``load_change`` with ``change="unassign"``
    (``drop-unassign``) writes nothing for the cases picked by :data:`FAULT_CASE_MODULUS`."""
    from casesim.log.events import EventLog

    base = type(sim.log)
    if fault == "drop-exit":
        def stage_exit(self, time, case, **kw):  # noqa: ANN001, ANN202
            if case % FAULT_CASE_MODULUS != FAULT_CASE_REMAINDER:
                base.stage_exit(self, time, case, **kw)
        body: dict[str, Any] = {"stage_exit": stage_exit}
    elif fault == "drop-unassign":
        def load_change(self, time, case, **kw):  # noqa: ANN001, ANN202
            if kw.get("change") != "unassign" or case % FAULT_CASE_MODULUS != FAULT_CASE_REMAINDER:
                base.load_change(self, time, case, **kw)
        body = {"load_change": load_change}
    else:
        raise ValueError(f"unknown conservation fault {fault!r}; known: {', '.join(CONSERVATION_FAULTS)}")
    assert issubclass(base, EventLog)
    sim.log.__class__ = type(f"Lossy{base.__name__}", (base,), {"__slots__": (), **body})


@dataclass
class Replay:
    """The state rebuilt from the event log alone at checkpoints (a row count of the log each): the population
    of every stage, the cases in the system, and each staff member's caseload (count and hours a week)."""

    stages: list[str]
    population: Any                 # array (checkpoints x stages)
    active: Any                     # array (checkpoints)
    arrivals: Any                   # array (checkpoints): cases that arrived so far
    count: list[dict[int, int]]     # staff id -> cases carried, per checkpoint
    load: list[dict[int, float]]    # staff id -> hours a week of cases and seats, per checkpoint
    problems: list[str]             # rows that break the event contract (first few), and how many in all
    n_problems: int


def replay_log(log: Any, checkpoints: Sequence[int], max_problems: int = 5) -> Replay:
    """Rebuild stage populations and caseloads by walking the log row by row, as the event contract
    (:data:`casesim.log.events.EVENTS`) says: ``arrival`` puts a new case in the system in no stage,
    ``stage_enter`` puts a case that is in no stage into a stage, ``stage_exit`` takes it out of the stage it
    is in, ``exit`` takes a case that is in no stage out of the system; ``load assign`` / ``unassign`` add a
    case to / take it from a staff member's caseload (a case is carried by one member at a time) and every
    ``load`` row adds its ``weight`` to the member's hours. Any row that breaks these rules is a problem.

    A plain state machine, written independently of the metrics module's column-wise algebra, so the two
    can disagree. ``checkpoints`` are row counts (ascending): the state after that many rows."""
    import numpy as np

    from casesim.log.events import KIND_CODES

    cols = log.columns(names=("time", "case", "kind", "stage", "manager", "cause", "value"))
    strings = log.strings
    code = {name: KIND_CODES[name] for name in ("arrival", "stage_enter", "stage_exit", "exit", "load")}
    kinds = cols["kind"]
    keep = np.flatnonzero(np.isin(kinds, list(code.values())))
    rows = keep.tolist()
    kind_l = kinds[keep].tolist()
    case_l = cols["case"][keep].tolist()
    stage_l = cols["stage"][keep].tolist()
    mgr_l = cols["manager"][keep].tolist()
    cause_l = [strings[c] for c in cols["cause"][keep].tolist()]
    value_l = cols["value"][keep].tolist()
    stage_names = sorted({strings[c] for c, k in zip(stage_l, kind_l, strict=True)
                          if k in (code["stage_enter"], code["stage_exit"])})
    col_of = {strings.index(n): i for i, n in enumerate(stage_names)}
    ARR, ENT, EXT, OUT, LOAD = (code[k] for k in ("arrival", "stage_enter", "stage_exit", "exit", "load"))
    where: dict[int, int] = {}       # case in the system -> stage column (-1: in no stage)
    gone: set[int] = set()
    carrier: dict[int, int] = {}     # case -> staff member carrying it
    pop = [0] * len(stage_names)
    count: dict[int, int] = {}
    load: dict[int, float] = {}
    arrived = 0
    problems: list[str] = []
    n_problems = 0
    out_pop, out_active, out_arr, out_count, out_load = [], [], [], [], []
    cps = list(checkpoints)
    ci = 0

    def problem(i: int, text: str) -> None:
        nonlocal n_problems
        n_problems += 1
        if len(problems) < max_problems:
            problems.append(f"day {cols['time'][rows[i]]:g}, case {case_l[i]}: {text}")

    def snapshot() -> None:
        out_pop.append(list(pop))
        out_active.append(len(where))
        out_arr.append(arrived)
        out_count.append({m: n for m, n in count.items() if n})
        out_load.append(dict(load))

    for i, k in enumerate(kind_l):
        while ci < len(cps) and rows[i] >= cps[ci]:
            snapshot()
            ci += 1
        c = case_l[i]
        if k == ARR:
            if c in where or c in gone:
                problem(i, "arrives twice")
            where[c] = -1
            arrived += 1
        elif k == ENT:
            s = col_of[stage_l[i]]
            at = where.get(c)
            if at is None:
                problem(i, "enters a stage without being in the system")
            elif at >= 0:
                problem(i, f"enters {stage_names[s]} while still in {stage_names[at]}")   # (not mended)
            where[c] = s
            pop[s] += 1
        elif k == EXT:
            s = col_of[stage_l[i]]
            at = where.get(c)
            if at != s:
                problem(i, f"leaves {stage_names[s]} but is in "
                        f"{'no stage' if at in (None, -1) else stage_names[at]}")
            else:
                pop[s] -= 1
                where[c] = -1
        elif k == OUT:
            at = where.pop(c, None)
            if at is None:
                problem(i, "exits without being in the system")
            elif at >= 0:
                problem(i, f"exits while still in {stage_names[at]}")   # (still counted there)
            gone.add(c)
        else:   # load
            m, change = mgr_l[i], cause_l[i]
            load[m] = load.get(m, 0.0) + value_l[i]
            if change == "assign":
                if c in carrier:
                    problem(i, f"assigned to staff {m} while carried by staff {carrier[c]}")
                carrier[c] = m
                count[m] = count.get(m, 0) + 1
            elif change == "unassign":
                if carrier.get(c) != m:
                    problem(i, f"unassigned from staff {m} but carried by {carrier.get(c, 'nobody')}")
                carrier.pop(c, None)
                count[m] = count.get(m, 0) - 1
    while ci < len(cps):
        snapshot()
        ci += 1
    return Replay(stage_names, np.asarray(out_pop, dtype=np.int64).reshape(len(cps), len(stage_names)),
                  np.asarray(out_active, dtype=np.int64), np.asarray(out_arr, dtype=np.int64), out_count, out_load,
                  problems, n_problems)


def conservation_violations(sim: Any) -> list[str]:
    """Consistency of the live state of ``sim`` right now (empty if none): each provider's busy places and
    waiting list equal the open tickets of the active cases, no more places are busy than exist and nobody
    waits while a place is free; each staff member's caseload count and hours equal the cases whose
    ``load_staff`` it is (and its team seats). Two views of the live state, not the log."""
    from casesim.agents.provider import ACTIVE, QUEUED

    problems: list[str] = []
    cases = list(sim.cases())
    if any(c.stage is None for c in cases):
        problems.append(f"{sum(c.stage is None for c in cases)} active cases are in no stage")
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
        if m.count != n or abs(m.load - w) > LOAD_TOLERANCE_HOURS:
            problems.append(f"staff {m.unique_id}: count/load {m.count}/{m.load:g} != carried {n}/{w:g}")
    return problems


@dataclass
class _Live:
    """What the live model shows after one step."""

    time: float
    rows: int                       # rows in the log so far
    created: int                    # the model's counter of cases created
    by_stage: dict[str, int]        # live cases by their current stage
    active: int                     # live cases (the model's AgentSet of cases)
    staff: dict[int, tuple[int, float]]   # staff id -> (caseload count, hours a week)


def _live(sim: Any) -> _Live:
    by_stage: dict[str, int] = {}
    cases = sim.cases()
    for c in cases:
        by_stage[str(c.stage)] = by_stage.get(str(c.stage), 0) + 1
    return _Live(sim.time, len(sim.log), sim.cases_created, by_stage, len(cases),
                 {m.unique_id: (m.count, m.load) for m in sim.all_staff()})


def check_conservation(settings: Settings, seed: int, scenario_path: str | Path | None = None,
                       keep: dict[str, Any] | None = None, fault: str | None = None) -> list[CheckResult]:
    """Step the model tick by tick, record the live state, then rebuild the state from the event log alone
    and compare them at every tick (see the module docstring). ``fault`` (one of
    :data:`CONSERVATION_FAULTS`) makes the run's log lose rows: the check must then fail."""
    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import metrics_context, timeseries

    sim = Simulation(validation_scenario(scenario_path, horizon=settings.conservation_days), seed)
    if fault is not None:
        _break_log(sim, fault)
    lives: list[_Live] = []
    live_problems = 0
    first_live = ""
    while sim.running:
        sim.step()
        lives.append(_live(sim))
        found = conservation_violations(sim)
        live_problems += len(found)
        if found and not first_live:
            first_live = f"day {sim.time:g}: {found[0]}"
    if keep is not None and fault is None:
        keep["sim"] = sim
    ticks = len(lives)
    rep = replay_log(sim.log, [lv.rows for lv in lives])
    times = sim.log.columns(names=("time",))["time"]
    # every checkpoint is a time boundary of the log: rows before it are earlier than the tick's end, rows
    # after it are not (so the state after those rows is the state "just before t_k" of the time series)
    order_bad = sum(1 for lv in lives if (lv.rows and times[lv.rows - 1] >= lv.time)
                    or (lv.rows < len(times) and times[lv.rows] < lv.time))
    stages = sorted(set(rep.stages) | set(sim.journey.stages) | {s for lv in lives for s in lv.by_stage})
    col = {s: i for i, s in enumerate(rep.stages)}

    def rebuilt(k: int, s: str) -> int:
        return int(rep.population[k, col[s]]) if s in col else 0

    # (b) against the live agents
    diff_live, first_b = 0, ""
    for k, lv in enumerate(lives):
        pairs = [(f"stage {s}", rebuilt(k, s), lv.by_stage.get(s, 0)) for s in stages]
        pairs += [("active cases", int(rep.active[k]), lv.active), ("cases created", int(rep.arrivals[k]), lv.created)]
        for what, a, b in pairs:
            if a != b:
                diff_live += 1
                first_b = first_b or f"day {lv.time:g}: {what}: log {a} vs live {b}"
    # (a) against the model's time series: casesim's per-tick table and Mesa's DataCollector
    register = _register_frame(sim)
    series = timeseries(sim.log.to_frame(), register, metrics_context(sim))
    collected = sim.datacollector.get_model_vars_dataframe()
    diff_series, first_a = 0, ""
    if len(series) != ticks or len(collected) != ticks:
        diff_series += 1
        first_a = f"{ticks} ticks stepped, time series {len(series)} rows, DataCollector {len(collected)} rows"
    for k in range(min(ticks, len(series), len(collected))):
        row = series.iloc[k]
        pairs = [(f"stage {s}", rebuilt(k, s), int(row.get(f"stage:{s}", 0))) for s in stages]
        pairs += [("active (time series)", int(rep.active[k]), int(row["active"])),
                  ("active_cases (DataCollector)", int(rep.active[k]), int(collected["active_cases"].iloc[k])),
                  ("arrivals (time series entered_total)", int(rep.arrivals[k]), int(row["entered_total"]))]
        for what, a, b in pairs:
            if a != b:
                diff_series += 1
                first_a = first_a or f"day {lives[k].time:g}: {what}: log {a} vs series {b}"
    # caseloads: rebuilt from the load rows vs the live counters of every staff member
    diff_staff, first_c, cells = 0, "", 0
    for k, lv in enumerate(lives):
        for m, (n, w) in lv.staff.items():
            cells += 1
            n_log, w_log = rep.count[k].get(m, 0), rep.load[k].get(m, 0.0)
            if n_log != n or abs(w_log - w) > LOAD_TOLERANCE_HOURS:
                diff_staff += 1
                first_c = first_c or (f"day {lv.time:g}: staff {m}: log {n_log} cases / {w_log:g} h vs live "
                                      f"{n} / {w:g} h")
    label = f" ({fault})" if fault else ""
    n_stage_cells = ticks * len(stages)
    extra = {"ticks": ticks, "stages": stages, "events": len(sim.log), "staff_cells": cells,
             "contract_problems": rep.problems, "fault": fault}
    return [
        CheckResult("conservation", f"stage populations rebuilt from the log vs live agents{label}: "
                    f"values that differ ({ticks} ticks)", 0.0, float(diff_live), 0.0, relative=False,
                    detail=first_b or f"{n_stage_cells:,} stage counts, active cases and cases created, every tick",
                    extra=extra),
        CheckResult("conservation", f"stage populations rebuilt from the log vs the model's time series{label}: "
                    "values that differ", 0.0, float(diff_series), 0.0, relative=False,
                    detail=first_a or "casesim's per-tick stage:* / active / entered_total and Mesa's "
                    "DataCollector active_cases"),
        CheckResult("conservation", f"caseloads rebuilt from load events vs live staff{label}: "
                    "members x ticks that differ", 0.0, float(diff_staff), 0.0, relative=False,
                    detail=first_c or f"{cells:,} (member, tick) pairs: cases carried, and hours a week within "
                    f"{LOAD_TOLERANCE_HOURS:g}"),
        CheckResult("conservation", f"event-log contract{label}: rows out of order or impossible", 0.0,
                    float(rep.n_problems + order_bad), 0.0, relative=False,
                    detail=(rep.problems[0] if rep.problems else "") or
                    (f"{order_bad} ticks whose rows are not a time prefix of the log" if order_bad else
                     "no case enters a stage while in one, leaves one it is not in, exits from a stage or twice; "
                     "no case carried by two staff; every tick's rows precede its end")),
        CheckResult("conservation", f"live consistency{label}: providers vs open tickets, caseload counters vs "
                    "cases carried (violations)", 0.0, float(live_problems), 0.0, relative=False,
                    detail=first_live or "two views of the live state at every tick (a consistency row: the log "
                    "is not involved)"),
    ]


def _register_frame(sim: Any) -> Any:
    import pandas as pd

    return pd.DataFrame(sim.register)


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

    ``fault`` breaks one check on purpose (used by the tests to show that the check can fail):
    ``mmc-places`` simulates every M/M/c provider with one place fewer than the theory assumes;
    ``stay-scale`` and ``arrival-bursts`` change the M/G/inf check's scenario behind the theory's back
    (:data:`MGINF_FAULTS`); ``drop-exit`` and ``drop-unassign`` make the conservation run's event log lose
    rows (:data:`CONSERVATION_FAULTS`).
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    settings = QUICK if quick else FULL
    wanted = [c for c in CHECKS if c in only] if only else list(DEFAULT_CHECKS)
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
        elif name == "mginf":
            add(check_mginf(settings, seed, fault=fault if fault in MGINF_FAULTS else None))
        elif name == "little":
            add(check_little(settings, seed, scenario_path))
        elif name == "conservation":
            kept: dict[str, Any] = {}
            add(check_conservation(settings, seed, scenario_path, keep=kept,
                                   fault=fault if fault in CONSERVATION_FAULTS else None))
            if "crn" in wanted:
                add(check_crn(settings, seed, scenario_path, first=kept.get("sim")))
        elif name == "crn" and "conservation" not in wanted:
            add(check_crn(settings, seed, scenario_path))
        elif name == "facts":
            from casesim.studies.facts import run_facts

            add(run_facts(quick=quick, seed=seed))
    return rows


#: Every fault ``run_checks`` can inject, each into one check (see :func:`run_checks`).
FAULTS = ("mmc-places", *MGINF_FAULTS, *CONSERVATION_FAULTS)


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
    facts = any(r.check == "facts" for r in rows)   # a fact's theory is its control arm, simulated its treatment
    for col, just in (("Check", "left"), ("Theory / control" if facts else "Theory", "right"),
                      ("Simulated / treatment" if facts else "Simulated", "right"), ("95% interval", "right"),
                      ("Difference", "right"), ("Tolerance", "right"), ("Result", "center")):
        table.add_column(col, justify=just, min_width=40 if col == "Check" else None)  # type: ignore[arg-type]
    for r in rows:
        ci = f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)}" if r.ci_low is not None else ""
        diff = f"{r.difference:+.2%}" if r.relative and math.isfinite(r.difference) else _fmt(r.difference)
        tol = f"{r.tolerance:.0%}" if r.relative and r.tolerance >= 0.01 else f"{r.tolerance:g}"
        tol = getattr(r, "criterion_short", tol)   # a stylised fact: its criterion on the paired difference
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
    p = sub.add_parser("check", help="validate the engine against queueing theory (M/M/c, M/G/inf), Little's "
                       "law, conservation rebuilt from the event log and common random numbers (exit 1 if a "
                       "check fails)")
    p.add_argument("--quick", action="store_true", help="fewer replications and shorter runs (about 25 s of CPU; "
                   "--only facts: about 85 s)")
    p.add_argument("--seed", type=int, default=20261122, help="master seed (default 20261122)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--only", action="append", choices=CHECKS, default=[], metavar="CHECK",
                   help=f"run only this check (repeatable): {', '.join(CHECKS)}; without it, all but facts")
    p.add_argument("--scenario", metavar="FILE", help="scenario scaled to a third for the Little, conservation "
                   "and CRN checks (default scenarios/baseline.yaml)")
    p.add_argument("--fault", choices=FAULTS, help=argparse.SUPPRESS)
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
