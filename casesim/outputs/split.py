"""Run one scenario as independent parts, one process each, and merge them into one result.

A SimPy environment runs on one core. To use several cores for one large service, the service is cut
into ``parts`` shares that share nothing, each simulated in its own process at the same time, like
regions run side by side: arrival rates are divided by ``parts``, and the initial population, every
staff group and every provider's places are shared out so that the parts add up exactly to the whole
(largest share first, so 75 staff in two parts are 38 and 37). Each part has its own seed, drawn from
the run seed, so the same seed and the same number of parts always give the same result.

This is a different model from one undivided service, and deliberately so: a case can be held only by
staff of its own part and waits only for its own part's provider places. Probation and prison services
are organised in regions that work this way, so for a national service cut into a few large parts the
effect is small, though not nil: continuity breaks, breaches and recalls move by a few per cent in the
same direction on every seed, the other figures by less than seed noise (``benchmarks/bench_split.py``
measures it; docs/performance-overview.md has the table). For a small service (tens of staff) the parts are small pools
and the figures move more: split only large services, and compare runs made with the same number of parts.

Each part writes its event-log columns, as logged, to ``.npy`` files in a temporary directory and sends back its
register, staff table and metrics context; the parent merges them, shifting case numbers and agent ids
(staff, teams, providers, also where ``value`` holds one) so that they stay unique, and the ordinary
metrics run on the merged log, put in time order like the log of one run (one stable sort). Counts, costs
and case-years of the merged run are the sums of the parts'.
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import os
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager, nullcontext
from multiprocessing import get_context
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casesim.log.events import KINDS, frame_of_columns
from casesim.metrics.summary import MetricsContext
from casesim.outputs.collector import collector_off
from casesim.outputs.temporaries import owner_tag, remove_dead_siblings
from casesim.scenario.schema import Scenario

#: Kinds whose ``value`` holds an agent id (shifted with the agent ids when parts are merged).
ID_VALUE_KINDS = ("manager_change", "cover_start", "cover_end", "task_assigned")
_COLUMNS = ("time", "case", "kind", "stage", "manager", "cause", "value")


#: Set to ``0`` to start the parts with the interpreter's own allocator (see :func:`part_environment`).
HUGE_PAGES_VAR = "CASESIM_HUGE_PAGES"
_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
_ENVIRON_LOCK = threading.Lock()


class SplitError(ValueError):
    """The scenario cannot be cut into that many parts (a message naming the field)."""


def part_seeds(seed: int, parts: int) -> list[int]:
    """Independent seeds of the parts, drawn from the run seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(parts)]


