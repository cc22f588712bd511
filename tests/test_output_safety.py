"""What the writing commands may write over, and what they leave behind.

A folder that is not a casesim result is never replaced; a casesim result of another kind, or made from
other inputs, is replaced only with ``--overwrite``, and the refusal comes before anything is simulated;
the same command again replaces its own result. Single files (the workbook, the schema) are replaced
only when casesim wrote them. A result's ``scenario.resolved.yaml`` runs again to the same bytes. The
temporary folders of processes killed outright are cleared by the next process of the same host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from casesim.outputs import results, split
from casesim.outputs.results import OutputDirectory
from casesim.outputs.temporaries import host_tag
from casesim.studies import compare as compare_module
from casesim.studies import staffing_solver, sweep
from tests.test_cli import BASELINE, OUTPUT_FILES, ROOT, TINY, cli

SETS = " ".join(f"--set {kv}" for kv in TINY[1::2])   # TINY as a manifest's description gives it
NOT_OURS = ("{out}: --out: exists and is not a casesim result (no manifest.json written by casesim); it was left "
            "as it is: give another --out, a new or an empty folder")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def never(*_a: object, **_k: object) -> None:
    raise AssertionError("a simulation started")


def notes_folder(tmp_path: Path) -> Path:
    notes = tmp_path / "my-notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep")
    (notes / "manifest.json").write_text('{"name": "a manifest of somebody else"}')
    return notes


def dead_pid() -> int:
    """The id of a process of this host that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- folders that are not casesim's


@pytest.mark.parametrize("command", ["run", "compare", "staff"])
def test_a_folder_that_is_not_a_casesim_result_is_left_untouched_even_with_overwrite(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    notes = notes_folder(tmp_path)
    before = snapshot(notes)
    monkeypatch.setattr(results, "run", never)
    monkeypatch.setattr(compare_module, "compare", never)
    monkeypatch.setattr(staffing_solver, "solve", never)
    argv = {"run": ["run", BASELINE], "compare": ["compare", BASELINE, BASELINE, "--replications", "2"],
            "staff": ["staff", BASELINE, "--target", "mean_caseload<=40"]}[command]
    for extra in ([], ["--overwrite"]):
        code, out, err = cli(capsys, *argv, *TINY, "--out", notes, "--quiet", *extra)
        assert (code, out, err) == (2, "", NOT_OURS.format(out=notes) + "\n")
    assert snapshot(notes) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-notes"]   # no temporary folder either


def test_an_empty_folder_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet")
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES


# --------------------------------------------------------------------------- results of other inputs


def test_a_run_of_other_inputs_is_refused_before_simulating_and_the_same_run_replaces_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "baseline"
    code, stdout, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "1", "--out", out, "--quiet")
    assert (code, stdout) == (0, "")
    assert err.splitlines()[-1] == f"results written to {out}/"   # --quiet still says where, on stderr
    first = snapshot(out)
    with monkeypatch.context() as m:
        m.setattr(results, "run", never)
        code, stdout, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "2", "--set", "staff.0.count=60",
                                "--out", out, "--quiet")
    assert (code, stdout) == (2, "")
    assert err == (f"{out}: --out: holds a run result made from other inputs (the scenario (file and --set values) "
                   f"differs: {BASELINE} {SETS} there, {BASELINE} {SETS} --set staff.0.count=60 now; seed 1 there, "
                   "2 now); give --overwrite to replace it, or another --out to keep both\n")
    assert snapshot(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline"]
    # the same command again replaces the result with the same one
    assert cli(capsys, "run", BASELINE, *TINY, "--seed", "1", "--out", out, "--quiet")[0] == 0
    again = snapshot(out)
    assert again["summary.json"][0] == first["summary.json"][0]
    assert again["summary.json"][1] != first["summary.json"][1], "not written again"
    # a seed alone is a difference too, named as such
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "3", "--out", out, "--quiet")
    assert code == 2 and err.startswith(f"{out}: --out: holds a run result made from other inputs (seed 1 there, "
                                        "3 now);")
    # --overwrite replaces it
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "2", "--set", "staff.0.count=60", "--out", out,
                       "--quiet", "--overwrite")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


