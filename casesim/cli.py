"""Command line: ``casesim run | validate | schema | sweep | sensitivity | robustness | costs | staff``.

Input problems (a wrong field, an impossible value, a missing file) print one line each,
``file:line: field.path: problem``, and exit with code 2, writing nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from casesim.metrics import kpis
from casesim.outputs.guard import OutputChanged
from casesim.scenario.yamlio import ScenarioError

EXIT_INPUT = 2
#: The most runs ``casesim sweep`` expands, even with ``--allow-large`` (which lifts the ceiling of
#: :data:`casesim.studies.experiment.RUN_CEILING`): the design is built in memory before any run, hundreds of
#: bytes a run, so a design of 10^10 runs (the schema allows a hundred thousand variants x a hundred
#: thousand replications) would exhaust memory instead of starting.
SWEEP_RUN_LIMIT = 1_000_000

def stdout_console() -> Any:
    """A ``rich`` console on standard output, as wide as the terminal, or 80 columns when the output goes to
    a pipe or a file and ``COLUMNS`` does not say otherwise. (``rich`` alone would take the width of a
    terminal on standard input or error, so ``casesim compare ... | less`` in a wide window would get lines
    wider than 80.)"""
    import os

    from rich.console import Console

    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return Console()
    return Console(width=80)


def _print_run_warnings(warnings: list[dict[str, Any]]) -> None:
    """The run's warnings (``summary.json`` ``run_warnings``, see :mod:`casesim.metrics.run_warnings`) on standard
    error, after everything else, one paragraph each, marked so they are not taken for progress output."""
    for w in warnings:
        print(f"WARNING [{w['code']}]: {w['message']}", file=sys.stderr)
    if warnings:
        print(f"WARNING: {len(warnings)} warning(s) above; the summary describes a degenerate set-up "
              "(also in summary.json, run_warnings)", file=sys.stderr)


def _input_error(err: ScenarioError) -> int:
    for problem in err.problems:
        print(problem.format(), file=sys.stderr)
    return EXIT_INPUT


def _cannot_write(path: Any, option: str, exc: OSError) -> int:
    """Say on standard error that ``path``, given as ``option``, cannot be written; the exit code."""
    print(f"{path}: {option}: cannot write: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_INPUT


def _refused(message: str | None) -> bool:
    """Whether an output was refused (:mod:`casesim.outputs.guard`), saying why on standard error."""
    if message is not None:
        print(message, file=sys.stderr)
    return message is not None


def _cannot_make(out: Path, option: str = "--out") -> int | None:
    """Check, before anything is simulated, that result folder ``out`` can be made; the exit code if not.
    The folders the check made on the way (``results/`` on a first run) are removed again, so a command
    that fails later leaves nothing behind."""
    from casesim.outputs.results import OutputDirectory

    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        OutputDirectory(out).open().discard()
    except OSError as exc:
        return _cannot_write(out, option, exc)
    finally:
        for folder in made:   # deepest first; only what is still empty
            try:
                folder.rmdir()
            except OSError:
                break
    return None


def _seed_refused(seed: int | None) -> bool:
    """Whether ``--seed`` is outside the range the schema's ``seed`` field allows, saying so on standard error
    (a seed the resolved scenario could not hold is refused before anything runs)."""
    from casesim.scenario.schema import seed_bounds

    if seed is None:
        return False
    low, high, limit = seed_bounds()
    if low <= seed <= high:
        return False
    print(f"--seed: must be a non-negative integer (got {seed})" if seed < low else
          f"--seed: must be at most {high} ({limit}) (got {seed})", file=sys.stderr)
    return True


def _too_many_runs(runs: int, described: str) -> bool:
    """Whether ``runs`` (of ``compare`` or of each candidate of ``staff``) are over the sweep's ceiling
    (:data:`casesim.studies.experiment.RUN_CEILING`), saying so on standard error as ``--replications: DESCRIBED
    N runs, ...``: the guard of the commands without ``--allow-large``."""
    from casesim.studies.experiment import RUN_CEILING

    if runs <= RUN_CEILING:
        return False
    print(f"--replications: {described} {runs:,} runs, over the ceiling of {RUN_CEILING:,} that guards against "
          "a typo starting runs that cannot finish; pass --allow-large to run them anyway", file=sys.stderr)
    return True


def _allow_large(p: argparse.ArgumentParser) -> None:
    """The ``--allow-large`` option of the commands that run (or validate) scenarios."""
    p.add_argument("--allow-large", action="store_true",
                   help="run even if the run's estimated size (events, ticks) or the sweep's number of runs is "
                        "over the ceiling that guards against a typo starting a run that cannot finish")


def _safe_folder_name(name: str) -> bool:
    """Whether ``name`` is one plain path component (so ``results/<name>`` stays inside results/)."""
    return name not in ("", ".", "..") and not any(sep in name for sep in "/\\\0")


def _non_directory_on_path(out: Path) -> Path | None:
    """The first existing path among ``out`` and its parents that is not a directory, if any.

    Raises:
        OSError: a path cannot be looked at, or a name still to be made is longer than the file system
            allows (``File name too long``, found before a missing parent would hide it).
    """
    import errno
    import os

    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                return path
            try:
                longest = os.pathconf(path, "PC_NAME_MAX")
            except (OSError, ValueError):
                longest = 255
            if any(len(os.fsencode(name)) > longest for name in out.parts[len(path.parts):]):
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(out))
            return None
    return None


def _out_blocked(out: Path, name_at: str | None = None) -> bool:
    """Whether ``out`` (or a folder on its path) is a file, or cannot be looked at (a name longer than the
    file system allows), saying so on standard error; ``name_at`` (``file:line``) when ``out`` was made of
    the scenario's name rather than given as ``--out``."""
    try:
        blocker = _non_directory_on_path(out)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"{name_at}: name: cannot be used as the output folder name ({reason}); choose another name or "
              "give --out" if name_at is not None else f"{out}: --out: cannot use: {reason}", file=sys.stderr)
        return True
    if blocker is not None:
        what = "exists" if blocker == out else f"'{blocker}' exists"
        print(f"{out}: --out: {what} and is not a directory", file=sys.stderr)
    return blocker is not None