def _shares(n: int, parts: int) -> list[int]:
    """``n`` shared out over ``parts``: as equal as can be, larger shares first, summing to ``n``."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def split_scenario(scenario: Scenario, parts: int) -> list[Scenario]:
    """The ``parts`` scenarios a run with ``parts`` parts simulates (their counts add up to the whole)."""
    if not isinstance(parts, int) or parts < 1:
        raise SplitError(f"parts: must be a whole number of at least 1 (got {parts!r})")
    if parts == 1:
        return [scenario]
    if scenario.changes:
        raise SplitError("changes: a run in parts does not take a scenario with changes "
                         "(docs/scenarios.md#changes-from-a-date): run it whole")
    for i, group in enumerate(scenario.staff):
        if 0 < group.count < parts:
            raise SplitError(f"staff.{i}.count: {group.name} has {group.count} staff, too few for {parts} parts "
                             "(every part needs at least one of each group)")
    for i, provider in enumerate(scenario.providers):
        if 0 < provider.places < parts:
            raise SplitError(f"providers.{i}.places: {provider.name} has {provider.places} places, too few for "
                             f"{parts} parts (every part needs at least one)")
    data = scenario.model_dump(mode="json")
    out = []
    for k in range(parts):
        d = dict(data)
        arrivals = dict(data["arrivals"])
        arrivals["rate_per_day"] = data["arrivals"]["rate_per_day"] / parts
        arrivals["periods"] = [{**p, "rate_per_day": p["rate_per_day"] / parts} for p in data["arrivals"]["periods"]]
        d["arrivals"] = arrivals
        d["initial_population"] = {**data["initial_population"], "by_stage": {
            st: _shares(n, parts)[k] for st, n in data["initial_population"]["by_stage"].items()}}
        d["staff"] = [{**g, "count": _shares(g["count"], parts)[k]} for g in data["staff"]]
        d["providers"] = [{**p, "places": _shares(p["places"], parts)[k]} for p in data["providers"]]
        d["population_scale_applied"] = True   # the counts are already the part's own
        d["name"] = f"{scenario.name}.part{k + 1}of{parts}"
        out.append(Scenario.model_validate(d))
    return out


_EXIT_REGISTERED = False
_PART_DIR: str | None = None   # in a part's process: the run's directory of log columns


def _exit_without_teardown_once() -> None:
    """Make this part process end at once when it exits, without tearing its objects down.

    A part holds a whole simulation: hundreds of thousands of cases, processes and events. At exit the
    interpreter would free them one by one and walk them with a full collection, seconds at national
    size, and the parent waits for the processes to end before it merges. Everything a part
    returns has been sent by then (the pool's result queue writes synchronously), so the process can end
    with ``os._exit`` at the start of its exit, after flushing its output.
    """
    global _EXIT_REGISTERED
    if not _EXIT_REGISTERED:
        _EXIT_REGISTERED = True
        atexit.register(_leave)


def _leave() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _end_with_parent() -> None:
    """Make this process (a part, or the progress queue's manager) end as soon as its parent ends.

    If the process that started the parts is killed, a part would otherwise simulate on to its horizon for
    nobody, then block for ever sending its results into a pipe nobody reads, holding its whole simulation
    (hundreds of MiB at national size), and the manager of the progress queue would wait for ever too. A
    daemon thread waits on the parent's sentinel, which multiprocessing keeps open in the parent for as long
    as the process object lives and which the kernel closes however the parent ends, and ends this process
    at once, first removing the run's temporary directory of log columns, which the killed parent cannot.
    Runs in each pool worker and in the manager as their initializer.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()   # returns when the parent's end of the sentinel closes
        if _PART_DIR is not None:   # the dead parent's temporary directory of log columns (up to GiBs)
            shutil.rmtree(_PART_DIR, ignore_errors=True)
        os._exit(1)

    threading.Thread(target=watch, name="casesim-end-with-parent", daemon=True).start()


def thp_mode(path: Path = _THP_MODE) -> str | None:
    """The kernel's transparent huge page mode (``always``, ``madvise`` or ``never``), or None where there
    is none to read (not Linux, or no THP)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def part_environment(environ: Mapping[str, str] | None = None, thp: str | None = None,
                     platform: str | None = None) -> dict[str, str]:
    """The environment variables the parts' processes are started with, beyond the parent's own.

    A part holds a whole simulation, hundreds of thousands of cases whose small objects are touched in
    no useful order, so much of its time goes to misses in the processor's address translation cache.
    CPython's own allocator takes its memory in arenas of its own that the kernel gives ordinary 4 KiB
    pages. Started with glibc's allocator (``PYTHONMALLOC=malloc``) and glibc asked to mark its heap for
    transparent huge pages of 2 MiB (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``), the part's objects lie
    on huge pages, which saves CPU time at national size for a few per cent more resident memory
    (docs/performance.md, step 13, has the measurements). glibc's allocator alone, without huge pages, is
    slower than CPython's, so nothing is set where the kernel has no transparent huge pages (not Linux, or
    the mode ``never``). The results are the same to the bit: only where objects lie changes.

    Nothing is set when ``CASESIM_HUGE_PAGES=0``, or when ``PYTHONMALLOC`` is already set (a debugging
    allocator, say, is kept). A ``GLIBC_TUNABLES`` of the caller's own is kept, with the huge-page tunable
    added unless it names one.
    """
    environ = os.environ if environ is None else environ
    thp = thp_mode() if thp is None else thp
    platform = sys.platform if platform is None else platform
    if (environ.get(HUGE_PAGES_VAR, "1").strip() == "0" or "PYTHONMALLOC" in environ
            or not platform.startswith("linux") or thp not in ("always", "madvise")):
        return {}
    tunables = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb=" not in tunables:
        tunables = f"{tunables}:glibc.malloc.hugetlb=1" if tunables else "glibc.malloc.hugetlb=1"
    return {"PYTHONMALLOC": "malloc", "GLIBC_TUNABLES": tunables}


@contextmanager
def _started_with(extra: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``extra`` set, for the processes started inside the block, then as it was. (A
    spawned process takes the environment of the moment it starts, and ``multiprocessing`` gives no other
    way to pass one.) One block at a time in a process: two runs started from two threads at once would
    otherwise each restore what the other had set."""
    with _ENVIRON_LOCK:
        saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def allocator() -> str:
    """The allocator this process runs on, as ``PYTHONMALLOC`` names it (``pymalloc``, CPython's own, when
    unset). Read at startup, so the variable of the moment the process started."""
    return os.environ.get("PYTHONMALLOC", "pymalloc")


def _huge_pages_mib() -> float | None:
    """This process's anonymous memory on transparent huge pages, in MiB (None where the kernel does not say)."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _run_part(scenario: Scenario, seed: int, out_dir: str, part: int, progress: Any = None) -> dict[str, Any]:
    """One part, in a child process: run it, write its log columns, return the rest. ``progress``, a
    queue, gets ``(part, day, events)`` after every tick."""
    from casesim.engine.simulation import Simulation
    from casesim.metrics.summary import metrics_context

    global _PART_DIR
    _PART_DIR = out_dir
    own_process = multiprocessing.parent_process() is not None   # (not when called directly)
    cpu, wall = time.process_time(), time.perf_counter()
    with collector_off() if own_process else nullcontext():   # a worker process is casesim's own
        sim = Simulation(scenario, seed)
        while sim.running:
            sim.step()
            if progress is not None:
                progress.put((part, sim.time, len(sim.log)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    huge = _huge_pages_mib()   # at the horizon, when the part holds the most
    for name in _COLUMNS:   # one column at a time: the part's peak is its simulation and one column
        np.save(Path(out_dir) / f"{part}_{name}.npy", sim.log.columns(names=(name,))[name])
    if own_process:
        _exit_without_teardown_once()
    return {"strings": sim.log.strings, "register": sim.register, "staff": sim.staff_table(),
            "ctx": metrics_context(sim), "cases_created": sim.cases_created,
            "next_id": max((a.unique_id for a in sim.agents), default=0) + 1,
            "cases_active_end": len(sim.cases()), "events": len(sim.log),
            "sim_cpu_s": cpu, "sim_wall_s": wall,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "allocator": allocator(), "huge_pages_mib": huge}


def _manager_address() -> str | None:
    """Where the progress queue's manager listens. On Linux, a socket in the abstract namespace: it has no file,
    so a long ``TMPDIR`` cannot make its path pass the 107 bytes a Unix socket's path may have (the manager's
    default socket lies in a directory under ``TMPDIR``). Elsewhere, ``multiprocessing``'s default."""
    if sys.platform.startswith("linux"):
        return f"\0casesim-progress-{os.getpid()}-{secrets.token_hex(8)}"
    return None


