"""A service run as independent parts in parallel processes (``casesim.outputs.split``): the parts add up to
the whole scenario, and the merged result is exactly the union of the parts run one by one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from casesim.outputs.results import run
from casesim.outputs.split import SplitError, part_seeds, split_scenario
from tests.helpers import ROOT, SMALL, small

SHORT = ("time.horizon_days=400", "time.warmup_days=100")
ADDITIVE = ("cases_entered", "cases_exited", "cases_active_end", "contacts_required", "contacts_kept",
            "warnings", "breaches", "recalls", "returns_to_court", "referrals", "continuity_breaks")


def test_the_parts_add_up_to_the_whole_service() -> None:
    whole = small("staff.0.count=25", "providers.0.places=7", "initial_population.by_stage.CUSTODY=101")
    parts = split_scenario(whole, 3)
    assert [p.staff[0].count for p in parts] == [9, 8, 8]
    assert [p.providers[0].places for p in parts] == [3, 2, 2]
    for i, group in enumerate(whole.staff):
        assert sum(p.staff[i].count for p in parts) == group.count
    for i, provider in enumerate(whole.providers):
        assert sum(p.providers[i].places for p in parts) == provider.places
    for stage, n in whole.initial_population.by_stage.items():
        assert sum(p.initial_population.by_stage[stage] for p in parts) == n
    assert sum(p.arrivals.rate_per_day for p in parts) == pytest.approx(whole.arrivals.rate_per_day, rel=1e-12)
    # everything else is the whole scenario's
    assert all(p.journey == whole.journey and p.management == whole.management and p.time == whole.time
               for p in parts)
    assert split_scenario(whole, 1) == [whole]


def test_a_group_too_small_to_share_out_is_refused_by_field() -> None:
    whole = small("staff.1.count=2")
    with pytest.raises(SplitError, match=r"staff\.1\.count: .* 2 staff, too few for 3 parts"):
        split_scenario(whole, 3)
    with pytest.raises(SplitError, match="parts"):
        split_scenario(whole, 0)


def test_two_parts_merge_into_the_union_of_the_parts_run_alone() -> None:
    scenario = small(*SHORT)
    seen: list[tuple[list[float], list[int]]] = []
    merged = run(scenario, seed=7, parts=2, on_parts=lambda days, events: seen.append((days, events)))
    alone = [run(p, seed=s) for p, s in zip(split_scenario(scenario, 2), part_seeds(7, 2), strict=True)]
    for key in ADDITIVE:
        assert merged.summary[key] == sum(a.summary[key] for a in alone), key
    assert merged.summary["case_years"] == pytest.approx(sum(a.summary["case_years"] for a in alone), rel=1e-12)
    assert merged.summary["cost_total"] == pytest.approx(sum(a.summary["cost_total"] for a in alone), rel=1e-9)
    lo, hi = sorted(a.summary["mean_caseload"] for a in alone)
    assert lo <= merged.summary["mean_caseload"] <= hi
    assert len(merged.events) == sum(len(a.events) for a in alone)
    for kind in ("contact_kept", "manager_change", "recall"):
        assert (merged.events["kind"] == kind).sum() == sum((a.events["kind"] == kind).sum() for a in alone)
    # one time-ordered log; case numbers and agent ids kept apart
    assert np.all(np.diff(merged.events["time"].to_numpy()) >= 0)
    assert merged.register["case"].is_unique and len(merged.register) == sum(len(a.register) for a in alone)
    assert merged.staff["manager"].is_unique and len(merged.staff) == sum(len(a.staff) for a in alone)
    assert set(merged.context.staff_setting) == set(merged.staff["manager"])
    assert set(merged.events["case"][merged.events["case"] >= 0]) <= set(merged.register["case"])
    changes = merged.events[merged.events["kind"] == "manager_change"]
    assert set(changes["value"].astype(int)) <= set(merged.events["manager"])
    assert merged.manifest["parts"] == 2 and merged.manifest["part_seeds"] == part_seeds(7, 2)
    # progress came from both parts, never went back, and ended at the horizon with every event
    for part in (0, 1):
        days = [d[part] for d, _ in seen]
        assert days == sorted(days)
    assert seen[-1] == ([400.0, 400.0], [len(a.events) for a in alone])


def test_only_a_part_s_own_process_ends_without_teardown(tmp_path) -> None:
    # a part process ends with os._exit once its results are sent; a part run in this process must not
    # arrange that (it would end the caller, whatever its exit status)
    from casesim.outputs import split

    piece = split_scenario(small(*SHORT), 2)[0]
    got = split._run_part(piece, 11, str(tmp_path), 0)
    assert got["events"] > 0 and not split._EXIT_REGISTERED
    # one worker running both parts in turn gives exactly what two workers give
    one, two = (split.run_parts(small(*SHORT), 7, 2, workers=w)[0] for w in (1, 2))
    assert one.equals(two)


def test_merged_ids_move_up_by_the_offset_and_none_stays_none() -> None:
    from casesim.outputs.split import _shifted

    got = _shifted(np.array([-1, 0, 3], dtype=np.int32), 7)
    assert got.dtype == np.int32 and got.tolist() == [-1, 7, 10]
    with pytest.raises(OverflowError, match="2\\*\\*31"):
        _shifted(np.array([2**31 - 5], dtype=np.int32), 10)


def test_the_command_line_refuses_a_split_it_cannot_make(tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "casesim", "run", str(SMALL), "--parts", "400", "--out", str(out),
                           "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "small.yaml" in proc.stderr and "count" in proc.stderr and "too few for 400 parts" in proc.stderr
    assert not out.exists()
    proc = subprocess.run([sys.executable, "-m", "casesim", "run", str(SMALL), "--parts", "0", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--parts" in proc.stderr and not out.exists()


def test_the_parts_are_started_on_huge_pages_only_where_the_kernel_has_them(tmp_path) -> None:
    from casesim.outputs.split import part_environment, thp_mode

    huge = {"PYTHONMALLOC": "malloc", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert part_environment({}, "madvise", "linux") == huge
    assert part_environment({}, "always", "linux") == huge
    assert part_environment({}, "never", "linux") == {}        # glibc's allocator alone is slower: nothing
    assert part_environment({}, "madvise", "darwin") == {}
    assert part_environment({"CASESIM_HUGE_PAGES": "0"}, "madvise", "linux") == {}
    assert part_environment({"CASESIM_HUGE_PAGES": "1"}, "madvise", "linux") == huge
    assert part_environment({"PYTHONMALLOC": "debug"}, "madvise", "linux") == {}   # the caller's allocator is kept
    mine = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert part_environment(mine, "madvise", "linux")["GLIBC_TUNABLES"] == \
        "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    mine = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert part_environment(mine, "madvise", "linux")["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"
    mode = tmp_path / "enabled"
    mode.write_text("always [madvise] never\n")
    assert thp_mode(mode) == "madvise"
    assert thp_mode(tmp_path / "missing") is None


def test_the_allocator_of_the_parts_changes_no_result(monkeypatch) -> None:
    import os

    from casesim.outputs import split

    before = dict(os.environ)
    scenario = small(*SHORT)
    events, _, _, _, info = split.run_parts(scenario, 7, 2)
    assert dict(os.environ) == before   # the parts' variables were set only while they started
    expected = split.part_environment().get("PYTHONMALLOC", split.allocator())   # (the caller's, if set)
    assert [p["allocator"] for p in info["part"]] == [expected, expected]
    monkeypatch.setenv("CASESIM_HUGE_PAGES", "0")
    plain, _, _, _, plain_info = split.run_parts(scenario, 7, 2)
    assert [p["allocator"] for p in plain_info["part"]] == ["pymalloc", "pymalloc"]
    assert events.equals(plain)


def test_the_parts_variables_are_set_one_run_at_a_time_and_restored(monkeypatch) -> None:
    # two runs starting their parts from two threads at once must each see their own variables while their
    # processes start, and leave the environment as it was
    import os
    import threading
    import time

    from casesim.outputs.split import _started_with

    monkeypatch.delenv("CASESIM_TEST_VAR", raising=False)
    seen: list[bool] = []

    def start(i: int) -> None:
        with _started_with({"CASESIM_TEST_VAR": str(i)}):
            time.sleep(0.005)
            seen.append(os.environ.get("CASESIM_TEST_VAR") == str(i))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [True] * 8
    assert "CASESIM_TEST_VAR" not in os.environ


_KILLED_PARENT = """
import os, signal, sys
from pathlib import Path
from casesim.outputs.split import run_parts
from tests.helpers import small
from tests.test_split import _stat