def _claim_out(out: Path, kind: str, planned: dict[str, Any], overwrite: bool,
               name_at: str | None = None, try_making: bool = False) -> tuple[str, ...] | None:
    """Check that a ``kind`` result from ``planned`` inputs may be written to folder ``out``, before anything
    runs (:func:`casesim.outputs.guard.check_directory`), saying why not on standard error. Returns what ``out`` holds
    now (:func:`casesim.outputs.guard.fingerprint`), for the writer to compare again just before it puts its result
    in place, or None if refused. A symbolic link is refused: replacing it would leave the folder it points to
    out of date while seeming to update it. Leftovers of this host's killed writers are cleared first, so
    the check sees a result one of them had moved aside. ``try_making``: also check that the folder can be
    made there (:func:`_cannot_make`), for commands that open it only once their runs are done."""
    from casesim.outputs.guard import check_directory, fingerprint
    from casesim.outputs.results import OutputDirectory

    if _out_blocked(out, name_at):   # (first: it also refuses a name the file system cannot take)
        return None
    if out.is_symlink():
        print(f"{out}: --out: is a symbolic link; give the folder itself ({out.resolve()})", file=sys.stderr)
        return None
    try:
        OutputDirectory.recover(out)
    except OSError as exc:
        _cannot_write(out, "--out", exc)
        return None
    if _refused(check_directory(out, kind, planned, overwrite)):
        return None
    if try_making and _cannot_make(out) is not None:
        return None
    return fingerprint(out)


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from casesim.outputs.collector import collector_off
    from casesim.outputs.results import OutputDirectory, run
    from casesim.scenario.schema import load_scenario

    if _seed_refused(args.seed):
        return EXIT_INPUT
    if args.parts < 1:
        print(f"--parts: must be at least 1 (got {args.parts})", file=sys.stderr)
        return EXIT_INPUT
    scenario, lines = load_scenario(args.scenario, args.set, allow_large=args.allow_large)
    if args.parts > 1:
        from casesim.outputs.split import SplitError, split_scenario

        try:
            split_scenario(scenario, args.parts)
        except SplitError as exc:
            print(f"{args.scenario}: {exc}", file=sys.stderr)
            return EXIT_INPUT
    file, line = lines.locate(("name",))
    where = file if line is None else f"{file}:{line}"
    if args.out:
        out = Path(args.out)
    elif _safe_folder_name(scenario.name):
        out = Path("results") / scenario.name
    else:  # "", ".", ".." or a path would write over (or outside) results/ itself
        print(f"{where}: name: {scenario.name!r} cannot be used as the output folder name; "
              "choose another name or give --out", file=sys.stderr)
        return EXIT_INPUT
    planned = {"scenario_file": args.scenario, "overrides": list(args.set),   # (as the manifest will say)
               "scenario_sha256": scenario.with_seed(args.seed).digest(),
               "seed": scenario.seed if args.seed is None else args.seed, "parts": args.parts}
    expect = _claim_out(out, "run", planned, args.overwrite, None if args.out else where)
    if expect is None:
        return EXIT_INPUT
    output = OutputDirectory(out, expect)
    try:   # made first: the event table is written into it while the metrics are computed
        output.open()
    except OSError as exc:
        return _cannot_write(out, "--out", exc)
    try:
        console = Console(stderr=True, quiet=args.quiet)
        ticks = math.ceil(scenario.time.horizon_days / scenario.time.tick_days)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("day {task.fields[day]:,.0f}"), TextColumn("{task.fields[events]:,} events"),
                      TimeElapsedColumn(), console=console, transient=True, disable=args.quiet) as progress:
            label = scenario.name if args.parts == 1 else f"{scenario.name} in {args.parts} parts (slowest)"
            task = progress.add_task(label, total=ticks, day=0, events=0)

            def parts_moved(days: list[float], events: list[int]) -> None:
                slowest = min(days)
                progress.update(task, completed=math.ceil(slowest / scenario.time.tick_days - 1e-9), day=slowest,
                                events=sum(events))

            with collector_off():   # this process is the CLI's own (casesim.outputs.collector)
                result = run(scenario, seed=args.seed, parts=args.parts, on_parts=parts_moved, keep_index=True,
                             output=output, on_step=lambda sim: progress.update(task, advance=1, day=sim.time,
                                                                                events=len(sim.log)))
        result.manifest["scenario_file"] = args.scenario
        result.manifest["overrides"] = list(args.set)
        try:
            result.write_into(output)
            written = output.close()
        except OSError as exc:
            return _cannot_write(out, "--out", exc)
        except OutputChanged as exc:
            print(exc, file=sys.stderr)
            return EXIT_INPUT
    finally:
        output.discard()   # nothing once closed; otherwise (an error, an interrupt) nothing is left behind
    if not args.quiet:
        s = result.summary
        table = Table(title=f"{scenario.name}: seed {result.seed}, days {s['warmup_days']:,.0f}-"
                      f"{s['horizon_days']:,.0f} measured"
                      + (f", {args.parts} independent parts" if args.parts > 1 else ""))
        table.add_column("Measure")
        table.add_column("Value", justify="right")
        for kpi in kpis.console():   # the KPIs with a short label, as casesim.metrics.kpis declares them
            if kpi.key in s:
                table.add_row(kpi.short, kpi.shown(s[kpi.key]))
        Console().print(table)
        print(f"results written to {written}/")
    else:   # on standard error: --quiet keeps standard output empty
        print(f"results written to {written}/", file=sys.stderr)
    _print_run_warnings(result.summary.get("run_warnings", []))   # even with --quiet: the figures mislead
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from casesim.scenario.schema import load_scenario

    scenario, _ = load_scenario(args.file, args.set, allow_large=args.allow_large)
    staff = sum(g.count for g in scenario.staff)
    print(f"{args.file}: valid scenario '{scenario.name}': {len(scenario.journey.stages)} stages, "
          f"{staff} staff, {len(scenario.providers)} providers, horizon {scenario.time.horizon_days:g} days")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from casesim.outputs.guard import check_file, is_casesim_schema
    from casesim.scenario.schema import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out and (_not_a_file(Path(args.out), "--out") or _refused(
            check_file(Path(args.out), is_casesim_schema, "a scenario schema", args.overwrite, "--out"))):
        return EXIT_INPUT
    if args.out:
        try:
            Path(args.out).write_text(text)
        except OSError as exc:
            return _cannot_write(args.out, "--out", exc)
    else:
        sys.stdout.write(text)
    return 0


