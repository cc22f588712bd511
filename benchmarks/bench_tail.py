"""What a run's results cost after the simulation: each table made from the log, timed, with its memory.

Runs the scenario (default the national preset, ``scenarios/england_wales_national.yaml``, at ``--scale``)
once in ``--parts`` parts, as ``casesim run --parts`` does, and keeps the merged log, register, staff table
and metrics context in ``--cache`` (reused when present, so the tables can be timed again, or before and
after a change, without simulating again). Then, in this process and in the order ``casesim run`` makes
them, it times the log's index, the time series, the case table, the summary, the cost and FTE tables and
the report, and prints each one's wall seconds and, with ``--trace``, its peak memory above the loaded log
(``tracemalloc``: NumPy's and Python's allocations, not Arrow's). With ``--write DIR`` every output file is
written as ``casesim run`` writes it (the event table in a thread from before the first table; the report
with the other files, timed as ``write``; ``wait``, the event table's writing left after them), so the total
is the time from the merged log to the last file. Last, a hash of the summary, every table and the report:
equal hashes before and after a change mean identical results. Nothing is asserted.

    python benchmarks/bench_tail.py --scale 1 --parts 2 --cache /tmp/tail-national        # the national preset
    python benchmarks/bench_tail.py --cache /tmp/tail-national --write /tmp/tail-out       # ... and its files
    python benchmarks/bench_tail.py --scenario scenarios/england_wales.yaml --scale 0.2 --cache /tmp/tail-each --trace

Use it before and after a change to the metrics, the report or the writing of the files: the same cache
for both, new and old alternated, and the hashes equal. The profiles it served, and their figures, are in
docs/performance.md (steps 11 and 16).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def simulate(scenario: str, scale: float, parts: int, seed: int | None, cache: Path) -> None:
    """Run the scenario in parts, as ``casesim run --parts`` does, and keep what the tables are made from."""
    from casesim.outputs.split import run_parts
    from casesim.scenario.schema import load_scenario

    sc, _ = load_scenario(scenario, [f"population_scale={scale}"])
    seed = sc.seed if seed is None else seed
    start = time.perf_counter()
    # (with --parts 1, the whole service in one child process, whose seed is drawn from the run seed as a
    # part's is: another run than `casesim run` without --parts, for timing the tables alike)
    events, register, staff, ctx, _ = run_parts(sc, seed, parts)
    print(f"simulated in {time.perf_counter() - start:.1f} s: {len(events):,} rows", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    for name, frame in (("events", events), ("register", register), ("staff", staff)):
        frame.to_pickle(cache / f"{name}.pkl")
    (cache / "context.pkl").write_bytes(pickle.dumps((sc, seed, ctx)))


def measure(cache: Path, trace: bool, write: Path | None = None) -> dict[str, Any]:
    """Make every table from the kept log, in ``casesim run``'s order; returns seconds, peaks and the hash.
    With ``write``, the files are written there as ``casesim run`` writes them: the output directory opened
    first, the event table written behind from the start, the report made as the files are written; the
    report is then timed with the writing of every file but the event table (``write``), and ``wait`` is
    what remains of the event table's writing after that."""
    import pandas as pd

    from casesim.metrics.costs import cost_and_fte_tables
    from casesim.metrics.summary import case_table, summarize, timeseries
    from casesim.metrics.tables import LogArrays, shared_log_arrays
    from casesim.outputs import results
    from casesim.outputs.results import Result

    events, register, staff = (pd.read_pickle(cache / f"{n}.pkl") for n in ("events", "register", "staff"))
    sc, seed, ctx = pickle.loads((cache / "context.pkl").read_bytes())
    seconds: dict[str, float] = {}
    peaks: dict[str, float] = {}
    if trace:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if trace else 0

    def timed(name: str, make: Callable[[], Any]) -> Any:
        if trace:
            tracemalloc.reset_peak()
        start = time.perf_counter()
        out = make()
        seconds[name] = time.perf_counter() - start
        if trace:
            peaks[name] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        print(f"  {name:<12} {seconds[name]:7.2f} s" + (f"  {peaks[name]:8.0f} MiB" if trace else ""), flush=True)
        return out

    early = write is not None and hasattr(results, "write_events_behind")   # (a checkout from before step 16:
    output = None                                                            # every file written after the tables)
    if early:
        output = results.OutputDirectory(write).open()
        results.write_events_behind(output, events)
    try:
        with shared_log_arrays(events):
            index = timed("index", lambda: LogArrays.of(events))
            series = timed("timeseries", lambda: timeseries(events, register, ctx))
            cases = timed("case table", lambda: case_table(events, register, ctx))
            summary = timed("summary",
                            lambda: {"scenario": sc.name, "seed": seed, **summarize(events, register, ctx)})
            costs, fte = timed("cost tables", lambda: cost_and_fte_tables(events, ctx))
        result = Result(scenario=sc, seed=seed, summary=summary, timeseries=series, cases=cases, events=events,
                        register=register, staff=staff, context=ctx, costs=costs, fte=fte)
        kept = None
        if hasattr(index, "forget"):   # the index goes on to the report, as in casesim run
            index.forget()
            kept = index
        del index
        if write is None:
            # (a checkout from before step 11 has no index to hand over: the report indexes the log again)
            with shared_log_arrays(events, kept) if kept is not None else shared_log_arrays(events):
                del kept
                html = timed("report", result.report_html)
        else:
            result.log_index = kept
            del kept
            if output is not None:
                timed("write", lambda: result.write_into(output))
                timed("wait", output.close)
            else:
                timed("write", lambda: result.write(write))
            html = (write / "report.html").read_text(encoding="utf-8")
    finally:
        if output is not None:
            output.discard()   # (nothing once closed)
    digest = hashlib.sha256(json.dumps(summary, sort_keys=True).encode())
    for table in (series, cases, costs, fte):
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    digest.update(html.encode())
    return {"rows": len(events), "seconds": seconds, "total_s": sum(seconds.values()), "peak_mib": peaks,
            "hash": digest.hexdigest()[:16]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "england_wales_national.yaml"))
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--seed", type=int, help="seed instead of the scenario's")
    ap.add_argument("--cache", required=True,
                    help="directory for the kept log: made by the first run, then reused whatever the options")
    ap.add_argument("--trace", action="store_true", help="peak memory of each table (tracemalloc; slower)")
    ap.add_argument("--write", metavar="DIR", help="write every output file to DIR, as casesim run does, and "
                    "time it (replaces DIR)")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    if not (cache / "context.pkl").exists():
        simulate(args.scenario, args.scale, args.parts, args.seed, cache)
    got = measure(cache, args.trace, Path(args.write) if args.write else None)
    what = "the tables and files" if args.write else "the tables"
    print(f"{got['rows']:,} rows: {got['total_s']:.1f} s for {what}; hash {got['hash']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
