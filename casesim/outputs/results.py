"""Running a scenario and keeping what it produced.

``run()`` builds a :class:`~casesim.engine.simulation.Simulation`, runs it to the horizon and derives
every table from the event log. ``Result.write()`` stores the outputs in a directory
atomically: everything is written under a temporary name first, then renamed into place, so a
failed run never leaves a half-written result.
"""

from __future__ import annotations

import gc
import json
import platform
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from casesim.engine.simulation import Simulation
from casesim.metrics.costs import cost_and_fte_tables
from casesim.metrics.run_warnings import run_warnings, stages_entered
from casesim.metrics.summary import MetricsContext, case_table, metrics_context, summarize, timeseries
from casesim.metrics.tables import LogArrays, shared_log_arrays
from casesim.outputs.guard import OutputChanged, fingerprint
from casesim.outputs.temporaries import dead_siblings, owner_tag, remove_dead_siblings
from casesim.scenario.schema import Scenario, scenario_from
from casesim.scenario.yamlio import dump_yaml

#: The event table's file, written behind (see :func:`write_events_behind`).
EVENTS_FILE = "events.parquet"
OUTPUT_FILES = ("summary.json", "timeseries.parquet", "cases.parquet", EVENTS_FILE, "staff.parquet",
                "costs.parquet", "costs.csv", "fte.parquet", "fte.csv", "scenario.resolved.yaml", "manifest.json",
                "report.html")


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
    #: The index of ``events`` the metrics used, kept by ``run(keep_index=True)`` for ``write()`` or
    #: ``write_into()``, which then let it go (saves indexing a national log twice; hundreds of MB while
    #: held). They use it only for the very frame it was built from.
    log_index: LogArrays | None = field(default=None, repr=False, compare=False)

    def report_html(self) -> str:
        """The run report (``report.html``) as one self-contained HTML page; see :mod:`casesim.outputs.report`."""
        from casesim.outputs.report import report_html

        return report_html(self)

    def write(self, out_dir: str | Path) -> Path:
        """Write every output file to ``out_dir`` atomically; returns the directory."""
        with OutputDirectory(out_dir) as output:
            self.write_into(output)
        return output.out

    def write_into(self, output: OutputDirectory) -> None:
        """Write every output file into ``output``, an open :class:`OutputDirectory`, which puts them in
        place when it is closed. The event table, the largest file, is written behind, in the directory's
        thread, unless ``run(output=...)`` already started it there (as soon as the log was complete)."""
        # Arrow encodes and compresses the event table without holding the interpreter, so the report and
        # the other tables are made on the other core meanwhile. The report comes first, the only user of
        # the log's index here, which is let go before the other tables are converted to Arrow.
        index, self.log_index = self.log_index, None
        if index is not None and not index.is_of(self.events):   # kept for another frame: not this one's
            index = None
        write_events_behind(output, self.events)
        with shared_log_arrays(self.events, index):
            del index
            html = self.report_html()
        tmp = output.tmp
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


#: Rows converted to Arrow at a time when the event table is written (one Parquet row group each).
PARQUET_PIECE_ROWS = 1 << 20


class WritingStopped(Exception):
    """A file written behind was stopped before its end (its directory is being given up)."""


