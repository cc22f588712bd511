"""Running a scenario and keeping what it produced.

``run()`` builds a :class:`~casesim.simulation.Simulation`, runs it to the horizon and derives
every table from the event log. ``Result.write()`` stores the outputs in a directory
atomically: everything is written under a temporary name first, then renamed into place, so a
failed run never leaves a half-written result.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from casesim.costs import context_prices, cost_and_fte_tables, provider_price
from casesim.metrics import MetricsContext, case_table, summarize, timeseries
from casesim.metrics_tables import LogArrays, shared_log_arrays
from casesim.scenario import Scenario, load_scenario
from casesim.simulation import Simulation
from casesim.yamlio import dump_yaml

OUTPUT_FILES = ("summary.json", "timeseries.parquet", "cases.parquet", "events.parquet", "staff.parquet",
                "costs.parquet", "costs.csv", "fte.parquet", "fte.csv", "scenario.resolved.yaml", "manifest.json",
                "report.html")


def metrics_context(sim: Simulation) -> MetricsContext:
    """The static facts metrics need, taken from a built simulation."""
    s = sim.scenario
    group_of = {g.name: g for g in s.staff}
    return MetricsContext(
        warmup=s.time.warmup_days, horizon=s.time.horizon_days, tick=s.time.tick_days,
        stage_setting=dict(sim.journey.setting),
        order_stages=frozenset(n for n, st in s.journey.stages.items() if st.on_breach is not None),
        staff_setting={m.unique_id: m.setting for m in sim.all_staff()},
        contact_cost={m: spec.cost_per_contact for m, spec in s.modes.items()},
        custody_cost_per_day=s.costs.custody_per_day,
        provider_cost_per_day={p.unique_id: provider_price(s, p.spec) for p in sim.providers},
        court_cost=s.costs.court_hearing, recall_cost=s.costs.recall, currency=s.costs.currency,
        staff_role={m.unique_id: s.costs.role_of(group_of[m.group]) for m in sim.all_staff()
                    if m.group in group_of},
        provider_setting={p.unique_id: p.spec.setting for p in sim.providers},
        contact_interval={m: spec.contact_interval_days for m, spec in s.modes.items()},
        **context_prices(s))


@dataclass
class Result:
    """Everything one run produced: KPIs, tables and the event log."""

    scenario: Scenario
    seed: int
    summary: dict[str, Any]
    timeseries: pd.DataFrame
    cases: pd.DataFrame
    events: pd.DataFrame
    register: pd.DataFrame
    staff: pd.DataFrame
    context: MetricsContext
    manifest: dict[str, Any] = field(default_factory=dict)
    costs: pd.DataFrame = field(default_factory=pd.DataFrame)
    fte: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The index of ``events`` the metrics used, kept by ``run(keep_index=True)`` for ``write()``, which
    #: then lets it go (saves indexing a national log twice; hundreds of MB while held). ``write()`` uses it
    #: only for the very frame it was built from.
    log_index: LogArrays | None = field(default=None, repr=False, compare=False)

    def report_html(self) -> str:
        """The run report (``report.html``) as one self-contained HTML page; see :mod:`casesim.report`."""
        from casesim.report import report_html

        return report_html(self)

    def write(self, out_dir: str | Path) -> Path:
        """Write every output file to ``out_dir`` atomically; returns the directory."""
        def fill(tmp: Path) -> None:
            # The event table, the largest file, is written in a thread of its own while the rest is made:
            # Arrow encodes and compresses it without holding the interpreter, so the report is built on the
            # other core meanwhile (leaving the block waits for it, and raises its error if it failed). The
            # report comes first, the only user of the log's index here, which is let go before the other
            # tables are converted to Arrow.
            index, self.log_index = self.log_index, None
            if index is not None and not index.is_of(self.events):   # kept for another frame: not this one's
                index = None
            with ThreadPoolExecutor(max_workers=1) as writer:
                events_written = writer.submit(write_parquet_in_pieces, self.events, tmp / "events.parquet")
                with shared_log_arrays(self.events, index):
                    del index
                    html = self.report_html()
                (tmp / "summary.json").write_text(json.dumps(self.summary, indent=2, allow_nan=False) + "\n")
                self.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
                self.cases.to_parquet(tmp / "cases.parquet", index=False)
                self.staff.to_parquet(tmp / "staff.parquet", index=False)
                for name, table in (("costs", self.costs), ("fte", self.fte)):
                    table.to_parquet(tmp / f"{name}.parquet", index=False)
                    table.to_csv(tmp / f"{name}.csv", index=False)
                (tmp / "scenario.resolved.yaml").write_text(dump_yaml(self.scenario.model_dump(mode="json")))
                (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n")
                (tmp / "report.html").write_text(html, encoding="utf-8")
                events_written.result()

        return write_directory(out_dir, fill)


#: Rows converted to Arrow at a time when the event table is written (one Parquet row group each).
PARQUET_PIECE_ROWS = 1 << 20


def write_parquet_in_pieces(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_parquet(path, index=False)``, converted to Arrow a row group at a time.

    Converting a whole national event table (60 million rows) at once held a second copy of it in Arrow's
    memory pool, about 33 bytes a row more at the peak, kept after the write. Piece by piece, one row group is
    held at a time, and the pool gives its memory back afterwards. The file reads back as the same table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, max(len(frame), 1), PARQUET_PIECE_ROWS):
            piece = pa.Table.from_pandas(frame.iloc[lo:lo + PARQUET_PIECE_ROWS], schema=schema, preserve_index=False)
            writer.write_table(piece, row_group_size=PARQUET_PIECE_ROWS)
            del piece
            pa.default_memory_pool().release_unused()


def write_directory(out_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Make directory ``out_dir`` atomically: ``fill`` writes into a temporary sibling, which then
    replaces ``out_dir``; on any failure nothing is left half-written and an old ``out_dir`` survives."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fill(tmp)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out


def run(scenario: str | Path | Scenario, seed: int | None = None, overrides: Sequence[str] = (),
        on_step: Callable[[Simulation], None] | None = None, parts: int = 1,
        on_parts: Callable[[list[float], list[int]], None] | None = None, keep_index: bool = False) -> Result:
    """Run a scenario (a path or a validated :class:`Scenario`) to its horizon.

    ``seed`` overrides the scenario's seed; ``overrides`` are ``dotted.key=value`` strings
    applied to a scenario file; ``on_step`` is called after every tick (e.g. a progress bar).
    ``parts`` above 1 runs the service as that many independent parts in parallel processes and
    merges them (see :mod:`casesim.split`: a different model, for large services); ``on_step`` is
    then not called, and ``on_parts(days, events)`` gets every part's progress instead. ``keep_index``
    keeps the log's index in the result for its ``write()`` (for a run written at once, as the CLI does).
    """
    source = None
    if not isinstance(scenario, Scenario):
        source = str(scenario)
        scenario, _ = load_scenario(scenario, overrides)
    elif overrides:
        raise ValueError("overrides apply to scenario files; pass a path, or change the Scenario")
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if parts > 1:
        from casesim.split import run_parts

        seed = scenario.seed if seed is None else int(seed)
        events, register, staff, ctx, info = run_parts(scenario, seed, parts, on_progress=on_parts)
        sim_seconds = time.perf_counter() - started   # the parts and their merge
        cases_created = len(register)
        extra = {"parts": parts, "part_seeds": info["seeds"], "part_runs": info["part"]}
    else:
        sim = Simulation(scenario, seed)
        while sim.running:
            sim.step()
            if on_step is not None:
                on_step(sim)
        sim_seconds = time.perf_counter() - started
        seed, cases_created = sim.seed, sim.cases_created
        events = sim.log.to_frame()
        register = pd.DataFrame(sim.register)
        staff = sim.staff_table()
        ctx = metrics_context(sim)
        del sim
    with shared_log_arrays(events):   # every metric below indexes the log once between them
        series, cases = timeseries(events, register, ctx), case_table(events, register, ctx)
        # last, the summary (it extracts the cost inputs at its end) and the cost tables (they reuse them):
        # the largest table the metrics make is not held while the others run
        summary = {"scenario": scenario.name, "seed": seed, **summarize(events, register, ctx)}
        costs, fte = cost_and_fte_tables(events, ctx)
        # kept for write() only when asked, without the derived tables
        index = LogArrays.of(events) if keep_index else None
        if index is not None:
            index.forget()
    from casesim import __version__
    manifest = {
        "casesim_version": __version__, "scenario": scenario.name, "scenario_file": source,
        "overrides": list(overrides), "seed": seed, "scenario_sha256": scenario.digest(),
        "events": len(events), "cases": int(cases_created), **extra,
        "simulation_seconds": round(sim_seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(), "platform": platform.platform(),
        "outputs": list(OUTPUT_FILES),
    }
    return Result(scenario=scenario, seed=seed, summary=summary, timeseries=series, cases=cases, events=events,
                  register=register, staff=staff, context=ctx, manifest=manifest, costs=costs, fte=fte,
                  log_index=index)
