"""What running a service as independent parts in parallel processes (``casesim run --parts N``) costs
and changes.

For each seed and each number of parts, runs the scenario (default ``scenarios/england_wales.yaml`` at
``--scale``) through ``casesim.outputs.results.run`` exactly as ``casesim run`` does (simulation, merge, every
table and the costs; nothing written), each in a fresh child process, and prints the wall time, the
slowest part's simulation wall and CPU time, the summed CPU time, peak memory and the headline figures;
then, per seed, each figure's ratio to the 1-part run of the same seed, and the mean ratio over seeds.

Peak memory: the parts run at the same time, so the simulation phase holds the sum of the parts' peaks
(each part's own high-water mark, ``getrusage`` in the part's process); the merge and the metrics then
run in the parent, whose own peak is shown apart. The larger of the two is the run's peak.

Why parts: one SimPy environment is one core, and the cost per case-year of one process grows with its
size (the event queue, the generator frames and the case objects outgrow the caches), so halving a service
more than halves each half's time; the parent's merge and metrics are then the single-core part of the run,
and its peak memory is the merged table plus the largest of the results (``benchmarks/bench_tail.py`` times
and traces those table by table). What was measured, and what changed after each profile, is in
docs/performance.md (steps 7 and 11) and docs/performance-overview.md ("Running a service in parts").

    python benchmarks/bench_split.py --scale 0.1 --parts 1 2 --seeds 1 2 3
    python benchmarks/bench_split.py --scale 1 --parts 2 --seeds 1          # the national service
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KPIS = ("mean_caseload", "mean_caseload_pressure", "compliance_rate_of_offered", "breaches_per_case_year",
        "recalls_per_case_year", "continuity_breaks_per_case_year", "completion_rate", "cost_per_case_year")


def measure(path: str, scale: float, parts: int, seed: int, sets: list[str]) -> dict[str, Any]:
    """One run in this process, as ``casesim run --parts`` makes it."""
    from casesim.outputs.results import run

    cpu, start = time.process_time(), time.perf_counter()
    result = run(path, seed=seed, overrides=[f"population_scale={scale}", *sets], parts=parts)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    m, s = result.manifest, result.summary
    runs = m.get("part_runs") or [{"sim_wall_s": m["simulation_seconds"], "sim_cpu_s": None,
                                   "peak_rss_mib": None, "cases_active_end": s["cases_active_end"]}]
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peaks = [r["peak_rss_mib"] for r in runs if r["peak_rss_mib"] is not None]
    return {"scale": scale, "parts": parts, "seed": seed, "events": m["events"],
            "active_end": s["cases_active_end"], "wall_s": wall,
            "slowest_part_sim_s": max(r["sim_wall_s"] for r in runs),
            "cpu_s": cpu + sum(r["sim_cpu_s"] or 0.0 for r in runs),
            "parts_peak_mib": sum(peaks) if peaks else None, "parent_peak_mib": parent,
            "peak_mib": max(sum(peaks), parent) if peaks else parent,
            **{k: s.get(k) for k in KPIS}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "england_wales.yaml"))
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="scenario override")
    ap.add_argument("--json", help="also write the runs here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.scenario, args.scale, args.parts[0], args.seeds[0], args.set)))
        return 0
    runs = []
    for seed in args.seeds:
        for parts in args.parts:
            print(f"seed {seed}, {parts} part(s) ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--scenario", args.scenario,
                   "--scale", str(args.scale), "--parts", str(parts), "--seeds", str(seed)]
            for item in args.set:
                cmd += ["--set", item]
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    cols = ["seed", "parts", "active_end", "events", "wall_s", "slowest_part_sim_s", "cpu_s", "peak_mib", *KPIS]
    print("  ".join(f"{c[:14]:>14}" for c in cols))
    for r in runs:
        print("  ".join(f"{r[c]:>14,.4g}" if isinstance(r[c], float) else f"{r[c]!s:>14}" for c in cols))
    base_parts = min(args.parts)
    ratios: dict[int, dict[str, list[float]]] = {}
    for r in runs:
        base = next((b for b in runs if b["seed"] == r["seed"] and b["parts"] == base_parts), None)
        if base is None or r is base:
            continue
        for k in ("wall_s", *KPIS):
            if r.get(k) and base.get(k):
                ratios.setdefault(r["parts"], {}).setdefault(k, []).append(r[k] / base[k])
    for parts, by_kpi in ratios.items():
        print(f"\n{parts} parts / {base_parts} part(s), mean over {len(args.seeds)} seed(s) (each seed's ratio):")
        for k, values in by_kpi.items():
            print(f"  {k:34s} {sum(values) / len(values):.4f}  ({', '.join(f'{v:.4f}' for v in values)})")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
