"""Engine benchmark for casesim: how fast the simulation runs, what it costs in memory, and how
much slower it is than bare SimPy doing a comparable amount of event scheduling.

Run from the repository root (no install needed; the script puts the checkout on ``sys.path``)::

    python benchmarks/bench_engine.py --preset all --repeat 3 --json bench.json

A preset is a scenario file in ``benchmarks/presets/`` (``baseline.yaml``, ``large.yaml``, ...).
Each run of a preset is made in a fresh child process (so that its peak memory is its own);
with ``--repeat N`` a preset is run N times and every figure printed is the median over the N
runs (ratios too: the median of the per-run ratios).

What the figures mean (per preset):

``simulation wall``
    Seconds to build the ``Simulation`` from an already-validated scenario and step it to the
    horizon with ``step()`` (as ``casesim.outputs.results.run`` does, DataCollector included). Reading
    and validating the YAML and deriving metrics are not in it. ``build`` is the part spent in
    the constructor (creating the initial population).
``events logged``, ``events/s``
    Rows appended to the event log over the run, and that count over the simulation wall time.
    This is the engine's throughput in the unit the rest of casesim works in.
``case-years``, ``case-years/s``
    Cases active integrated over the whole run ``[0, horizon)`` (not just the measured window),
    divided by 365.25: how much simulated supervision one second of wall time buys. This is the
    figure to compare across scenarios whose event density differs.
``SimPy events``
    Events the SimPy environment processed for casesim (timeouts that wake case processes,
    provider timers, process starts and ends, one ``until`` event per tick), counted from the
    environment's event-id counter at no cost during the run.
``metrics``
    Seconds to derive the outputs from the log, as ``run()`` does: ``EventLog.to_frame()`` and the
    register frame, then ``summarize``, ``timeseries`` and ``case_table``, each timed on its own.
``peak RSS``
    Maximum resident set size of the child process (``getrusage``) after the simulation, and
    after the metrics too (the larger of the two is the process's peak). It includes the Python
    interpreter and the imported libraries (about 150 MiB).
``event log``, ``bytes/event``
    Bytes of the log's rows (``EventLog.nbytes()`` in memory plus ``EventLog.disk_bytes()`` set aside
    in its temporary file) and that per logged event.
``bare SimPy``
    In the same process, right after the casesim run: N SimPy processes (N = cases active at the
    end of the casesim run), each looping ``yield env.timeout(gap)`` with exponential gaps whose
    mean is chosen so that the expected number of timeouts over the same horizon equals the
    number of events casesim logged. ``timeouts/s`` is the rate SimPy itself manages on that
    workload: a ceiling for any engine built on one SimPy process per case. It runs under the
    garbage-collector policy of casesim's own processes (``casesim.outputs.collector.collector_off``), so that the
    factor compares the work per event and not the collectors (Python's default collector would
    slow the bare run down, more as the population grows).
``overhead (per logged event)``
    bare SimPy timeouts/s divided by casesim events/s: how many times more wall time casesim
    spends per logged event than bare SimPy spends per timeout. Everything casesim does besides
    scheduling (policies, random numbers, logging, Mesa bookkeeping) is in this factor.
``overhead (per SimPy event)``
    The same, against casesim's SimPy events/s: the cost of one wake-up of a casesim process
    relative to one bare timeout.
``overhead (per logged event, CPU)``
    The first factor computed from CPU time (``time.process_time``) instead of wall time. It is
    not inflated when another process takes the core during one of the two runs, so it is the
    steadier figure on a shared machine.
``machine load average``
    The one-minute load average around the run; above the number of cores, the figures were
    measured on a busy machine.

Wall times use ``time.perf_counter``; nothing is asserted about them. On a shared machine single
runs vary by tens of per cent; use ``--repeat`` for figures to quote.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
PRESET_DIR = HERE / "presets"
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import simpy

    from casesim.scenario.schema import Scenario

MIB = 1024 * 1024

# (key, label, format) of the rows of the printed table, in order; None starts a new section.
ROWS: list[tuple[str, str, str] | None] = [
    ("horizon_days", "simulated days", "{:,.0f}"),
    ("cases_created", "cases created", "{:,.0f}"),
    ("cases_active_end", "cases active at end", "{:,.0f}"),
    None,
    ("build_s", "build (s)", "{:.2f}"),
    ("sim_s", "simulation wall (s)", "{:.2f}"),
    ("sim_cpu_s", "simulation CPU (s)", "{:.2f}"),
    ("events", "events logged", "{:,.0f}"),
    ("events_per_s", "events/s", "{:,.0f}"),
    ("case_years", "case-years", "{:,.0f}"),
    ("case_years_per_s", "case-years/s", "{:,.1f}"),
    ("simpy_events", "SimPy events", "{:,.0f}"),
    ("simpy_events_per_s", "SimPy events/s", "{:,.0f}"),
    None,
    ("to_frame_s", "metrics: to_frame (s)", "{:.2f}"),
    ("summarize_s", "metrics: summarize (s)", "{:.2f}"),
    ("timeseries_s", "metrics: timeseries (s)", "{:.2f}"),
    ("case_table_s", "metrics: case_table (s)", "{:.2f}"),
    ("metrics_s", "metrics: total (s)", "{:.2f}"),
    None,
    ("rss_sim_mib", "peak RSS after sim (MiB)", "{:,.0f}"),
    ("rss_peak_mib", "peak RSS overall (MiB)", "{:,.0f}"),
    ("log_mib", "event log (MiB)", "{:,.1f}"),
    ("bytes_per_event", "bytes/event", "{:.1f}"),
    None,
    ("bare_processes", "bare SimPy: processes", "{:,.0f}"),
    ("bare_mean_gap_days", "bare SimPy: mean gap (days)", "{:.2f}"),
    ("bare_timeouts", "bare SimPy: timeouts", "{:,.0f}"),
    ("bare_s", "bare SimPy: wall (s)", "{:.2f}"),
    ("bare_cpu_s", "bare SimPy: CPU (s)", "{:.2f}"),
    ("bare_timeouts_per_s", "bare SimPy: timeouts/s", "{:,.0f}"),
    ("overhead_per_event", "overhead (per logged event)", "{:.1f}x"),
    ("overhead_per_simpy_event", "overhead (per SimPy event)", "{:.1f}x"),
    ("overhead_per_event_cpu", "overhead (per logged event, CPU)", "{:.1f}x"),
    None,
    ("load_average", "machine load average", "{:.1f}"),
]


# --------------------------------------------------------------------------- measuring


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


class StepCounter:
    """Counts the events an environment processes, by wrapping that one environment's public ``step``
    (``run`` calls ``self.step()``, so an attribute of the instance is what it calls). Nothing of SimPy's
    own is read, so the figure does not depend on its private counters."""

    def __init__(self, env: simpy.Environment) -> None:
        self.count = 0
        step = env.step

        def counted() -> None:
            step()
            self.count += 1

        env.step = counted


def engine_digest() -> str:
    """A short SHA-256 of the casesim package's Python sources, to tell engine versions apart.

    The engine is edited while benchmarks run; runs whose digests differ measured different code.
    """
    import casesim

    root = Path(casesim.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load_average() -> float:
    """The machine's one-minute load average (NaN where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the wall seconds it took."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def case_years_whole_run(times: Any, kinds: Any, horizon: float) -> float:
    """Cases active integrated over ``[0, horizon)``, in years, from the log's arrivals and exits."""
    import numpy as np

    arrive = times[np.asarray(kinds == "arrival")]
    leave = times[np.asarray(kinds == "exit")]
    days = np.clip(horizon - arrive, 0, None).sum() - np.clip(horizon - leave, 0, None).sum()
    return float(days) / 365.25