def write_parquet_in_pieces(frame: pd.DataFrame, path: Path, stop: threading.Event | None = None) -> None:
    """``frame.to_parquet(path, index=False)``, converted to Arrow a row group at a time.

    Converting a whole national event table (tens of millions of rows) at once would hold a second copy of
    it in Arrow's memory pool at the peak, kept after the write. Piece by piece, one row group is held at a
    time, and the pool gives its memory back afterwards. The file reads back as the same table.
    When ``stop`` is set (the directory it goes to is being given up), the writing ends after the piece in
    hand with :class:`WritingStopped`, the file holding the pieces written so far.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, max(len(frame), 1), PARQUET_PIECE_ROWS):
            if stop is not None and stop.is_set():
                raise WritingStopped(f"{path.name}: stopped after {lo:,} rows")
            piece = pa.Table.from_pandas(frame.iloc[lo:lo + PARQUET_PIECE_ROWS], schema=schema, preserve_index=False)
            writer.write_table(piece, row_group_size=PARQUET_PIECE_ROWS)
            del piece
            pa.default_memory_pool().release_unused()


def write_events_behind(output: OutputDirectory, events: pd.DataFrame) -> None:
    """Start writing ``events`` to ``events.parquet`` in ``output``'s thread, unless it is being written there
    already (by ``run(output=...)``, as soon as the log was complete); another frame's table there is an error."""
    if not output.started(EVENTS_FILE):
        output.behind(EVENTS_FILE, partial(write_parquet_in_pieces, events), source=events)
    elif output.source(EVENTS_FILE) is not events:
        raise ValueError("the event table being written there is another log's, not this result's")