#: Start of the names of the runs' temporary directories of log columns (then ``HOST-PID-XXXXXXXX``).
PARTS_DIR_PREFIX = "casesim-parts-"


def parts_directory() -> tempfile.TemporaryDirectory[str]:
    """A new temporary directory for a run's log columns, named ``casesim-parts-HOST-PID-XXXXXXXX``, made
    after removing the ones of this host's dead processes (a run killed outright leaves its own behind;
    see :mod:`casesim.outputs.temporaries`)."""
    remove_dead_siblings(Path(tempfile.gettempdir()), PARTS_DIR_PREFIX)
    return tempfile.TemporaryDirectory(prefix=f"{PARTS_DIR_PREFIX}{owner_tag()}-")


def run_parts(scenario: Scenario, seed: int, parts: int, workers: int | None = None,
              on_progress: Callable[[list[float], list[int]], None] | None = None,
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, MetricsContext, dict[str, Any]]:
    """Run ``scenario`` as ``parts`` parts in parallel processes (at most ``workers`` at once, default
    ``parts``); returns the merged ``(events, register, staff, ctx, info)``; ``info`` has each part's
    seed, size, timings and peak memory. ``on_progress(days, events)`` is called in this process with
    every part's simulated day and events so far, as the parts advance."""
    pieces = split_scenario(scenario, parts)
    seeds = part_seeds(seed, parts)
    days, counts = [0.0] * parts, [0] * parts
    mp = get_context("spawn")
    with parts_directory() as tmp, ExitStack() as stack:
        queue = None
        if on_progress is not None:
            manager = SyncManager(address=_manager_address(), ctx=mp)
            manager.start(_end_with_parent)
            stack.enter_context(manager)
            queue = manager.Queue()
        with ProcessPoolExecutor(max_workers=workers or parts, mp_context=mp, initializer=_end_with_parent) as pool:
            with _started_with(part_environment()):   # the workers start at their first tasks
                futures = [pool.submit(_run_part, pieces[i], seeds[i], tmp, i, queue) for i in range(parts)]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.5)
                moved = False
                while queue is not None and not queue.empty():
                    part, days[part], counts[part] = queue.get()
                    moved = True
                if moved and on_progress is not None:
                    on_progress(list(days), list(counts))
            got = [f.result() for f in futures]   # raises a part's error, if one failed
        events, register, staff, ctx = _merge(tmp, got)
    info = {"parts": parts, "seeds": seeds,
            "part": [{k: g[k] for k in ("sim_cpu_s", "sim_wall_s", "peak_rss_mib", "cases_created",
                                        "cases_active_end", "events", "allocator", "huge_pages_mib")}
                     for g in got]}
    return events, register, staff, ctx, info