def measure_casesim(scenario: Scenario, seed: int | None, sim_only: bool) -> dict[str, Any]:
    """Run casesim once; the figures of one run (without the bare SimPy part)."""
    import pandas as pd

    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import case_table, metrics_context, summarize, timeseries

    gc.collect()
    cpu = time.process_time()
    from casesim.outputs.collector import collector_off

    start = time.perf_counter()
    with collector_off():   # as `casesim run` runs it
        sim = Simulation(scenario, seed)
        steps = StepCounter(sim.env)
        built = time.perf_counter()
        while sim.running:
            sim.step()
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    out: dict[str, Any] = {
        "horizon_days": sim.horizon,
        "cases_created": sim.cases_created,
        "cases_active_end": len(sim.cases()),
        "build_s": built - start,
        "sim_s": done - start,
        "sim_cpu_s": cpu,
        "events": len(sim.log),
        "simpy_events": steps.count,
        "log_bytes": sim.log.nbytes() + sim.log.disk_bytes(),
        "rss_sim_mib": peak_rss_mib(),
    }
    out["log_mib"] = out["log_bytes"] / MIB
    out["bytes_per_event"] = out["log_bytes"] / out["events"]
    out["events_per_s"] = out["events"] / out["sim_s"]
    if out["simpy_events"]:
        out["simpy_events_per_s"] = out["simpy_events"] / out["sim_s"]

    events, out["to_frame_s"] = timed(sim.log.to_frame)
    if not sim_only:
        register, register_s = timed(lambda: pd.DataFrame(sim.register))
        out["to_frame_s"] += register_s
        ctx = metrics_context(sim)
        _, out["summarize_s"] = timed(lambda: summarize(events, register, ctx))
        _, out["timeseries_s"] = timed(lambda: timeseries(events, register, ctx))
        _, out["case_table_s"] = timed(lambda: case_table(events, register, ctx))
        out["metrics_s"] = sum(out[k] for k in ("to_frame_s", "summarize_s", "timeseries_s", "case_table_s"))
    out["rss_peak_mib"] = peak_rss_mib()
    out["case_years"] = case_years_whole_run(events["time"].to_numpy(), events["kind"], sim.horizon)
    out["case_years_per_s"] = out["case_years"] / out["sim_s"]
    return out