class OutputDirectory:
    """A directory of results made atomically: files go into a temporary sibling of ``out``, which
    replaces ``out`` when the directory is closed; given up (an error, an interrupt), the sibling is
    removed and an old ``out`` is left as it was. Nothing half-written is ever left at ``out``.

    Files can be written behind (:meth:`behind`), one after the other in a thread of the directory's own,
    while the caller goes on: ``casesim run`` starts the event table there as soon as the log is complete,
    so its encoding runs on the other core while the metrics are computed. Closing waits for them and raises
    the first one's error; giving up tells them to stop and waits for them before removing anything.

    :meth:`open` checks that the directory can be made (so a run fails before, not after, its simulation);
    the temporary sibling itself is made at its first use (:attr:`tmp`), so a process killed during its
    simulation leaves nothing behind. One directory is opened once, and then closed or given up.
    Used as a context manager, it opens on entry, closes when the block ends without error and is given up
    otherwise.
    """

    def __init__(self, out: str | Path, expect: tuple[str, ...] | None = None) -> None:
        self.out = Path(out)
        #: What ``out`` held when the command checked it (:func:`casesim.outputs.guard.fingerprint`); if set, closing
        #: refuses to replace anything else there (another process's result written meanwhile).
        self.expect = expect
        # the host and process in the names let a later process tell a killed one's leftovers (see open())
        self._tmp = self.out.parent / f"{self._tmp_prefix}{owner_tag()}"
        self._old = self.out.parent / f"{self._old_prefix}{owner_tag()}"
        self._writer: ThreadPoolExecutor | None = None
        self._behind: dict[str, tuple[Future[None], Any]] = {}
        self._stop = threading.Event()
        self._state = "new"   # -> "open" -> "closed" (put in place) or "given up"
        self._made = False

    @property
    def _tmp_prefix(self) -> str:
        return f".{self.out.name}.tmp-"

    @property
    def _old_prefix(self) -> str:
        return f".{self.out.name}.old-"

    def open(self) -> OutputDirectory:
        """Make ``out``'s parents and check that the temporary directory can be made there; raises
        ``OSError`` when it cannot.

        The leftovers of processes of this host that were killed while writing ``out`` are cleared first
        (see :mod:`casesim.outputs.temporaries`): their temporary directories are removed, and an old ``out`` one
        of them had moved aside to put its own in place is moved back if ``out`` is missing (it was killed
        between the two renames), or removed if ``out`` is there."""
        if self._state != "new":
            raise RuntimeError(f"the output directory {self.out} was already opened ({self._state})")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.recover(self.out)
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir()   # (the check; made again at its first use)
        self._tmp.rmdir()
        self._state = "open"
        return self

    @classmethod
    def recover(cls, out: str | Path) -> None:
        """Clear what processes of this host killed while writing ``out`` left beside it: their temporary
        directories are removed, and an old ``out`` one of them had moved aside to put its own in place is
        moved back if ``out`` is missing (it was killed between the two renames), or removed if ``out`` is
        there. A command calls this before it checks what ``out`` holds, so the check sees a restored result."""
        out = Path(out)
        if not out.parent.is_dir():
            return
        for old in dead_siblings(out.parent, f".{out.name}.old-"):
            if not out.exists() and not out.is_symlink():
                old.rename(out)
            elif old.is_symlink():
                old.unlink()
            else:
                shutil.rmtree(old, ignore_errors=True)
        remove_dead_siblings(out.parent, f".{out.name}.tmp-")

    @property
    def tmp(self) -> Path:
        """The temporary directory the files go into, made at the first use."""
        if self._state != "open":
            raise RuntimeError(f"the output directory {self.out} is not open ({self._state})")
        if not self._made:
            self._tmp.mkdir(exist_ok=True)
            self._made = True
        return self._tmp

    def behind(self, name: str, write: Callable[..., None], source: Any = None) -> None:
        """Write file ``name`` in the directory's thread: ``write(path, stop)``, where ``stop`` is a
        ``threading.Event`` set when the directory is given up (a long writer checks it now and then, and
        raises). ``source``, what the file is written from, is kept for :meth:`source`."""
        if name in self._behind:
            raise ValueError(f"{name} is already being written")
        path = self.tmp / name
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="casesim-output")
        self._behind[name] = (self._writer.submit(write, path, self._stop), source)

    def started(self, name: str) -> bool:
        """Whether file ``name`` is being (or has been) written behind."""
        return name in self._behind

    def source(self, name: str) -> Any:
        """What file ``name``, written behind, is written from (as given to :meth:`behind`)."""
        return self._behind[name][1]

    def _finish_behind(self, stop: bool) -> None:
        if stop:
            self._stop.set()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if not stop:
            for future, _ in self._behind.values():
                err = future.exception()
                if err is not None:
                    raise err

    def close(self) -> Path:
        """Wait for the files written behind, then put the directory in place of ``out``; returns ``out``.
        On an error (one of theirs included) the directory is given up, an old ``out`` restored, and the
        error raised."""
        tmp = self.tmp   # (made, if nothing was written: an empty result is still a result)
        try:
            self._finish_behind(stop=False)
            if self.expect is not None and fingerprint(self.out) != self.expect:
                raise OutputChanged(f"{self.out}: --out: changed while this command ran (another process "
                                    "wrote there); nothing was replaced: run again with another --out, or "
                                    "check what is there now")
            if self.out.exists():
                self.out.rename(self._old)
            tmp.rename(self.out)
        except BaseException:
            try:
                if self._old.exists() and not self.out.exists():
                    self._old.rename(self.out)
            finally:
                self.discard()
            raise
        self._state = "closed"
        shutil.rmtree(self._old, ignore_errors=True)
        return self.out

    def discard(self) -> None:
        """Give the directory up: stop and wait for the files written behind, remove the temporary
        directory. Nothing happens once the directory is closed or given up (or if it was never opened)."""
        if self._state != "open":
            return
        try:
            self._finish_behind(stop=True)
        finally:   # (even when a second interrupt cuts the wait short)
            self._state = "given up"
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> OutputDirectory:
        return self.open()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def write_directory(out_dir: str | Path, fill: Callable[[Path], None],
                    expect: tuple[str, ...] | None = None) -> Path:
    """Make directory ``out_dir`` atomically: ``fill`` writes into a temporary sibling, which then
    replaces ``out_dir``; on any failure nothing is left half-written and an old ``out_dir`` survives.
    ``expect``: see :class:`OutputDirectory`."""
    with OutputDirectory(out_dir, expect) as output:
        fill(output.tmp)
    return output.out


