"""What a case holds in memory, by the place that allocated it (tracemalloc).

Runs one scenario (by default the national preset at 1 in 100) to its horizon under ``tracemalloc`` and
prints the bytes still held at the horizon per active case: in all, apart from the event log's buffer
(its rows are shown alone: a small run has not yet filled its first buffer of 262,144 rows, so its log would
swamp the rest, while a national run keeps only tens of bytes a case of log in memory, the rest on disk),
and then by allocation site, each with the last frames that led to it. Nothing is asserted: it is a
measuring script, and tracemalloc makes the run several times slower.

    python benchmarks/bench_memory.py                               # national preset, 1 in 100
    python benchmarks/bench_memory.py --scale 0.02 --top 40 --frames 6
    python benchmarks/bench_memory.py --scenario scenarios/england_wales.yaml

Counted this way, the bytes are Python's own allocations (objects and their buffers), without the
allocator's slack; ``bench_scaling.py`` counts resident memory, which adds that slack and moves by a
few hundred bytes a case from run to run.

How to read the list: each site is a line of code that allocated what is still alive at the horizon, so a
site that should hold nothing per case (an object kept after its use, a container larger than what it holds)
shows as bytes a case. The breakdowns it gave, and what changed after each, are in docs/performance.md
(steps 12, 14 and 15).
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SCENARIO = ROOT / "scenarios" / "england_wales_national.yaml"


def _site(frames: tracemalloc.Traceback, root: Path) -> str:
    def short(f: tracemalloc.Frame) -> str:
        name = f.filename
        for anchor in (str(root) + "/", "site-packages/", "/lib/python3.11/", "/lib/python3.12/"):
            if anchor in name:
                name = name.split(anchor, 1)[1]
        return f"{name}:{f.lineno}"

    return " < ".join(short(f) for f in reversed(frames))   # the allocating line first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="scenario overrides")
    ap.add_argument("--top", type=int, default=25, help="allocation sites to list")
    ap.add_argument("--frames", type=int, default=4, help="frames kept per allocation")
    args = ap.parse_args()

    from casesim.engine.simulation import Simulation
    from casesim.log import events
    from casesim.scenario.schema import load_scenario

    scenario = load_scenario(args.scenario, [f"population_scale={args.scale}", *args.set])[0]
    tracemalloc.start(args.frames)
    before = tracemalloc.take_snapshot()
    sim = Simulation(scenario, args.seed)
    while sim.running:
        sim.step()
    after = tracemalloc.take_snapshot()
    active = max(1, len(sim.cases()))   # (a run that ends with no case divides by one)
    log_buffer = [tracemalloc.Filter(True, events.__file__)]
    not_log = [tracemalloc.Filter(False, events.__file__)]
    in_log = sum(s.size_diff for s in after.filter_traces(log_buffer).compare_to(
        before.filter_traces(log_buffer), "filename"))
    stats = after.filter_traces(not_log).compare_to(before.filter_traces(not_log), "traceback")
    rest = sum(s.size_diff for s in stats)
    print(f"{Path(args.scenario).name} at {args.scale:g}, seed {args.seed}: {active:,} cases active at the horizon, "
          f"{sim.cases_created:,} created, {len(sim.log):,} log rows")
    print(f"bytes a case: {rest / active:,.0f} apart from the event log; the log {in_log / active:,.0f} "
          f"({sim.log.disk_bytes() / active:,.0f} more on disk)")
    print(f"{'B/case':>7} {'objects/case':>12}  allocated at (newest frame first)")
    for s in stats[:args.top]:
        print(f"{s.size_diff / active:7.0f} {s.count_diff / active:12.2f}  {_site(s.traceback, ROOT)}")


if __name__ == "__main__":
    main()