def test_the_parts_of_a_split_run_are_among_its_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "split"
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--parts", "2", "--out", out, "--quiet")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["kind"], manifest["parts"]) == ("run", 2)
    assert manifest["rerun"] == "casesim run scenario.resolved.yaml --parts 2"
    # the resolved scenario is the same scenario (same SHA-256, same seed): only the split differs
    code, _, err = cli(capsys, "run", out / "scenario.resolved.yaml", "--out", out, "--quiet")
    assert (code, err) == (2, f"{out}: --out: holds a run result made from other inputs (--parts 2 there, 1 now); "
                              "give --overwrite to replace it, or another --out to keep both\n")


def test_one_kind_of_result_does_not_replace_another_without_overwrite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet")[0] == 0
    before = snapshot(out)
    compare_argv = ["compare", BASELINE, BASELINE, *TINY, "--replications", "2", "--workers", "1", "--out", out,
                    "--quiet"]
    with monkeypatch.context() as m:
        m.setattr(compare_module, "compare", never)
        m.setattr(staffing_solver, "solve", never)
        assert cli(capsys, *compare_argv) == (2, "", f"{out}: --out: holds a casesim run result, not a compare "
                                                     "result; give --overwrite to replace it, or another --out to "
                                                     "keep it\n")
        code, _, err = cli(capsys, "staff", BASELINE, *TINY, "--target", "mean_caseload<=40", "--out", out)
        assert (code, err) == (2, f"{out}: --out: holds a casesim run result, not a staffing result; give "
                                  "--overwrite to replace it, or another --out to keep it\n")
    assert snapshot(out) == before
    code, _, err = cli(capsys, *compare_argv, "--overwrite")
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["kind"] == "compare"
    assert cli(capsys, *compare_argv)[0] == 0   # the same comparison again
    with monkeypatch.context() as m:
        m.setattr(compare_module, "compare", never)
        code, _, err = cli(capsys, *compare_argv, "--seed", "5")
    seed = json.loads((out / "manifest.json").read_text())["master_seed"]
    assert (code, err) == (2, f"{out}: --out: holds a compare result made from other inputs (master seed {seed} "
                              "there, 5 now); give --overwrite to replace it, or another --out to keep both\n")
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet")
    assert code == 2 and "holds a casesim compare result, not a run result" in err


def test_staff_checks_its_folder_before_the_search_and_replaces_only_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "staffing"

    def staff(target: str) -> list[Any]:
        return ["staff", BASELINE, *TINY, "--target", target, "--replications", "2", "--quiet", "--out", out]

    argv = staff("mean_caseload<=1000")
    with monkeypatch.context() as m:   # an unwritable place is said before any simulation
        m.setattr(staffing_solver, "solve", never)
        m.setattr(OutputDirectory, "open", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
        assert cli(capsys, *argv) == (2, "", f"{out}: --out: cannot write: Permission denied\n")
    assert list(tmp_path.iterdir()) == []
    code, stdout, err = cli(capsys, *argv)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["kind"], manifest["target"], manifest["replications"]) == ("staffing", "mean_caseload<=1000.0", 2)
    assert {p.name for p in out.iterdir()} == {"manifest.json", "staffing_curve.csv", "staffing_curve.html"}
    before = snapshot(out)
    with monkeypatch.context() as m:
        m.setattr(staffing_solver, "solve", never)
        code, _, err = cli(capsys, *staff("mean_caseload<=999"))
    assert (code, err) == (2, f"{out}: --out: holds a staffing result made from other inputs (--target "
                              "mean_caseload<=1000.0 there, mean_caseload<=999.0 now); give --overwrite to replace "
                              "it, or another --out to keep both\n")
    assert snapshot(out) == before


def test_a_staffing_search_that_fails_after_the_check_leaves_no_results_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)   # the default --out, results/staffing, where no results/ exists yet
    code, _, err = cli(capsys, "staff", BASELINE, *TINY, "--target", "complience_rate>=0.8", "--replications", "2",
                       "--quiet")
    assert code == 2 and "did you mean" in err
    assert list(tmp_path.iterdir()) == [], "the writability check must not leave results/ behind"


# --------------------------------------------------------------------------- the resolved scenario


