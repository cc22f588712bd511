"""What a case holds in memory, by the place that allocated it (tracemalloc).

Runs one scenario (by default the national preset at 1 in 100) to its horizon under ``tracemalloc`` and
prints the bytes still held at the horizon per active case: in all, apart from the event log's buffer
(its rows are shown alone: a small run has not yet filled its first buffer of 262,144 rows, so its log would
swamp the rest, while a national run keeps 15 bytes a case of log in memory on average, the rest on disk),
and then by allocation site, each with the last frames that led to it. Nothing is asserted: it is a
measuring script, and tracemalloc makes the run several times slower (about 80 s at 1 in 100).

    python benchmarks/bench_memory.py                               # national preset, 1 in 100
    python benchmarks/bench_memory.py --scale 0.02 --top 40 --frames 6
    python benchmarks/bench_memory.py --scenario scenarios/england_wales.yaml --set process.contact_settlement=each

Counted this way, the bytes are Python's own allocations (objects and their buffers), without the
allocator's slack; ``bench_scaling.py`` counts resident memory, which adds that slack and moves by a
few hundred bytes a case from run to run.

The lesson of its first use (national preset, 1 in 100; step 12 in docs/performance.md),
4,477 bytes a case apart from the log buffer, of which:

- 1,022 in two generators per case (the journey and, inside it with ``yield from``, the current stay),
  and SimPy's process;
- 459 in Mesa's two weak sets (all agents; the agent's class): a weak reference with a callback and a
  dict slot per set, for agents that the model's own dict already holds;
- 411 in the ``Case`` itself (34 slots, and Mesa's ``model``, ``unique_id`` and ``pos``);
- about 200 in the sets of needs identified and met (a frozenset of names is about 200 bytes even for
  one name), 56 in an empty list of open referrals, and under case teams about 500 more per case in its
  ``Team`` (an agent with a dict of attributes, its lists, its members' sets of teams);
- about 300 in the one SimPy event each case always has pending (the ``Timeout``, its callback list and
  bound method, its entry in the calendar queue).

What changed: one generator per case; Mesa's registry held in plain dicts
(``casesim/engine/agents/held.py``); needs as bit masks; open referrals and team representatives as tuples;
``Case`` and ``Team`` in slots, Mesa's three attributes included; the register of cases as label codes.
Then: 3,235 bytes a case (0.72), with every output identical.

The lesson of the second use (step 14): the largest share left was the process machinery, not the case.
A generator's frame keeps every local of the journey's loop and its value stack (about 570 bytes), SimPy's
``Process`` wraps it, and each sleep allocates a new ``Timeout`` with a callback list and a bound method.
A case waits for one thing at a time, so ``casesim.engine.process.CaseProcess`` is the case's process and its
pending event at once, its state in slots: 2,348 bytes a case (0.73), every output identical; 2,316 once
the slots that the stage gives (setting, activities, approach) were dropped. What is left
(at 1 in 100, in bytes a case): the ``Case`` 411, its ``CaseProcess`` 164, the two dict slots of Mesa's
registry 243, under case teams the case's ``Team`` about 270, its entry in the scheduler's queue about 120,
the register of every case created (3.6 created per case active at the horizon) about 180, the luck key
and provider tickets about 90.

The lesson of the third use (step 15): read the site list for what should not be there. A case team's
``Team`` was still held by 0.3 cases per active case after it had disbanded (the case kept it as its last
holder, for one id in the log), and each staff member kept the cases and teams it holds in sets, four
times the size of what they hold, where nothing reads their order. With the class's agents read from the
model's one dict, the former holder kept as its id, the staff's rosters as lists, propensity and
motivation read from the register, and events filed for a later day kept without their insertion number:
1,653 bytes a case (0.71), every output identical. Resident memory fell further than the Python bytes
(0.63 at 1 in 5): fewer small objects left behind by the dead also leave fewer half-empty pages.
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

    from casesim import events
    from casesim.engine.simulation import Simulation
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
