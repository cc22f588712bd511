"""SimPy's single event heap against the calendar queue of ``casesim.engine.scheduler``, bare and in the engine.

Bare: ``--processes`` SimPy processes, each sleeping for exponential delays (mean ``--mean-days``), run
for ``--days`` on ``simpy.Environment`` and on ``CalendarEnvironment``, alternately ``--repeat`` times;
prints events per CPU second (median and best) and their ratio. Engine (``--scale``): the England & Wales
preset (contacts in aggregate) at that population scale, run on each environment at the same time, one
per core, so both share the machine's conditions; prints simulation CPU seconds, their ratio, and whether
the two logs are identical (they must be).

Profile lesson (py-spy, England & Wales at 1 in 10, contacts in aggregate): once contacts were decided in
windows, the single largest line of the run was SimPy's ``heappop`` in ``Environment.step``, 14% of the
CPU. Every case and every staff member always has one event pending, so the heap holds the whole
population, and each pop walks about 17 levels of tuples scattered in memory at national size; bare
SimPy slows from about 550,000 to 165,000 timeouts per CPU second between 1,400 and 269,000 processes.
The calendar queue keeps only about a day of events in the heap and files the rest by day. Measured on
this machine (2 cores, shared): bare, 165,000 processes, 349k -> 429k events per CPU second (1.23x,
median of 6; 1.22x in another session); 20,000 processes, 340k -> 335k (0.98x; 1.10x in the other
session: a heap of that size already fits the caches, and the calendar costs a comparison per event).
The engine at 1 in 5: 0.93 and 0.98 of the CPU time in two side-by-side pairs; the national preset in two
parts, together with the windows across absences and misses (docs/performance.md, step 9, and
docs/model.md on contacts): the slower part 337 -> 259 s.

    python benchmarks/bench_scheduler.py --processes 165000 20000 --repeat 6
    python benchmarks/bench_scheduler.py --scale 0.2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bare(cls: type, n: int, days: float, mean: float) -> float:
    """Events per CPU second of ``n`` sleeping processes on environment class ``cls``."""
    env = cls()
    rng = random.Random(1)

    def sleeper():   # noqa: ANN202 - a SimPy generator
        while True:
            yield env.timeout(rng.expovariate(1 / mean))

    for _ in range(n):
        env.process(sleeper())
    env.run(until=min(5.0, days / 2))   # past the start-up, where every process is scheduled at once
    first = next(env._eid)
    cpu = time.process_time()
    env.run(until=days)
    return (next(env._eid) - first) / (time.process_time() - cpu)


def engine(plain: bool, scale: float, seed: int) -> dict:
    """One engine run (in this process) on SimPy's environment or on the calendar queue."""
    import simpy

    import casesim.engine.simulation as sim_mod
    from casesim.scenario.schema import load_scenario

    if plain:
        sim_mod.CalendarEnvironment = simpy.Environment
    scenario, _ = load_scenario(ROOT / "scenarios" / "england_wales_national.yaml", [f"population_scale={scale}"])
    cpu = time.process_time()
    sim = sim_mod.Simulation(scenario, seed)
    while sim.running:
        sim.step()
    cpu = time.process_time() - cpu
    cols = sim.log.columns()
    digest = hashlib.sha256(b"".join(cols[k].tobytes() for k in sorted(cols))).hexdigest()[:16]
    return {"environment": type(sim.env).__name__, "cpu_s": cpu, "rows": len(sim.log), "log_sha256": digest}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, nargs="*", default=[])
    ap.add_argument("--days", type=float, default=40.0)
    ap.add_argument("--mean-days", type=float, default=14.0)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--scale", type=float, help="also run the engine at this population scale, both ways at once")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", choices=["plain", "calendar"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(engine(args.child == "plain", args.scale, args.seed)))
        return 0

    import simpy

    from casesim.engine.scheduler import CalendarEnvironment

    for n in args.processes:
        rates: dict[str, list[float]] = {"simpy.Environment": [], "CalendarEnvironment": []}
        for i in range(args.repeat):   # alternate which goes first
            pair = [("simpy.Environment", simpy.Environment), ("CalendarEnvironment", CalendarEnvironment)]
            for name, cls in pair if i % 2 == 0 else pair[::-1]:
                rates[name].append(bare(cls, n, args.days, args.mean_days))
        med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
        best = {k: max(v) for k, v in rates.items()}
        print(f"{n:>9,} processes: SimPy {med['simpy.Environment'] / 1e3:,.0f}k (best "
              f"{best['simpy.Environment'] / 1e3:,.0f}k), calendar {med['CalendarEnvironment'] / 1e3:,.0f}k (best "
              f"{best['CalendarEnvironment'] / 1e3:,.0f}k) events per CPU second; calendar / SimPy "
              f"{med['CalendarEnvironment'] / med['simpy.Environment']:.2f} (median of {args.repeat})")
    if args.scale:
        cmds = [[sys.executable, str(Path(__file__).resolve()), "--child", which, "--scale", str(args.scale),
                 "--seed", str(args.seed)] for which in ("plain", "calendar")]
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for c in cmds]   # side by side
        out = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        for r in out:
            print(f"engine at {args.scale:g}: {r['environment']:>20s} {r['cpu_s']:7.1f} CPU s, {r['rows']:,} rows")
        print(f"calendar / SimPy CPU: {out[1]['cpu_s'] / out[0]['cpu_s']:.3f}; logs identical: "
              f"{out[0]['log_sha256'] == out[1]['log_sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