def _refuse_unexpandable(experiment: str) -> None:
    """Raise ``ScenarioError`` if the experiment has more than :data:`SWEEP_RUN_LIMIT` runs, counted before
    the design is expanded: the limit ``--allow-large`` does not lift."""
    from casesim.scenario.yamlio import Problem
    from casesim.studies.experiment import design_size, load_experiment

    loaded = load_experiment(experiment)
    exp = loaded.experiment
    variants, runs = design_size(exp)
    if runs <= SWEEP_RUN_LIMIT:
        return
    where: tuple[str, ...] = ("sample", "count") if exp.sample is not None else ("factors",)
    if exp.replications > variants:
        where = ("replications",)
    file, line = loaded.lines.locate(where)
    raise ScenarioError([Problem(file, line, ".".join(where), (
        f"the sweep would be {runs:,} runs ({variants:,} variants x {exp.replications:,} replications); at most "
        f"{SWEEP_RUN_LIMIT:,} can be run, even with --allow-large: expanding more would exhaust memory; split it "
        "into several experiments"))])


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from casesim.studies.sweep import run_sweep

    if args.workers is not None and args.workers < 1:
        print(f"--workers: must be at least 1 (got {args.workers})", file=sys.stderr)
        return EXIT_INPUT
    if args.workers is not None and args.scheduler:
        print("--workers: applies to the local cluster; an existing scheduler (--scheduler) has its own workers",
              file=sys.stderr)
        return EXIT_INPUT
    if not args.allow_large:   # the run count before the design is expanded, then every run's size
        from casesim.studies.experiment import check_sweep_size

        check_sweep_size(args.experiment)
    else:
        _refuse_unexpandable(args.experiment)
    console = Console(stderr=True, quiet=args.quiet)
    bar = Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("done {task.fields[done]:,}, failed {task.fields[failed]:,}, "
                              "remaining {task.fields[remaining]:,}"),
                   TimeElapsedColumn(), console=console, disable=args.quiet)

    class _Bar:  # shown only once the experiment is valid and the runs are known
        task: Any = None
        started = False

        def start(self, total: int, done: int) -> None:
            bar.start()
            self.started = True
            self.task = bar.add_task("runs", total=total, completed=done, done=done, failed=0,
                                     remaining=total - done)

        def update(self, done: int, failed: int, remaining: int) -> None:
            bar.update(self.task, completed=done + failed, done=done, failed=failed, remaining=remaining)

    shown = _Bar()
    try:
        outcome = run_sweep(args.experiment, out=args.out, workers=args.workers, scheduler=args.scheduler,
                            fresh=args.fresh, progress=shown)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:   # the summaries or the manifest could not be written (a full disk, say)
        return _cannot_write(exc.filename or args.out or "results/sweeps", "--out", exc)
    finally:
        if shown.started:
            bar.stop()
    for path, problem in sorted(outcome.redone.items()):
        print(f"{path}: {problem}; its run was made again", file=sys.stderr)
    for run_id, error in sorted(outcome.errors.items()):
        print(f"run {run_id} failed: {error}", file=sys.stderr)
    if not args.quiet:
        print(f"{outcome.done} of {outcome.total} runs done ({outcome.skipped} from before), {outcome.failed} failed; "
              f"results in {outcome.out}/ (summary.csv, summary.parquet, sweep.html)")
    else:
        print(f"results in {outcome.out}/", file=sys.stderr)
    return 0 if outcome.failed == 0 else 1