def _ticker(env: simpy.Environment, rate: float,
            expovariate: Callable[[float], float]) -> Generator[Any, Any, None]:
    """A bare SimPy process: sleep an exponential gap, forever."""
    timeout = env.timeout
    while True:
        yield timeout(expovariate(rate))


def measure_bare_simpy(processes: int, horizon: float, target_events: int, seed: int) -> dict[str, Any]:
    """Bare SimPy on a workload comparable to a casesim run; its figures."""
    import simpy

    processes = max(1, processes)
    mean_gap = processes * horizon / max(1, target_events)
    expovariate = random.Random(seed).expovariate
    rate = 1.0 / mean_gap
    from casesim.outputs.collector import collector_off

    env = simpy.Environment()
    steps = StepCounter(env)
    gc.collect()
    cpu = time.process_time()
    start = time.perf_counter()
    with collector_off():   # the same collector policy as casesim's runs: a like-for-like rate
        for _ in range(processes):
            env.process(_ticker(env, rate, expovariate))
        env.run(until=horizon)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    # processed = one start per process + the timeouts + the run's `until` event
    timeouts = steps.count - processes - 1
    return {"bare_processes": processes, "bare_mean_gap_days": mean_gap, "bare_timeouts": timeouts,
            "bare_s": wall, "bare_cpu_s": cpu, "bare_timeouts_per_s": timeouts / wall}


def measure(scenario: Scenario, seed: int | None, sim_only: bool) -> dict[str, Any]:
    """One complete run of a preset: casesim, then bare SimPy in the same process."""
    digest = engine_digest()
    load_before = load_average()
    out = measure_casesim(scenario, seed, sim_only)
    out["engine"] = digest
    gc.collect()  # the run's garbage must not be collected on the bare run's time
    if not sim_only:
        out.update(measure_bare_simpy(out["cases_active_end"], out["horizon_days"], out["events"],
                                      seed=scenario.seed if seed is None else seed))
        out["overhead_per_event"] = out["bare_timeouts_per_s"] / out["events_per_s"]
        if out["bare_cpu_s"] > 0 and out["sim_cpu_s"] > 0:
            out["overhead_per_event_cpu"] = ((out["bare_timeouts"] / out["bare_cpu_s"])
                                             / (out["events"] / out["sim_cpu_s"]))
        if out.get("simpy_events_per_s"):
            out["overhead_per_simpy_event"] = out["bare_timeouts_per_s"] / out["simpy_events_per_s"]
    out["load_average"] = max(load_before, load_average())
    return out