def test_the_resolved_scenario_reruns_to_the_same_bytes_whatever_seed_and_sets_were_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "11", "--set", "staff.0.count=30",
                       "--set", "population_scale=0.5", "--out", first, "--quiet")
    assert code == 0, err
    resolved = first / "scenario.resolved.yaml"
    assert "\nseed: 11\n" in resolved.read_text()
    code, _, err = cli(capsys, "run", resolved, "--out", second, "--quiet")
    assert code == 0, err
    for name in ("summary.json", "timeseries.parquet", "cases.parquet", "events.parquet", "costs.csv",
                 "scenario.resolved.yaml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert json.loads((second / "manifest.json").read_text())["seed"] == 11
    # the workbook's assumptions give the run's seed, from the result folder as from the scenario run at once
    from openpyxl import load_workbook

    older = tmp_path / "older"   # a result of an earlier casesim, whose resolved scenario kept the file's seed
    older.mkdir()
    for name in ("summary.json", "costs.parquet", "fte.parquet"):
        (older / name).write_bytes((first / name).read_bytes())
    (older / "scenario.resolved.yaml").write_text(resolved.read_text().replace("\nseed: 11\n", "\nseed: 20261122\n"))
    for source, extra in ((first, []), (BASELINE, [*TINY, "--seed", "11"]), (older, [])):
        book = tmp_path / "book.xlsx"
        assert cli(capsys, "costs", source, *extra, "--xlsx", book)[0] == 0
        rows = {r[0]: r[1] for r in load_workbook(book)["assumptions"].iter_rows(values_only=True)}
        assert rows["seed"] == 11, source


# --------------------------------------------------------------------------- single files


def test_costs_replaces_only_a_workbook_casesim_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", run_dir, "--quiet")[0] == 0
    book = tmp_path / "budget.xlsx"
    book.write_bytes(b"somebody's spreadsheet")
    with monkeypatch.context() as m:
        m.setattr(results, "run", never)   # the check comes before a scenario given as the source is run
        for source in (run_dir, BASELINE):
            assert cli(capsys, "costs", source, "--xlsx", book) == (
                2, "", f"{book}: --xlsx: exists and is not a workbook written by casesim; it was left as it is: "
                       "give --overwrite to replace it, or another --xlsx\n")
    assert book.read_bytes() == b"somebody's spreadsheet"
    assert cli(capsys, "costs", run_dir, "--xlsx", book, "--overwrite")[0] == 0
    written = book.read_bytes()
    assert written.startswith(b"PK")
    assert cli(capsys, "costs", run_dir, "--xlsx", book)[0] == 0   # its own: replaced without asking
    from openpyxl import load_workbook

    assert load_workbook(book).properties.creator == "casesim"


@pytest.mark.parametrize(("name", "damage", "problem"), [
    ("summary.json", lambda p: p.write_text(p.read_text()[:40]), "cannot read it (Expecting "),
    ("summary.json", lambda p: p.write_text("[]"), "cannot read it (a JSON list, not an object)"),
    ("costs.parquet", lambda p: p.write_bytes(p.read_bytes()[:200]), "cannot read it ("),
    ("fte.parquet", lambda p: p.write_bytes(b""), "cannot read it ("),
], ids=["truncated-json", "json-list", "truncated-parquet", "empty-parquet"])
def test_costs_names_a_damaged_file_of_a_result(name: str, damage: Any, problem: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", run_dir, "--quiet")[0] == 0
    damage(run_dir / name)
    book = tmp_path / "book.xlsx"
    code, out, err = cli(capsys, "costs", run_dir, "--xlsx", book)
    assert (code, out) == (2, "")
    assert err.startswith(f"{run_dir / name}: {problem}") and err.endswith(
        "; re-run the result with `casesim run`\n") and err.count("\n") == 1, err
    assert not book.exists()


def test_schema_replaces_only_a_schema_casesim_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schema.json"
    target.write_text('{"title": "my other schema"}')
    assert cli(capsys, "schema", "--out", target) == (
        2, "", f"{target}: --out: exists and is not a scenario schema written by casesim; it was left as it is: "
               "give --overwrite to replace it, or another --out\n")
    assert target.read_text() == '{"title": "my other schema"}'
    assert cli(capsys, "schema", "--out", target, "--overwrite") == (0, "", "")
    assert json.loads(target.read_text())["title"] == "casesim scenario"
    target.write_text(target.read_text().replace('"description"', '"description_was"', 1))
    assert cli(capsys, "schema", "--out", target) == (0, "", "")   # its own: replaced without asking
    assert '"description_was"' not in target.read_text()


# --------------------------------------------------------------------------- sweeps


def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(f"""\
        scenario: {BASELINE}
        set: {json.dumps(TINY[1::2])}
        name: tiny
        factors:
          staff.0.count: [20, 40]
        replications: 1
        seed: 7
        """))
    return path


def in_process(design: Any, out: Path, pending: list[Any], manifest: Any, *_: Any) -> None:
    """The sweep's runs made here, one after the other, instead of on a Dask cluster."""
    for task in sweep._tasks(design, out, pending):
        sweep.run_part(task)
        manifest.set(task["id"], sweep.DONE)


def test_sweep_refuses_what_is_not_a_sweep_and_says_when_it_cannot_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(tmp_path)
    monkeypatch.setattr(sweep, "_execute", never)
    notes = notes_folder(tmp_path)
    before = snapshot(notes)
    for extra in ([], ["--fresh"]):
        assert cli(capsys, "sweep", exp, "--out", notes, "--quiet", *extra) == (2, "", NOT_OURS.format(out=notes)
                                                                                + "\n")
    assert snapshot(notes) == before
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", run_dir, "--quiet")[0] == 0
    before = snapshot(run_dir)
    assert cli(capsys, "sweep", exp, "--out", run_dir, "--quiet") == (
        2, "", f"{run_dir}: --out: holds a casesim run result, not a sweep; give --fresh to replace it, or another "
               "--out to keep it\n")
    assert snapshot(run_dir) == before
    blocked = tmp_path / "blocked"

    def refused(self: Path, *a: Any, **k: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refused)
    assert cli(capsys, "sweep", exp, "--out", blocked, "--quiet") == (
        2, "", f"{blocked}: --out: cannot write: Permission denied\n")


def test_a_damaged_part_is_reported_and_run_again_on_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(tmp_path)
    monkeypatch.setattr(sweep, "_execute", in_process)
    out = tmp_path / "sweep"
    code, _, err = cli(capsys, "sweep", exp, "--out", out, "--quiet")
    assert (code, err) == (0, f"results in {out}/\n")
    assert json.loads((out / "manifest.json").read_text())["kind"] == "sweep"
    first, second = sorted((out / "parts").glob("*.parquet"))
    good = {p.name: p.read_bytes() for p in (first, second)}
    first.write_bytes(b"")                               # empty
    second.write_bytes(good[second.name][:100])          # cut short
    code, _, err = cli(capsys, "sweep", exp, "--out", out, "--quiet")
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 3 and lines[2] == f"results in {out}/"
    for line, part in zip(lines[:2], (first, second), strict=True):
        assert line.startswith(f"{part}: unreadable part (") and line.endswith("); its run was made again"), line
    assert {p.name: p.read_bytes() for p in (first, second)} == good   # made again, the same
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"pending": 0, "done": 2, "failed": 0}