def on_progress(days, counts):
    if min(days) >= 30:   # both parts are well under way: record the children and die as if killed -9
        me = str(os.getpid())
        kids = [p for p in os.listdir("/proc") if p.isdigit() and (_stat(p) or [None, None])[1] == me]
        Path(sys.argv[1]).write_text(" ".join(kids))
        os.kill(int(me), signal.SIGKILL)

run_parts(small("time.horizon_days=30000"), 3, 2, on_progress=on_progress)
"""


def _stat(pid: str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command's name (state first), or None if it is gone."""
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _running(pid: str, started: str) -> bool:
    """Whether the process ``pid`` that started at ``started`` (clock ticks after boot) is still running: a
    zombie has ended (nobody may reap it here), and a new process with the same number is another one."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == started


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_parts_end_when_the_run_that_started_them_is_killed(tmp_path) -> None:
    """Killing `casesim run --parts N` (here with SIGKILL, which nothing can catch), run with a long TMPDIR,
    ends its parts and the progress queue's manager within seconds, instead of leaving them to simulate for
    nobody and then wait for ever with their memory held; and the parts remove the run's temporary directory of
    log columns."""
    kids_file = tmp_path / "kids"
    # A temporary directory longer than a Unix socket's path may be (107 bytes): the progress queue's manager
    # must not make its socket there.
    tmp = tmp_path / ("a-long-temporary-directory-" * 4)
    tmp.mkdir()
    assert len(str(tmp)) > 110
    proc = subprocess.run([sys.executable, "-c", _KILLED_PARENT, str(kids_file)], cwd=ROOT, timeout=300,
                          env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.returncode == -signal.SIGKILL
    kids = {pid: fields[19] for pid in kids_file.read_text().split() if (fields := _stat(pid)) is not None}
    assert len(kids) >= 3   # two parts and the manager (and multiprocessing's resource tracker)
    deadline = time.monotonic() + 20
    while any(_running(*kid) for kid in kids.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid, started in kids.items() if _running(pid, started)]
    for pid in left:   # (do not leave them behind if the test fails)
        os.kill(int(pid), signal.SIGKILL)
    assert not left, f"processes still running after their parent was killed: {left}"
    assert not list(tmp.glob("casesim-parts-*"))
