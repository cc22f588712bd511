"""Sweep benchmark: parallel efficiency of 2 local workers against 1, and the driver's peak memory.

Prints figures and asserts nothing. From the repository root::

    python benchmarks/bench_sweep.py                 # both parts
    python benchmarks/bench_sweep.py --runs 600      # a bigger sweep for the memory part

Efficiency is ``time with 1 worker / (2 x time with 2 workers)`` for the same 12-run experiment
(the small test scenario over two years), once for the whole command (cluster start-up, worker
imports, runs, summary) and once in the steady state (runs per second after the first run
finished, so without start-up). The load average is printed too: other processes on the machine
take cores from the workers.
Memory is the driver process's peak resident set (``getrusage``) and its peak Python allocations
(``tracemalloc``) over a sweep of a few hundred tiny runs, each measured in a fresh process, next
to a sweep a tenth the size: the driver keeps only run ids and statuses, so the two should be close.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMALL = ROOT / "tests" / "data" / "small.yaml"
#: The efficiency experiment: 4 variants x 3 replications of one to two seconds each.
EFFICIENCY = f"""\
name: bench_efficiency
scenario: {SMALL}
set: ["time.horizon_days=730", "time.warmup_days=180", "arrivals.rate_per_day=3", "initial_population.by_stage={{}}"]
factors:
  staff.0.count: [8, 12, 18, 25]
replications: 3
seed: 1
"""


def tiny_experiment(runs: int) -> str:
    """About ``runs`` runs of a 60-day, nearly empty service (variants x 10 replications)."""
    variants = max(1, runs // 10)
    return f"""\
name: bench_memory
scenario: {SMALL}
set: ["time.horizon_days=60", "time.warmup_days=10", "arrivals.rate_per_day=0.5", "initial_population.by_stage={{}}"]
factors:
  staff.0.count: {list(range(5, 5 + variants))}
replications: 10
seed: 2
"""


class Clock:
    """Progress hooks recording when the first and the last run finished."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0
        self.count = 0

    def start(self, total: int, done: int) -> None:
        pass

    def update(self, done: int, failed: int, remaining: int) -> None:
        self.last = time.perf_counter()
        self.count += 1
        if self.first is None:
            self.first = self.last

    def throughput(self, workers: int) -> float:
        """Runs per second after the first finished (start-up and worker imports excluded).

        When the first run finishes, each of the other workers is on average half-way through one,
        so the work done after it is ``count - 1 - (workers - 1) / 2`` runs.
        """
        if self.first is None or self.last <= self.first:
            return 0.0
        return (self.count - 1 - (workers - 1) / 2) / (self.last - self.first)


def timed_sweep(experiment: Path, out: Path, workers: int) -> tuple[float, float, int]:
    """(whole command seconds, steady runs per second, runs done) for a fresh sweep."""
    from casesim.studies.sweep import run_sweep

    clock = Clock()
    started = time.perf_counter()
    outcome = run_sweep(experiment, out=out, workers=workers, fresh=True, progress=clock)
    return time.perf_counter() - started, clock.throughput(workers), outcome.done


def efficiency(folder: Path) -> None:
    exp = folder / "efficiency.yaml"
    exp.write_text(EFFICIENCY)
    timed_sweep(exp, folder / "warm", 1)   # warm the file cache and imports once
    rows = {n: timed_sweep(exp, folder / f"w{n}", n) for n in (1, 2)}
    (w1, r1, n1), (w2, r2, _) = rows[1], rows[2]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"parallel efficiency, {n1} runs of the small scenario over two years, {os.cpu_count()} cores "
          f"(load average before: {load}):")
    print(f"  whole command   1 worker {w1:6.1f} s      2 workers {w2:6.1f} s      "
          f"efficiency {w1 / (2 * w2):.0%}")
    print(f"  steady state    1 worker {r1:6.2f} runs/s  2 workers {r2:6.2f} runs/s  "
          f"efficiency {r2 / (2 * r1):.0%}")


def memory_child(runs: int, folder: Path) -> dict[str, float]:
    """Run one sweep in this (fresh) process; report its peak memory."""
    import tracemalloc

    import casesim.studies.sweep  # noqa: F401  (imports count towards the baseline, not the sweep)

    exp = folder / f"memory{runs}.yaml"
    exp.write_text(tiny_experiment(runs))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    whole, phase, done = timed_sweep(exp, folder / f"m{runs}", 2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"runs": done, "seconds": whole, "rss_after_imports_mb": base_rss,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_python_alloc_mb": peak / 2**20}


def memory(runs: int, folder: Path) -> None:
    print("driver memory (2 local workers; the scheduler runs inside the driver process):")
    for n in (max(10, runs // 10), runs):
        proc = subprocess.run([sys.executable, __file__, "--memory-child", str(n), "--folder", str(folder)],
                              capture_output=True, text=True, check=True)
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {m['runs']:4d} runs in {m['seconds']:5.1f} s: peak RSS {m['peak_rss_mb']:6.1f} MB "
              f"({m['rss_after_imports_mb']:.1f} MB after imports), peak Python allocations during the sweep "
              f"{m['peak_python_alloc_mb']:5.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs in the memory sweep (default 300)")
    parser.add_argument("--skip-efficiency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.folder)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        folder = Path(tmp)
        if not args.skip_efficiency:
            efficiency(folder)
        if not args.skip_memory:
            memory(args.runs, folder)


if __name__ == "__main__":
    main()