def _shifted(ids: np.ndarray, offset: int) -> np.ndarray:
    """Ids (``-1`` = none) moved up by ``offset``, in the log's 32-bit integers."""
    if int(ids.max(initial=-1)) + offset >= 2**31:
        raise OverflowError("more than 2**31 cases or agents in the merged log")
    return np.where(ids >= 0, ids + np.int32(offset), np.int32(-1)).astype(np.int32, copy=False)


def _merge(tmp: str, got: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                                         MetricsContext]:
    strings = sorted({s for g in got for s in g["strings"]})
    code = {s: i for i, s in enumerate(strings)}
    cols: dict[str, list[np.ndarray]] = {name: [] for name in _COLUMNS}
    holds_id = np.zeros(len(KINDS), dtype=bool)   # by kind code: does value hold an agent id
    holds_id[[list(KINDS).index(k) for k in ID_VALUE_KINDS]] = True
    registers, staff, ctxs = [], [], []
    case_off = id_off = 0
    for i, g in enumerate(got):
        a = {name: np.load(Path(tmp) / f"{i}_{name}.npy") for name in _COLUMNS}
        remap = np.array([code[s] for s in g["strings"]], dtype=np.int16)
        a["stage"], a["cause"] = remap[a["stage"]], remap[a["cause"]]
        a["case"] = _shifted(a["case"], case_off)
        a["manager"] = _shifted(a["manager"], id_off)
        shift = holds_id[a["kind"]] & (a["value"] >= 0)
        a["value"] = np.where(shift, a["value"] + id_off, a["value"])
        for name in _COLUMNS:
            cols[name].append(a.pop(name))
        reg = pd.DataFrame(g["register"])
        reg["case"] += case_off
        reg["person"] += case_off   # (a person comes back within the part that had them)
        reg["previous"] = np.where(reg["previous"] >= 0, reg["previous"] + case_off, -1)
        registers.append(reg)
        table = g["staff"].copy()
        table["manager"] += id_off
        staff.append(table)
        ctxs.append((g["ctx"], id_off))
        case_off += g["cases_created"]
        id_off += g["next_id"]
    # time order, as one run logs it: a stable sort keeps each part's own order at equal times
    order = np.argsort(np.concatenate(cols["time"]), kind="stable")
    events = frame_of_columns({name: np.concatenate(cols.pop(name))[order] for name in _COLUMNS}, strings)
    del order

    def shifted(field: str) -> dict[int, Any]:
        return {k + off: v for c, off in ctxs for k, v in getattr(c, field).items()}

    ctx = dataclasses.replace(ctxs[0][0], staff_setting=shifted("staff_setting"), staff_role=shifted("staff_role"),
                              staff_fte=shifted("staff_fte"),
                              provider_cost_per_day=shifted("provider_cost_per_day"),
                              provider_setting=shifted("provider_setting"),
                              provider_places=shifted("provider_places"), provider_route=shifted("provider_route"))
    return (events, pd.concat(registers, ignore_index=True), pd.concat(staff, ignore_index=True), ctx)

