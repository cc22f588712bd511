"""Backcast: run the England & Wales scenario at a population scale and compare it with published figures.

    python scripts/backcast.py                                  # 1 in 100, seed 1
    python scripts/backcast.py --scale 0.005 --seeds 1 2 3 4    # 1 in 200, four seeds
    python scripts/backcast.py --scenario my_ew.yaml --set time.horizon_days=1461 --out backcast.md

Prints a Markdown table (target, published value, simulated value as the mean over the seeds with its
range, ratio, source); extensive figures are divided by the scale to read at national size (see
``casesim/studies/calibration.py``). A bad scenario, scale or override is reported as ``file:line: field: problem``
with exit code 2 and nothing written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = ROOT / "scenarios" / "england_wales.yaml"
EXIT_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    from casesim.outputs.results import run
    from casesim.scenario.schema import load_scenario
    from casesim.scenario.yamlio import ScenarioError
    from casesim.studies.calibration import backcast, markdown_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="scenario file (default: england_wales)")
    ap.add_argument("--scale", type=float, default=0.01, help="population_scale, in (0, 1] (default 0.01)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds to run (default: 1)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, as casesim run")
    ap.add_argument("--out", help="also write the table (Markdown) to this file")
    args = ap.parse_args(argv)
    try:
        scenario, _ = load_scenario(args.scenario, [f"population_scale={args.scale!r}", *args.set])
    except (ScenarioError, OSError) as err:
        problems = getattr(err, "problems", None)
        for line in ([p.format() for p in problems] if problems else [f"{args.scenario}: {err}"]):
            print(line, file=sys.stderr)
        return EXIT_INPUT
    results = []
    for seed in args.seeds:
        started = time.perf_counter()
        results.append(run(scenario, seed=seed))
        print(f"seed {seed}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    s = scenario.time
    head = (f"Scenario `{scenario.name}` at population_scale {scenario.population_scale:g} "
            f"(1 in {1 / scenario.population_scale:,.0f}), seeds {', '.join(map(str, args.seeds))}, "
            f"measured over days {s.warmup_days:g}-{s.horizon_days:g}; stocks are time averages over that "
            f"window, extensive figures divided by the scale.")
    text = f"{head}\n\n{markdown_table(backcast(results))}\n"
    print(text)
    if args.out:
        out = Path(args.out)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text)
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