def run(scenario: str | Path | Scenario, seed: int | None = None, overrides: Sequence[str] = (),
        on_step: Callable[[Simulation], None] | None = None, parts: int = 1,
        on_parts: Callable[[list[float], list[int]], None] | None = None, keep_index: bool = False,
        output: OutputDirectory | None = None) -> Result:
    """Run a scenario (a path or a validated :class:`Scenario`) to its horizon.

    ``seed`` overrides the scenario's seed; ``overrides`` are ``dotted.key=value`` strings
    applied to a scenario file; ``on_step`` is called after every tick (e.g. a progress bar).
    ``parts`` above 1 runs the service as that many independent parts in parallel processes and
    merges them (see :mod:`casesim.outputs.split`: a different model, for large services); ``on_step`` is
    then not called, and ``on_parts(days, events)`` gets every part's progress instead. ``keep_index``
    keeps the log's index in the result for its ``write()`` or ``write_into()`` (for a run written at once,
    as the CLI does).
    ``output``, an open :class:`OutputDirectory` the result will be written into (``Result.write_into``),
    gets the event table written behind as soon as the log is complete, while the metrics are computed.
    """
    source = None if isinstance(scenario, Scenario) else str(scenario)
    # what runs, and what scenario.resolved.yaml must say
    scenario = scenario_from(scenario, overrides).with_seed(seed)
    seed = scenario.seed
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if parts > 1:
        from casesim.outputs.split import run_parts

        events, register, staff, ctx, info = run_parts(scenario, seed, parts, on_progress=on_parts)
        sim_seconds = time.perf_counter() - started   # the parts and their merge
        cases_created = len(register)
        extra = {"part_seeds": info["seeds"], "part_runs": info["part"]}
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
        if not gc.isenabled():   # (the caller turned automatic collection off: the dead model is a cycle)
            gc.collect()
    return assemble(scenario, seed, events, register, staff, ctx, source=source, overrides=overrides, parts=parts,
                    sim_seconds=sim_seconds, cases_created=cases_created, extra=extra, output=output,
                    keep_index=keep_index)


def assemble(scenario: Scenario, seed: int, events: pd.DataFrame, register: pd.DataFrame, staff: pd.DataFrame,
             ctx: Any, *, source: str | None = None, overrides: Sequence[str] = (), parts: int = 1,
             sim_seconds: float = 0.0, cases_created: int = 0, extra: dict[str, Any] | None = None,
             output: OutputDirectory | None = None, keep_index: bool = False) -> Result:
    """The :class:`Result` of a finished run from its event table, register, staff table and metrics context
    (what :func:`run` does after simulating; a linked run does it for each of its services)."""
    extra = extra or {}
    if output is not None:   # the largest file, encoded on the other core while the metrics are computed
        write_events_behind(output, events)
    with shared_log_arrays(events):   # every metric below indexes the log once between them
        series, cases = timeseries(events, register, ctx), case_table(events, register, ctx)
        # last, the summary (it extracts the cost inputs at its end) and the cost tables (they reuse them):
        # the largest table the metrics make is not held while the others run
        summary = {"scenario": scenario.name, "seed": seed, **summarize(events, register, ctx)}
        summary["run_warnings"] = run_warnings(scenario, ctx.stage_setting, stages_entered(events), summary)
        costs, fte = cost_and_fte_tables(events, ctx)
        # kept for write() only when asked, without the derived tables
        index = LogArrays.of(events) if keep_index else None
        if index is not None:
            index.forget()
    from casesim.version import __version__
    manifest = {
        "kind": "run", "casesim_version": __version__, "scenario": scenario.name, "scenario_file": source,
        "overrides": list(overrides), "seed": seed, "scenario_sha256": scenario.digest(), "parts": parts,
        # the resolved scenario holds the seed, but not the split: a run in parts is reproduced in as many
        "rerun": "casesim run scenario.resolved.yaml" + (f" --parts {parts}" if parts > 1 else ""),
        "events": len(events), "cases": int(cases_created), **extra,
        "simulation_seconds": round(sim_seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(), "platform": platform.platform(),
        "outputs": list(OUTPUT_FILES),
    }
    return Result(scenario=scenario, seed=seed, summary=summary, timeseries=series, cases=cases, events=events,
                  register=register, staff=staff, context=ctx, manifest=manifest, costs=costs, fte=fte,
                  log_index=index)