def _run_study(args: argparse.Namespace, runner: Any, path: str, default_out: str, what: str,
               tables: Callable[[Any], list[Any]], files: str) -> int:
    """Run a study of many runs on Dask (``casesim sensitivity``, ``casesim robustness``): check the worker
    options, show a progress bar once the study and every point are valid, run or resume it with ``runner``,
    and report failed runs, the tables and where the results are (``what``: what a failed run leaves out)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if args.workers is not None and args.workers < 1:
        print(f"--workers: must be at least 1 (got {args.workers})", file=sys.stderr)
        return EXIT_INPUT
    if args.workers is not None and args.scheduler:
        print("--workers: applies to the local cluster; an existing scheduler (--scheduler) has its own workers",
              file=sys.stderr)
        return EXIT_INPUT
    bar = Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("done {task.fields[done]:,}, failed {task.fields[failed]:,}"),
                   TimeElapsedColumn(), console=Console(stderr=True, quiet=args.quiet), disable=args.quiet)

    class _Bar:  # shown only once the study and every point are valid
        task: Any = None
        started = False

        def start(self, total: int, done: int) -> None:
            bar.start()
            self.started = True
            self.task = bar.add_task("runs", total=total, completed=done, done=done, failed=0)

        def update(self, done: int, failed: int, remaining: int) -> None:
            bar.update(self.task, completed=done + failed, done=done, failed=failed)

    shown = _Bar()
    try:
        outcome = runner(path, out=args.out, workers=args.workers, scheduler=args.scheduler, fresh=args.fresh,
                         quick=args.quick, allow_large=args.allow_large, progress=shown)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:   # the outputs or the manifest could not be written (a full disk, say)
        return _cannot_write(exc.filename or args.out or default_out, "--out", exc)
    finally:
        if shown.started:
            bar.stop()
    for where, problem in sorted(outcome.redone.items()):
        print(f"{where}: {problem}; its run was made again", file=sys.stderr)
    for run_id, error in sorted(outcome.errors.items()):
        print(f"run {run_id} failed: {error}", file=sys.stderr)
    if outcome.result is None:
        print(f"{outcome.failed} of {outcome.total} runs failed: no {what} (they need every point); run the same "
              f"command again to retry them; runs in {outcome.out}/", file=sys.stderr)
        return 1
    if not args.quiet:
        console = stdout_console()
        for table in tables(outcome.result):
            console.print(table)
        print(f"{outcome.done} of {outcome.total} runs done ({outcome.skipped} from before); results in "
              f"{outcome.out}/ ({files})")
    else:
        print(f"results in {outcome.out}/", file=sys.stderr)
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """Morris or Sobol indices of the KPIs an experiment names (see casesim/studies/sensitivity.py)."""
    from casesim.studies.sensitivity import console_tables, run_sensitivity

    return _run_study(args, run_sensitivity, args.experiment, "results/sensitivity", "indices", console_tables,
                      "indices.json, indices.csv, points.csv, sensitivity.html")


def cmd_robustness(args: argparse.Namespace) -> int:
    """Share of the sampled parameter space in which A beats B, per KPI (see casesim/studies/robustness.py)."""
    from casesim.studies.robustness import console_table, run_robustness

    return _run_study(args, run_robustness, args.study, "results/robustness", "shares",
                      lambda result: [console_table(result)],
                      "robustness.json, robustness.csv, samples.csv, robustness.html")


class _Unreadable(Exception):
    """A file of a result directory that cannot be read: ``str()`` is ``PATH: problem``."""


def _read_result_file(path: Path, read: Any) -> Any:
    """``read(path)``, any failure (a truncated JSON file, a damaged Parquet file) raised as :class:`_Unreadable`."""
    try:
        return read(path)
    except Exception as exc:   # (whatever the reader raises, the problem is the file's)
        lines = str(exc).strip().splitlines()
        raise _Unreadable(f"{path}: cannot read it ({lines[0] if lines else type(exc).__name__})") from None


def _json_object(path: Path) -> dict[str, Any]:
    from casesim.scenario.yamlio import read_input  # (a regular file of at most 1 MiB: not a pipe, not /dev/zero)

    data = json.loads(read_input(path))
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    return data


def _parquet(path: Path) -> Any:
    """A Parquet file of a result, read only if it is a regular file (a named pipe would wait for ever, a
    device such as ``/dev/zero`` never end)."""
    import os

    import pandas as pd

    from casesim.scenario.yamlio import not_regular

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        problem = not_regular(os.fstat(file.fileno()).st_mode)   # (of what was opened)
        if problem is not None:
            raise ValueError(problem)
        return pd.read_parquet(file)


def _not_a_file(path: Path, option: str) -> bool:
    """Whether output file ``path`` exists and is not a regular file (a named pipe would hang the command,
    a device never fill, a directory cannot be one), or cannot be looked at (a name too long for the file
    system), saying so on standard error: asked before anything reads or writes it."""
    import stat

    try:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:   # (a name too long below a missing folder is not found before it is made)
            _non_directory_on_path(path)
            return False
    except OSError as exc:
        print(f"{path}: {option}: cannot use: {exc.strerror or exc}", file=sys.stderr)
        return True
    if stat.S_ISREG(mode):
        return False
    print(f"{path}: {option}: exists and is not a regular file", file=sys.stderr)
    return True


def cmd_costs(args: argparse.Namespace) -> int:
    """Cost and FTE workbook from a result directory, or from a scenario run now."""
    from casesim.metrics.costs import is_casesim_workbook, write_workbook
    from casesim.outputs.guard import check_file
    from casesim.scenario.schema import load_scenario

    if _seed_refused(args.seed) or _not_a_file(Path(args.xlsx), "--xlsx") or _refused(
            check_file(Path(args.xlsx), is_casesim_workbook, "a workbook", args.overwrite, "--xlsx")):
        return EXIT_INPUT   # (before a scenario given as the source is run)
    src = Path(args.source)
    try:
        is_result = src.is_dir()
    except OSError:   # (a name too long: said as the scenario file's problem below)
        is_result = False
    if is_result:
        resolved = src / "scenario.resolved.yaml"
        missing = [n for n in ("scenario.resolved.yaml", "summary.json", "costs.parquet", "fte.parquet")
                   if not (src / n).exists()]
        if missing:
            print(f"{src}: not a complete result directory (missing {', '.join(missing)}); re-run it with "
                  "`casesim run`", file=sys.stderr)
            return EXIT_INPUT
        from casesim.metrics.costs import COST_COLUMNS, FTE_COLUMNS, missing_columns

        scenario, _ = load_scenario(resolved)
        try:
            costs, fte = _read_result_file(src / "costs.parquet", _parquet), _read_result_file(
                src / "fte.parquet", _parquet)
            summary = _read_result_file(src / "summary.json", _json_object)
        except _Unreadable as exc:
            print(f"{exc}; re-run the result with `casesim run`", file=sys.stderr)
            return EXIT_INPUT
        for name, table, columns, what in (("costs.parquet", costs, COST_COLUMNS, "a cost table"),
                                           ("fte.parquet", fte, FTE_COLUMNS, "an FTE table")):
            lacking = missing_columns(table, columns)
            if lacking:
                print(f"{src / name}: not {what} of casesim (missing columns {', '.join(lacking)}); re-run it "
                      "with `casesim run`", file=sys.stderr)
                return EXIT_INPUT
    else:
        from casesim.outputs.results import run

        scenario, _ = load_scenario(args.source, args.set, allow_large=args.allow_large)
        result = run(scenario, seed=args.seed)
        scenario, costs, fte, summary = result.scenario, result.costs, result.fte, result.summary
    try:
        written = write_workbook(args.xlsx, costs, fte, summary, scenario)
    except OSError as exc:
        return _cannot_write(args.xlsx, "--xlsx", exc)
    cur = summary.get("currency", "")
    shown = {k: kpis.BY_KEY[k].shown(summary.get(k)) for k in ("cost_per_case_year", "fte_required", "fte_available")}
    print(f"cost per case-year {shown['cost_per_case_year']} {cur}; FTE required "
          f"{shown['fte_required']} against {shown['fte_available']} "
          f"available; workbook written to {written}")
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    """Fewest case managers in a group meeting a KPI target (see casesim/studies/staffing_solver.py)."""
    from casesim.scenario.schema import load_scenario
    from casesim.studies.staffing_solver import Target, format_value, solve, write_outputs

    try:
        target = Target.parse(args.target)
    except ValueError as exc:
        print(f"--target: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if not args.allow_large and _too_many_runs(args.replications, "each staff count tried would be"):
        return EXIT_INPUT
    base, _ = load_scenario(args.scenario, args.set, allow_large=args.allow_large)
    out = Path(args.out) if args.out else Path("results") / "staffing"
    # what decides the answer (casesim.outputs.guard): an existing folder of other inputs is refused before any run
    inputs = {"scenario_file": args.scenario, "overrides": list(args.set), "scenario_sha256": base.digest(),
              "target": f"{target.kpi}{target.op}{target.value!r}", "replications": args.replications,
              "group": args.group, "setting": None if args.group else args.setting}
    expect = _claim_out(out, "staffing", inputs, args.overwrite, try_making=True)
    if expect is None:
        return EXIT_INPUT

    def show(c: Any) -> None:
        if not args.quiet:
            mean, low, high = (format_value(target.kpi, x) for x in (c.mean, c.low, c.high))
            print(f"  {c.staff:>5} staff: {target.kpi} = {mean} (95% CI {low} to {high}), "
                  f"{'meets' if c.meets else 'misses'} the target", file=sys.stderr)

    try:
        sol = solve(args.scenario, target, replications=args.replications, setting=args.setting, group=args.group,
                    overrides=args.set, on_candidate=show)
    except (ValueError, KeyError) as exc:
        print(str(exc).strip("'\""), file=sys.stderr)
        return EXIT_INPUT
    try:
        csv, html = write_outputs(sol, out, inputs, expect=expect)
    except OSError as exc:
        return _cannot_write(out, "--out", exc)
    except OutputChanged as exc:
        print(exc, file=sys.stderr)
        return EXIT_INPUT
    stdout_console().print(sol.console_table())
    if sol.answer is None:
        print(f"no staff count up to the search limit meets {args.target}; curve in {csv} and {html}")
        return 1
    print(f"{sol.group}: {sol.answer} staff meet {args.target} with 95% confidence over {args.replications} "
          f"replications ({sol.answer - 1} do not); curve in {csv} and {html}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Several scenarios under common random numbers: means and paired differences (see casesim/studies/compare.py)."""
    import os

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from casesim.studies.compare import (
        compare,
        console_table,
        default_out,
        load_entries,
        side_by_side_console,
        write_outputs,
    )

    for flag, value, low in (("--replications", args.replications, 2), ("--workers", args.workers, 1)):
        if value is not None and value < low:
            need = "need at least 2 for a confidence interval" if flag == "--replications" else \
                f"must be at least {low}"
            print(f"{flag}: {need} (got {value})", file=sys.stderr)
            return EXIT_INPUT
    if _seed_refused(args.seed) or (not args.allow_large and _too_many_runs(
            len(args.scenarios) * args.replications,
            f"{len(args.scenarios)} scenarios x {args.replications:,} replications are")):
        return EXIT_INPUT
    # every file checked (and sized) before anything runs
    entries = load_entries(args.scenarios, args.set, allow_large=args.allow_large, cohort=args.cohort)
    out = Path(args.out) if args.out else default_out([e.label for e in entries])
    planned = {"scenarios": [{"file": e.path, "scenario_sha256": e.scenario.digest()} for e in entries],
               "overrides": list(args.set),
               "master_seed": entries[0].scenario.seed if args.seed is None else args.seed,
               "replications": args.replications}
    expect = _claim_out(out, "compare", planned, args.overwrite, try_making=True)
    if expect is None:
        return EXIT_INPUT
    console = Console(stderr=True, quiet=args.quiet)
    total = len(entries) * args.replications
    with Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.quiet) as progress:
        task = progress.add_task("runs", total=total)
        comp = compare(entries, replications=args.replications, seed=args.seed, overrides=args.set,
                       workers=args.workers or os.cpu_count() or 1, on_done=lambda: progress.update(task, advance=1),
                       cohort=args.cohort)
    try:
        written = write_outputs(comp, out, expect=expect)
    except OSError as exc:
        return _cannot_write(out, "--out", exc)
    except OutputChanged as exc:
        print(exc, file=sys.stderr)
        return EXIT_INPUT
    if not args.quiet:
        stdout_console().print(console_table(comp))
        if args.cohort:   # the map of choices beside the results (docs/jurisdictions.md)
            stdout_console().print(side_by_side_console(comp))
    print(f"results written to {written}/ (compare.csv, compare.html)")
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    """Linked services with transfers of measures between them (see casesim/studies/linked.py)."""
    from rich.table import Table

    from casesim.scenario.linked import load_linked
    from casesim.studies.linked import STEPS, run_linked

    if _seed_refused(args.seed):
        return EXIT_INPUT
    spec = load_linked(args.linked, args.seed)   # (every file checked before anything runs)
    out = Path(args.out) if args.out else Path("results") / f"linked-{Path(args.linked).stem}"
    planned = {"services_sha256": [s.digest() for s in spec.services.values()], "seed": spec.seed}
    expect = _claim_out(out, "linked", planned, args.overwrite, try_making=True)
    if expect is None:
        return EXIT_INPUT
    linked = run_linked(args.linked, args.seed)
    linked.manifest["services_sha256"] = planned["services_sha256"]
    from casesim.outputs.results import OutputDirectory
    try:
        with OutputDirectory(out, expect) as output:
            linked.write(output.tmp)
    except OSError as exc:
        return _cannot_write(out, "--out", exc)
    except OutputChanged as exc:
        print(exc, file=sys.stderr)
        return EXIT_INPUT
    if not args.quiet:
        table = Table(title="Linked services")
        table.add_column("KPI")
        for name in linked.results:
            table.add_column(name, justify="right")
        for k in kpis.headline():
            table.add_row(k.label, *(k.shown(r.summary.get(k.key), compact=True) for r in linked.results.values()))
        stdout_console().print(table)
        moves = Table(title="Transfers (one column a rule)")
        moves.add_column("")
        for row in linked.transfers:
            moves.add_column(f"{row['from']} -> {row['to']}", justify="right")
        for step in (*STEPS, "taken_on"):
            moves.add_row(step.replace("_", " "), *(f"{row[step]:,}" for row in linked.transfers))
        for key, label in (("mean_days_request_to_decision", "days from request to decision (mean)"),
                           ("mean_days_request_to_taken_on", "days from request to taken on (mean)")):
            moves.add_row(label, *("n/a" if row[key] is None else f"{row[key]:.0f}" for row in linked.transfers))
        for group, label in (("transferred", "completed: transferred"),
                             ("stayed_in_sending_service", "completed: stayed where sentenced"),
                             ("receiving_service_own", "completed: receiving service's own")):
            moves.add_row(label, *(kpis.format_value(row["outcomes"][group]["completed_share"], "%")
                                   for row in linked.transfers))
        stdout_console().print(moves)
    print(f"results written to {out}/ (one folder a service, transfers.json)")
    return 0