# --------------------------------------------------------------------------- leftovers of killed processes


def test_a_new_output_directory_clears_what_dead_processes_of_this_host_left(tmp_path: Path) -> None:
    host, dead, alive = host_tag(), dead_pid(), os.getppid()
    out = tmp_path / "baseline"
    out.mkdir()
    (out / "summary.json").write_text("current")
    names = {"dead": f".baseline.tmp-{host}-{dead}", "alive": f".baseline.tmp-{host}-{alive}",
             "other host": f".baseline.tmp-elsewhere-{dead}", "older casesim": f".baseline.tmp-{dead}",
             "dead old": f".baseline.old-{host}-{dead}", "other result": f".baselines.tmp-{host}-{dead}"}
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(name)
    output = OutputDirectory(out).open()
    assert output.tmp.name == f".baseline.tmp-{host}-{os.getpid()}"
    output.discard()
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == {"baseline"} | {names[k] for k in ("alive", "other host", "older casesim", "other result")}
    assert (out / "summary.json").read_text() == "current"


def test_an_old_result_moved_aside_by_a_killed_process_is_put_back(tmp_path: Path) -> None:
    # killed between moving the old result aside and putting its own in place: the old one comes back
    aside = tmp_path / f".baseline.old-{host_tag()}-{dead_pid()}"
    aside.mkdir()
    (aside / "summary.json").write_text("old")
    OutputDirectory(tmp_path / "baseline").open().discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline"]
    assert (tmp_path / "baseline" / "summary.json").read_text() == "old"


