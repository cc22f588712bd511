"""How casesim's cost grows with the population and the horizon, and what a case costs in memory.

Runs one scenario (by default ``scenarios/england_wales.yaml``, the national preset) at several
population scales, or at one scale over several horizons, each run in a fresh child process, and
prints per run: cases, events, simulation wall and CPU time, metrics time, peak memory and memory per
active case; then the least-squares line of CPU seconds against simulated case-years, its R², and each
run's distance from the line. Nothing is asserted: it is a measuring script.

    python benchmarks/bench_scaling.py                                  # scales 0.005 0.01 0.02 0.05
    python benchmarks/bench_scaling.py --scales 0.01 0.02 0.05 0.1 --json scaling.json
    python benchmarks/bench_scaling.py --scales 0.02 --horizons 365 730 1095 1461 1826
    python benchmarks/bench_scaling.py --scales 1.0 --sim-only          # the national preset itself
    python benchmarks/bench_scaling.py --scales 0.2 1.0 --sim-only --bare-days 365   # and the overhead factor

How memory per active case is counted: the process's resident memory (``/proc/self/statm``) right
after the simulation reaches its horizon, minus its resident memory just before the ``Simulation`` is
built (interpreter, libraries and the validated scenario already loaded), divided by the cases active at
the horizon. It includes everything the run keeps in memory: case agents and their SimPy processes,
staff, the register of every case ever created and the event log's rows still in memory (its share is
also shown alone). Full buffers of 262,144 rows go to a temporary file (``casesim/log/events.py``); their
bytes per active case are shown apart ("log on disk") and are not resident memory. Peak RSS
is the process's high-water mark (``getrusage``), metrics included unless ``--sim-only``.

With ``--bare-days D``, each child then runs bare SimPy (``bench_engine.measure_bare_simpy``, under the
engine's collector policy) on as many processes as the run had cases active at the end, with exponential
gaps at the run's own event density (processes x horizon / events), for D simulated days, and prints its
timeouts per CPU second and the overhead factor: bare timeouts per CPU second over casesim's logged events
per CPU second (the figure of ``bench_engine.py``, at sizes that preset files do not reach). A year is
enough: the bare rate is steady after the first gap.

With ``--huge-pages``, each child runs on glibc's allocator with its heap on transparent huge pages, as
``casesim run --parts`` starts its parts (``casesim.outputs.split.part_environment``): run the same scales
with and without it, alternated, to see what the allocator changes at each size.

Why the curve matters: no step of the engine scans the population, so the cost of a simulated case-year
should not grow with it; where it does, something scales with the population (the cyclic garbage
collector would, were the engine not keeping it off its objects; the working set's cache misses do). The
profiles and figures behind each change are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(HERE))
from bench_engine import (  # noqa: E402
    MIB,
    StepCounter,
    case_years_whole_run,
    engine_digest,
    load_average,
    measure_bare_simpy,
    peak_rss_mib,
    timed,
)

DEFAULT_SCENARIO = ROOT / "scenarios" / "england_wales.yaml"


def current_rss_mib() -> float:
    """Resident memory of this process now, in MiB (Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB


def measure(path: str, scale: float, horizon: float | None, seed: int, sim_only: bool,
            bare_days: float = 0.0) -> dict[str, Any]:
    """One run in this process: the figures of the table."""
    import pandas as pd

    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import case_table, metrics_context, summarize, timeseries
    from casesim.outputs.split import allocator
    from casesim.scenario.schema import load_scenario

    overrides = [f"population_scale={scale}"]
    if horizon is not None:
        full = load_scenario(path)[0]
        overrides.append(f"time.horizon_days={horizon}")
        if full.time.warmup_days >= horizon:
            overrides.append(f"time.warmup_days={horizon / 4}")
    scenario = load_scenario(path, overrides)[0]
    gc.collect()
    rss_before = current_rss_mib()
    cpu = time.process_time()
    start = time.perf_counter()
    sim = Simulation(scenario, seed)
    steps = StepCounter(sim.env)
    while sim.running:
        sim.step()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    gc.collect()
    rss_after = current_rss_mib()
    active = len(sim.cases())
    out: dict[str, Any] = {
        "scale": scale, "horizon_days": sim.horizon, "cases_created": sim.cases_created,
        "cases_active_end": active, "staff": sum(len(v) for v in sim.staff.values()),
        "sim_s": wall, "sim_cpu_s": cpu, "events": len(sim.log), "simpy_events": steps.count,
        "log_bytes": sim.log.nbytes(), "log_disk_bytes": sim.log.disk_bytes(),
        "rss_before_mib": rss_before, "rss_after_sim_mib": rss_after,
        "rss_sim_peak_mib": peak_rss_mib(), "engine": engine_digest(), "load_average": load_average(),
        "allocator": allocator(),
    }
    out["bytes_per_active_case"] = (rss_after - rss_before) * MIB / max(1, active)
    out["log_bytes_per_active_case"] = out["log_bytes"] / max(1, active)
    out["log_disk_bytes_per_active_case"] = out["log_disk_bytes"] / max(1, active)
    out["events_per_cpu_s"] = out["events"] / cpu
    events, to_frame_s = timed(sim.log.to_frame)
    out["case_years"] = case_years_whole_run(events["time"].to_numpy(), events["kind"], sim.horizon)
    if not sim_only:
        register = pd.DataFrame(sim.register)
        ctx = metrics_context(sim)
        _, s1 = timed(lambda: summarize(events, register, ctx))
        _, s2 = timed(lambda: timeseries(events, register, ctx))
        _, s3 = timed(lambda: case_table(events, register, ctx))
        out["metrics_s"] = to_frame_s + s1 + s2 + s3
    out["rss_peak_mib"] = peak_rss_mib()
    if bare_days > 0:   # bare SimPy on as many processes, at casesim's event density, for bare_days
        del events, sim
        gc.collect()
        active = max(1, active)
        gap = active * out["horizon_days"] / max(1, out["events"])
        bare = measure_bare_simpy(active, bare_days, round(active * bare_days / gap), seed)
        out["bare_timeouts_per_cpu_s"] = bare["bare_timeouts"] / bare["bare_cpu_s"]
        out["overhead_cpu"] = out["bare_timeouts_per_cpu_s"] / out["events_per_cpu_s"]
    return out


def in_child(args: argparse.Namespace, scale: float, horizon: float | None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--scenario", str(args.scenario),
           "--scales", str(scale), "--seed", str(args.seed)]
    if horizon is not None:
        cmd += ["--horizons", str(horizon)]
    if args.sim_only:
        cmd.append("--sim-only")
    if args.bare_days:
        cmd += ["--bare-days", str(args.bare_days)]
    env = None
    if args.huge_pages:   # the allocator the parts of a split run get (casesim.outputs.split.part_environment)
        from casesim.outputs.split import part_environment

        extra = part_environment()
        if not extra:
            print("--huge-pages: this machine has no transparent huge pages for the parts (see "
                  "casesim.outputs.split.part_environment); the run uses the default allocator", file=sys.stderr)
        env = {**os.environ, **extra}
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """Least squares of CPU seconds on case-years: slope, intercept, R², largest relative residual."""
    if len(runs) < 2:
        return None
    import numpy as np

    x = np.array([r["case_years"] for r in runs])
    y = np.array([r["sim_cpu_s"] for r in runs])
    slope, intercept = np.polyfit(x, y, 1)
    pred = slope * x + intercept
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {"cpu_ms_per_case_year": slope * 1000, "intercept_s": intercept,
            "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 1.0,
            "max_rel_residual": float(np.max(np.abs(y - pred) / y))}


COLUMNS = [("scale", "scale", "{:g}"), ("horizon_days", "days", "{:,.0f}"),
           ("cases_active_end", "active", "{:,.0f}"), ("staff", "staff", "{:,.0f}"),
           ("case_years", "case-years", "{:,.0f}"), ("events", "events", "{:,.0f}"),
           ("sim_s", "sim wall s", "{:.1f}"), ("sim_cpu_s", "sim CPU s", "{:.1f}"),
           ("events_per_cpu_s", "events/CPU s", "{:,.0f}"), ("metrics_s", "metrics s", "{:.1f}"),
           ("rss_peak_mib", "peak MiB", "{:,.0f}"), ("bytes_per_active_case", "B/active case", "{:,.0f}"),
           ("log_bytes_per_active_case", "log B/case", "{:,.0f}"),
           ("log_disk_bytes_per_active_case", "log on disk B/case", "{:,.0f}"),
           ("bare_timeouts_per_cpu_s", "bare SimPy/CPU s", "{:,.0f}"), ("overhead_cpu", "overhead", "{:.2f}x"),
           ("allocator", "allocator", "{}"), ("load_average", "load", "{:.1f}")]


def table(runs: list[dict[str, Any]]) -> str:
    rows = [[label for _, label, _ in COLUMNS]]
    for r in runs:
        rows.append([fmt.format(r[k]) if isinstance(r.get(k), (int, float, str)) else "-" for k, _, fmt in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    ap.add_argument("--scales", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.05])
    ap.add_argument("--horizons", type=float, nargs="+", help="horizons in days (one scale): the horizon curve")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sim-only", action="store_true", help="skip the metrics")
    ap.add_argument("--bare-days", type=float, default=0.0,
                    help="after each run, bare SimPy on as many processes at the same event density for this "
                         "many simulated days (365 is plenty): the engine's overhead factor at that size")
    ap.add_argument("--huge-pages", action="store_true",
                    help="start each run's process as the parts of 'casesim run --parts' are: glibc's allocator "
                         "on transparent huge pages (casesim.outputs.split.part_environment)")
    ap.add_argument("--json", help="also write every run's figures and the fit here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        horizon = args.horizons[0] if args.horizons else None
        print(json.dumps(measure(args.scenario, args.scales[0], horizon, args.seed, args.sim_only, args.bare_days)))
        return 0
    plan = ([(args.scales[0], h) for h in args.horizons] if args.horizons
            else [(s, None) for s in args.scales])
    runs = []
    for scale, horizon in plan:
        print(f"scale {scale:g}{'' if horizon is None else f', {horizon:g} days'} ...", file=sys.stderr, flush=True)
        runs.append(in_child(args, scale, horizon))
    print(table(runs))
    line = fit(runs)
    if line:
        print(f"\nCPU = {line['intercept_s']:.2f} s + {line['cpu_ms_per_case_year']:.3f} ms x case-years "
              f"(R2 {line['r2']:.4f}; largest distance from the line {100 * line['max_rel_residual']:.1f}%)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "fit": line}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