def median_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric figure over ``runs`` (figures missing from a run are skipped)."""
    keys = [k for k in runs[0] if all(isinstance(r.get(k), (int, float)) for r in runs)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def load_preset(name: str, horizon: float | None) -> Scenario:
    """The validated scenario of preset ``name``, with the horizon shortened if asked."""
    from casesim.scenario.schema import load_scenario

    path = preset_path(name)
    if horizon is None:
        return load_scenario(path)[0]
    full, _ = load_scenario(path)
    overrides = [f"time.horizon_days={horizon}"]
    if full.time.warmup_days >= horizon:  # metrics need warmup < horizon
        overrides.append(f"time.warmup_days={horizon / 4}")
    return load_scenario(path, overrides)[0]


def run_once_in_child(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run of one preset in a fresh Python process, so that its peak RSS is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--preset", name, "--child"]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    if args.horizon is not None:
        cmd += ["--horizon", str(args.horizon)]
    if args.sim_only:
        cmd.append("--sim-only")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_preset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every run of one preset (each in a child process unless ``--in-process``) and their medians."""
    scenario = load_preset(name, args.horizon)
    runs = []
    for i in range(args.repeat):
        print(f"[{name}] run {i + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
        if args.in_process:
            runs.append(measure(scenario, args.seed, args.sim_only))
        else:
            runs.append(run_once_in_child(name, args))
        print(f"[{name}] run {i + 1}/{args.repeat}: simulation {runs[-1]['sim_s']:.1f} s, "
              f"{runs[-1]['events']:,} events", file=sys.stderr, flush=True)
    engines = sorted({r["engine"] for r in runs})
    return {"preset": name, "scenario": scenario.name,
            "seed": scenario.seed if args.seed is None else args.seed, "repeat": args.repeat,
            "engine": engines[0] if len(engines) == 1 else "mixed", "median": median_of(runs), "runs": runs}


def warnings_for(results: Sequence[dict[str, Any]]) -> list[str]:
    """Signs that the runs of a preset did not measure the same thing."""
    out = []
    for r in results:
        engines = sorted({run["engine"] for run in r["runs"]})
        if len(engines) > 1:
            out.append(f"warning: {r['preset']}: the casesim sources changed between runs "
                       f"({', '.join(engines)}); the medians mix engine versions")
        events = sorted({run["events"] for run in r["runs"]})
        if len(events) > 1:
            out.append(f"warning: {r['preset']}: runs logged different numbers of events ({events}); "
                       "a run is deterministic for a seed, so the code changed or something is not seeded")
    return out


# --------------------------------------------------------------------------- reporting


def environment_info() -> dict[str, Any]:
    """Versions and machine facts to keep next to the figures."""
    import mesa
    import numpy as np
    import simpy

    try:
        git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"python": platform.python_version(), "simpy": simpy.__version__, "mesa": mesa.__version__,
            "numpy": np.__version__, "platform": platform.platform(), "cpus": os.cpu_count(), "git": git,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """The medians of every preset side by side, one figure per line."""
    names = [f"{r['preset']} (x{r['repeat']})" if r["repeat"] > 1 else r["preset"] for r in results]
    label_w = max(len(row[1]) for row in ROWS if row is not None)
    cells: list[list[str]] = []
    for row in ROWS:
        if row is None:
            cells.append([])
            continue
        key, label, fmt = row
        values = [r["median"].get(key) for r in results]
        if all(v is None for v in values):
            continue
        cells.append([label, *("-" if v is None else fmt.format(v) for v in values)])
    widths = [max([len(n) for n in names[i:i + 1]] + [len(c[i + 1]) for c in cells if c])
              for i in range(len(results))]
    rule = "-" * (label_w + sum(w + 2 for w in widths))
    lines = ["".ljust(label_w) + "".join(n.rjust(w + 2) for n, w in zip(names, widths, strict=True)), rule]
    for c in cells:
        if not c:
            if lines[-1] != rule:  # no empty sections
                lines.append(rule)
            continue
        row = "".join(v.rjust(w + 2) for v, w in zip(c[1:], widths, strict=True))
        lines.append(c[0].ljust(label_w) + row)
    while lines[-1] == rule:
        lines.pop()
    return "\n".join(lines)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    return PRESET_DIR / f"{name}.yaml"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = preset_names()
    parser = argparse.ArgumentParser(
        description="Benchmark the casesim engine on presets in benchmarks/presets/ (see the docstring).")
    parser.add_argument("--preset", default="baseline", choices=[*names, "all"],
                        help="preset to run, or 'all' (default: baseline)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per preset; medians are reported")
    parser.add_argument("--json", metavar="FILE", help="also write every run and the medians as JSON")
    parser.add_argument("--seed", type=int, help="seed instead of the preset's")
    parser.add_argument("--horizon", type=float, metavar="DAYS",
                        help="shorter horizon (e.g. for profiling); warm-up is cut if needed")
    parser.add_argument("--sim-only", action="store_true",
                        help="skip metrics and bare SimPy (e.g. under a profiler)")
    parser.add_argument("--in-process", action="store_true",
                        help="run everything in this process (needed under cProfile; peak RSS is "
                             "then the peak so far, over every earlier run too)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = preset_names() if args.preset == "all" else [args.preset]
    if args.child:  # one run, its figures as one JSON line on stdout
        scenario = load_preset(args.preset, args.horizon)
        print(json.dumps(measure(scenario, args.seed, args.sim_only)))
        return 0
    results = [run_preset(name, args) for name in names]
    info = environment_info()
    print(f"casesim engine benchmark: python {info['python']}, simpy {info['simpy']}, mesa {info['mesa']}, "
          f"{info['cpus']} CPUs; medians of --repeat {args.repeat}")
    print(format_table(results))
    engines = sorted({r["engine"] for r in results})
    print(f"engine sources: {', '.join(engines)}" + (f" (git {info['git']})" if info.get("git") else ""))
    for line in warnings_for(results):
        print(line)
    if args.json:
        document = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "environment": info,
                    "presets": {r["preset"]: r for r in results}}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