KILLED_WHILE_WRITING = """\
import os, signal, sys
from casesim.outputs.results import OutputDirectory
from casesim.outputs.split import parts_directory
output = OutputDirectory(sys.argv[1]).open()
(output.tmp / "summary.json").write_text("half")
parts = parts_directory()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_what_a_process_killed_while_writing_leaves_is_removed_by_the_next_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    out = tmp_path / "results" / "baseline"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WHILE_WRITING, str(out)], env=env,
                            stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, stderr
    host = host_tag()
    assert [p.name for p in out.parent.iterdir()] == [f".baseline.tmp-{host}-{proc.pid}"]
    [left] = temp.iterdir()
    assert left.name.startswith(f"casesim-parts-{host}-{proc.pid}-")
    other = temp / f"casesim-parts-elsewhere-{proc.pid}-abcd1234"   # another host's: never touched
    other.mkdir()
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet")
    assert code == 0, err
    assert [p.name for p in out.parent.iterdir()] == ["baseline"]
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with split.parts_directory() as mine:
        assert Path(mine).name.startswith(f"casesim-parts-{host}-{os.getpid()}-")
        assert sorted(p.name for p in temp.iterdir()) == sorted([Path(mine).name, other.name])


# --------------------------------------------------------------------------- found in review


def test_files_a_user_put_inside_a_result_are_never_deleted_with_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r1"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet")[0] == 0
    (out / "analysis.ipynb").write_text("my analysis")
    (out / "figs").mkdir()
    before = snapshot(out)
    for extra in ([], ["--overwrite"]):   # the same inputs, and even --overwrite, would delete them
        code, _, err = cli(capsys, "run", BASELINE, *TINY, "--out", out, "--quiet", *extra)
        assert code == 2
        assert err == (f"{out}: --out: holds a casesim run result and files casesim did not write there "
                       "(analysis.ipynb, figs); replacing the folder would delete them, so it was left as it is: "
                       "move them out, or give another --out\n")
    assert snapshot(out) == before and (out / "figs").is_dir()
    # a copy of a casesim manifest beside a user's files does not make the folder casesim's to replace
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "manifest.json").write_bytes((out / "manifest.json").read_bytes())
    (thesis / "thesis.tex").write_text("chapter 1")
    before = snapshot(thesis)
    assert cli(capsys, "run", BASELINE, *TINY, "--out", thesis, "--quiet", "--overwrite")[0] == 2
    assert snapshot(thesis) == before


def test_a_sweep_takes_no_users_file_for_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    exp = experiment(tmp_path)
    monkeypatch.setattr(sweep, "_execute", never)
    mine = tmp_path / "u"
    mine.mkdir()
    (mine / "summary.csv").write_text("my,data\n")
    (mine / "sweep.html").write_text("mine")
    webapp = tmp_path / "webapp"
    webapp.mkdir()
    (webapp / "manifest.json").write_text('{"name": "my web app"}')
    for folder in (mine, webapp):
        before = snapshot(folder)
        for extra in ([], ["--fresh"]):
            assert cli(capsys, "sweep", exp, "--out", folder, "--quiet", *extra) == (
                2, "", NOT_OURS.format(out=folder) + "\n")
        assert snapshot(folder) == before


def test_a_result_written_there_while_a_run_ran_is_not_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    assert cli(capsys, "run", BASELINE, *TINY, "--seed", "1", "--out", other, "--quiet")[0] == 0
    out = tmp_path / "cc"
    real_run = results.run

    def run_while_another_process_writes(*a: Any, **k: Any) -> Any:
        result = real_run(*a, **k)
        subprocess.run(["cp", "-r", str(other), str(out)], check=True)   # another command finished first
        return result

    monkeypatch.setattr(results, "run", run_while_another_process_writes)
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "2", "--out", out, "--quiet")
    assert code == 2 and err.startswith(f"{out}: --out: changed while this command ran")
    def contents(folder: Path) -> dict[str, bytes]:
        return {name: data for name, (data, _) in snapshot(folder).items()}

    assert contents(out) == contents(other), "the other process's result stays as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cc", "other"], "nothing of this run is left"


def test_a_result_a_killed_process_moved_aside_is_checked_as_what_is_there(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seven = tmp_path / "seven"
    assert cli(capsys, "run", BASELINE, *TINY, "--seed", "7", "--out", seven, "--quiet")[0] == 0
    out = tmp_path / "r9"
    seven.rename(tmp_path / f".r9.old-{host_tag()}-{dead_pid()}")
    code, _, err = cli(capsys, "run", BASELINE, *TINY, "--seed", "8", "--out", out, "--quiet")
    assert code == 2 and "made from other inputs" in err and "seed 7 there, 8 now" in err
    assert json.loads((out / "manifest.json").read_text())["seed"] == 7, "the restored result is kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r9"]


def test_a_symbolic_link_as_out_is_refused_and_left_with_its_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "r1"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", real, "--quiet")[0] == 0
    before = snapshot(real)
    link = tmp_path / "lr"
    link.symlink_to(real)
    for command in (["run", BASELINE, *TINY], ["compare", BASELINE, BASELINE, *TINY, "--replications", "2"]):
        code, _, err = cli(capsys, *command, "--out", link, "--quiet")
        assert (code, err) == (2, f"{link}: --out: is a symbolic link; give the folder itself ({real})\n")
    assert link.is_symlink() and snapshot(real) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr", "r1"]


# --------------------------------------------------------------------------- result files that are not what they seem


def test_costs_refuses_a_parquet_file_that_is_not_a_cost_table(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", run_dir, "--quiet")[0] == 0
    (run_dir / "costs.parquet").write_bytes((run_dir / "fte.parquet").read_bytes())
    book = tmp_path / "book.xlsx"
    assert cli(capsys, "costs", run_dir, "--xlsx", book) == (
        2, "", f"{run_dir / 'costs.parquet'}: not a cost table of casesim (missing columns year, start_day, "
               "end_day, category, cost, currency); re-run it with `casesim run`\n")
    assert not book.exists()


def test_costs_reads_only_regular_files_of_a_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_bounds import cli_guarded  # (a subprocess with a time and memory limit)

    made = tmp_path / "made"
    assert cli(capsys, "run", BASELINE, *TINY, "--out", made, "--quiet")[0] == 0
    argvs, expected = [], []
    for name, kind in (("summary.json", "fifo"), ("summary.json", "zero"), ("costs.parquet", "fifo"),
                       ("fte.parquet", "zero"), ("scenario.resolved.yaml", "zero")):
        result = tmp_path / f"{name}-{kind}"
        result.mkdir()
        for p in made.iterdir():
            if p.name != name:
                (result / p.name).write_bytes(p.read_bytes())
        if kind == "fifo":
            os.mkfifo(result / name)
        else:
            (result / name).symlink_to("/dev/zero")
        what = "a named pipe" if kind == "fifo" else "a character device"
        argvs.append(["costs", result, "--xlsx", result / "book.xlsx"])
        expected.append((2, f"{result / name}: not a regular file ({what})\n" if name.endswith(".yaml") else
                         f"{result / name}: cannot read it (not a regular file ({what})); re-run the result with "
                         "`casesim run`\n"))
    assert cli_guarded(*argvs) == expected
    assert not list(tmp_path.glob("*/book.xlsx"))


def test_only_a_parts_run_removes_the_parts_folders_of_dead_processes_as_the_docs_say(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    left = tmp_path / f"{split.PARTS_DIR_PREFIX}{host_tag()}-{dead_pid()}-abcdefgh"
    left.mkdir()
    assert cli(capsys, "run", BASELINE, *TINY, "--out", tmp_path / "one", "--quiet")[0] == 0
    assert left.is_dir(), "a run without --parts makes no parts folder and leaves those of others alone"
    running = " ".join((ROOT / "docs" / "running.md").read_text().split())
    assert "which only the next `--parts` run of the same host removes" in running
    assert "the next one of the same host removes those" not in running