def _study_options(p: argparse.ArgumentParser, out_default: str, what: str, quiet: str) -> None:
    """The options of a study of many runs on Dask (sweep, sensitivity, robustness): where it runs
    (``--workers``, ``--scheduler``), where it writes (``--out``, default ``out_default``), starting over
    (``--fresh``, after the ``what`` file changed), ``--quiet`` (help ``quiet``) and ``--allow-large``."""
    p.add_argument("--workers", type=int, metavar="N",
                   help="workers of the local Dask cluster (default: the number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--out", metavar="DIR", help=f"output directory (default {out_default})")
    p.add_argument("--fresh", action="store_true", help="discard the runs of an earlier study in --out and start "
                   f"over (needed after the {what} file changed), or replace another kind of casesim result "
                   "there; a folder that is not a casesim result is never replaced")
    p.add_argument("--quiet", action="store_true", help=quiet)
    _allow_large(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casesim", description="Simulate correctional case management.")
    from casesim.version import __version__
    parser.add_argument("--version", action="version", version=f"casesim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a scenario and write its results")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--out", help="output directory (default results/<scenario name>/)")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set arrivals.rate_per_day=12 (repeatable)")
    p.add_argument("--parts", type=int, default=1, metavar="N",
                   help="run a large service as N independent parts in parallel processes and merge them "
                        "(a regional split: see docs/performance-overview.md; default 1, one undivided service)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table (where the results "
                   "went is still said, on standard error)")
    p.add_argument("--overwrite", action="store_true", help="replace the folder even if it holds a casesim "
                   "result made from other inputs (another scenario, seed, --set or --parts) or of another kind; "
                   "a folder that is not a casesim result is never replaced")
    _allow_large(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a scenario file")
    p.add_argument("file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    _allow_large(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("sweep", help="run every variant and replication of an experiment on Dask")
    p.add_argument("experiment", help="experiment YAML file (see experiments/)")
    _study_options(p, "results/sweeps/<experiment name>/", "experiment", "no progress bar and no closing line")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("sensitivity", help="Morris screening or Sobol indices: which assumptions drive each KPI "
                       "(runs on Dask like sweep, resumable)")
    p.add_argument("experiment", help="sensitivity experiment YAML file (see experiments/sensitivity_quick.yaml)")
    p.add_argument("--quick", action="store_true", help="the method's small sample (its 'quick' size) instead of "
                   "the full one; written to <out>-quick by default")
    _study_options(p, "results/sensitivity/<experiment name>/", "experiment", "no progress bar and no tables")
    p.set_defaults(func=cmd_sensitivity)

    p = sub.add_parser("robustness", help="robustness of a comparison: in what share of the sampled parameter "
                       "space scenario A beats B on each KPI (runs on Dask like sweep, resumable)")
    p.add_argument("study", help="robustness study YAML file (see experiments/robustness_patch_vs_task.yaml)")
    p.add_argument("--quick", action="store_true", help="the sample's small size (its 'quick') instead of n; "
                   "written to <out>-quick by default")
    _study_options(p, "results/robustness/<study name>/", "study", "no progress bar and no table")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("costs", help="cost and staffing workbook (xlsx) of a result directory or a scenario")
    p.add_argument("source", help="result directory (of `casesim run`) or scenario YAML file (run first)")
    p.add_argument("--xlsx", required=True, help="workbook to write")
    p.add_argument("--seed", type=int, help="random seed when running a scenario (default: the scenario's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario value")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --xlsx file that casesim did not "
                   "write (one it wrote is replaced without asking)")
    _allow_large(p)
    p.set_defaults(func=cmd_costs)

    p = sub.add_parser("staff", help="fewest case managers in a staff group that meet a KPI target")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--target", required=True, help='e.g. "share_manager_time_over_capacity<=0.1" or '
                   '"mean_caseload<=40" (also >=)')
    p.add_argument("--replications", type=int, default=5, help="runs per candidate, seeds base+0..R-1 (default 5)")
    p.add_argument("--setting", default="community", help="setting whose first group is solved (default community)")
    p.add_argument("--group", help="staff group name to solve (overrides --setting)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set time.horizon_days=730 to go faster")
    p.add_argument("--out", help="output directory (default results/staffing/)")
    p.add_argument("--quiet", action="store_true", help="no line per candidate")
    p.add_argument("--overwrite", action="store_true", help="replace the folder even if it holds a casesim "
                   "result made from other inputs (scenario, --set, --target, --replications, --group or "
                   "--setting) or of another kind; a folder that is not a casesim result is never replaced")
    _allow_large(p)
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser("compare", help="run several scenarios with common random numbers and compare their KPIs")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario YAML files; the first is the reference")
    p.add_argument("--replications", type=int, default=5, help="runs per scenario, the same seeds in every "
                   "scenario (default 5)")
    p.add_argument("--seed", type=int, help="master seed of the replication seeds (default: the first scenario's)")
    p.add_argument("--out", help="output directory (default results/compare-<names>/)")
    p.add_argument("--workers", type=int, help="processes running the runs in parallel (default: the number of "
                   "cores; 1 runs everything in this process)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value in every scenario, e.g. --set time.horizon_days=730 (repeatable)")
    p.add_argument("--cohort", metavar="COHORT.yaml", help="run every scenario (a jurisdiction profile) with the "
                   "people of this cohort file: its seed, time, patches, arrivals and initial population replace "
                   "each profile's (docs/jurisdictions.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument("--overwrite", action="store_true", help="replace the folder even if it holds a casesim "
                   "result made from other inputs (scenarios, --set, --seed or --replications) or of another "
                   "kind; a folder that is not a casesim result is never replaced")
    _allow_large(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("link", help="run linked services with transfers of measures between them")
    p.add_argument("linked", metavar="LINKED.yaml", help="linked file: the services (scenario files) and transfer "
                   "rules (docs/jurisdictions.md#transfers-between-services)")
    p.add_argument("--seed", type=int, help="the linked run's seed (default: the file's); each service's is "
                   "derived from it and the service's name")
    p.add_argument("--out", help="output directory (default results/linked-<file name>/)")
    p.add_argument("--quiet", action="store_true", help="no tables")
    p.add_argument("--overwrite", action="store_true", help="replace the folder even if it holds a casesim "
                   "result made from other inputs or of another kind; a folder that is not a casesim result is "
                   "never replaced")
    p.set_defaults(func=cmd_link)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file that is not a "
                   "schema casesim wrote (one it wrote is replaced without asking)")
    p.set_defaults(func=cmd_schema)

    from casesim.studies.check import add_parser as add_check_parser  # `casesim check` (see casesim/studies/check.py)
    add_check_parser(sub)
    from casesim.app import add_parser as add_app_parser  # `casesim app` (see casesim/app/)
    add_app_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ScenarioError as err:
        return _input_error(err)
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
