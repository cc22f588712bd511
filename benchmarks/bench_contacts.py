"""What deciding contacts in aggregate (``process.contact_settlement: aggregate``) saves and changes.

For each seed, runs the scenario (default ``scenarios/england_wales.yaml`` at ``--scale``) once with every
contact decided at its own time (``each``) and once in aggregate, each in a fresh child process: the
simulation (timed alone), then the summary. Prints the simulation's CPU time, SimPy's events, the log's rows
and the headline figures of every run; then each figure's ratio (aggregate / each) per seed and its mean.
The two runs of a seed share every random number but those of the contacts (arrivals, stays, staff
absences and the rest are keyed by case and purpose), so the ratios are paired; the spread of the ``each``
runs over seeds is printed beside them. Breaches and recalls still scatter by 1-2% between paired runs
(they follow the misses, whose luck differs), so judge them over six seeds or more: three seeds at 1 in 20
suggested recalls 1% higher, six gave 1.000.

Profile lesson (py-spy, E&W at 1 in 20, aggregate): the contacts' share of the simulation's CPU fell to about
a fifth (window, first miss and single contacts together); SimPy's own loop (``Environment.step``) is the
largest single item. Contact windows were still about half of SimPy's wake-ups (54% at 1 in 50) because they
were short: they ended at every miss and at every leave, absence and return of the staff a case's contacts
rest on, about one change a month a person, and held 2.5 contacts on average (half held one). Counting why
each window ended (1 in 20): a staff change 52%, the stay's next happening 23%, the review 15%, the longest
window 9%. Misses are now settled inside the window (no wake-up, one row each at its time) and a window runs
across its manager's absence when no cover policy acts on it: windows 758,631 -> 575,860 and SimPy events
1.50 -> 1.25 million at 1 in 20, seed 1 (0.83). The CPU saved is smaller (about 5% at that size): each
contact still costs its probability, its draw and its share of a row, and the wake-up was the cheap part.

    python benchmarks/bench_contacts.py --scale 0.05 --seeds 1 2 3
    python benchmarks/bench_contacts.py --scenario scenarios/baseline.yaml --scale 1 --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KPIS = ("contacts_required", "compliance_rate_of_offered", "share_contacts_not_offered", "warnings",
        "breaches_per_case_year", "recalls_per_case_year", "completion_rate", "continuity_breaks_per_case_year",
        "mean_caseload_pressure", "cost_per_case_year")
MODES = ("each", "aggregate")


def measure(path: str, scale: float, mode: str, seed: int, sets: list[str]) -> dict[str, Any]:
    """One run in this process: the simulation timed apart from the tables."""
    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import metrics_context
    from casesim.scenario.schema import load_scenario

    scenario, _ = load_scenario(path, [f"population_scale={scale}", f"process.contact_settlement={mode}", *sets])
    cpu = time.process_time()
    sim = Simulation(scenario, seed)
    while sim.running:
        sim.step()
    sim_cpu = time.process_time() - cpu
    simpy_events = next(sim.env._eid)   # SimPy numbers every event it schedules
    import pandas as pd

    from casesim.metrics.summary import summarize

    events = sim.log.to_frame()
    summary = summarize(events, pd.DataFrame(sim.register), metrics_context(sim))
    return {"mode": mode, "seed": seed, "sim_cpu_s": sim_cpu, "simpy_events": simpy_events, "rows": len(events),
            **{k: summary.get(k) for k in KPIS}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "england_wales.yaml"))
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="scenario override")
    ap.add_argument("--json", help="also write the runs here")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.scenario, args.scale, args.child[0], int(args.child[1]), args.set)))
        return 0
    runs = []
    for seed in args.seeds:
        for mode in MODES:
            print(f"seed {seed}, {mode} ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--scenario", args.scenario,
                   "--scale", str(args.scale), "--child", mode, str(seed)]
            for item in args.set:
                cmd += ["--set", item]
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    cols = ["seed", "mode", "sim_cpu_s", "simpy_events", "rows", *KPIS]
    print("  ".join(f"{c[:14]:>14}" for c in cols))
    for r in runs:
        print("  ".join(f"{r[c]:>14,.5g}" if isinstance(r[c], float) else f"{r[c]!s:>14}" for c in cols))
    print(f"\naggregate / each, per seed and mean over {len(args.seeds)} seed(s); last column: the each runs'"
          " coefficient of variation over seeds")
    for k in ("sim_cpu_s", "simpy_events", "rows", *KPIS):
        ratios, each = [], []
        for seed in args.seeds:
            a = next(r for r in runs if r["seed"] == seed and r["mode"] == "aggregate")
            e = next(r for r in runs if r["seed"] == seed and r["mode"] == "each")
            each.append(e[k])
            if a.get(k) is not None and e.get(k):
                ratios.append(a[k] / e[k])
        if not ratios:
            continue
        cv = statistics.stdev(each) / statistics.mean(each) if len(each) > 1 and statistics.mean(each) else 0.0
        print(f"  {k:34s} {statistics.mean(ratios):.4f}  ({', '.join(f'{v:.4f}' for v in ratios)})  "
              f"cv {cv:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
