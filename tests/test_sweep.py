"""Sweeps on Dask: experiment files, the design, statistics, and real clusters on loopback.

The cluster tests start real processes (a local cluster, or ``dask scheduler`` and ``dask worker``
subprocesses on 127.0.0.1) and run tiny sweeps of the small test scenario: 120 days, one
arrival a day, nobody on day 0.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from casesim.cli import main
from casesim.engine.mesa_compat import MESA_VERSION
from casesim.engine.simulation import Simulation
from casesim.studies.experiment import build_design, load_experiment, replication_seed, unit_sample
from casesim.studies.sweep import COUNT_DICTS, kpi_columns, kpi_figure, mean_ci, read_parts, summarize_runs, t_quantile
from tests.helpers import SMALL, batch_run_seeds, small

#: distributed leaks a socket when its HTTP server's default port is taken (upstream; loopback only).
pytestmark = pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:"
                                        "pytest.PytestUnraisableExceptionWarning")

ROOT = Path(__file__).resolve().parents[1]
TINY_SET = ["time.horizon_days=120", "time.warmup_days=30", "arrivals.rate_per_day=1",
            "initial_population.by_stage={}"]
WAIT = 60.0   # seconds: upper bound of every wait on a process or a file


def write_experiment(path: Path, body: str, *, tiny: bool = True) -> Path:
    """An experiment on the small scenario; with ``tiny`` the shrinking overrides come first."""
    head = f"scenario: {SMALL}\n"
    if tiny:
        head += f"set: {json.dumps(TINY_SET)}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


TWO_BY_TWO = """\
name: tiny
factors:
  staff.0.count: [10, 25]
replications: 2
seed: 7
"""


def env() -> dict[str, str]:
    """The environment for child processes: casesim importable from this checkout."""
    paths = [str(ROOT), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal a process started in its own session (and its children), then make sure it is gone."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def parts(out: Path) -> list[Path]:
    return sorted((out / "parts").glob("*.parquet"))


def frames_equal(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)


def same_results(a: Path, b: Path) -> None:
    """Two sweep folders hold the same parts and the same summary, number for number."""
    assert [p.name for p in parts(a)] == [p.name for p in parts(b)]
    for pa in parts(a):
        frames_equal(pa, b / "parts" / pa.name)
    frames_equal(a / "summary.parquet", b / "summary.parquet")


def manifest_runs(out: Path) -> list[dict]:
    return json.loads((out / "manifest.json").read_text())["runs"]


# --------------------------------------------------------------------------- design and statistics


def test_replication_k_has_one_seed_in_every_variant(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "e.yaml", """\
        factors: {staff.0.count: [10, 20, 30], process.review_interval_days: [60, 120]}
        replications: 4
        seed: 11
        """)
    design = build_design(load_experiment(exp))
    seeds: dict[int, set[int]] = {}
    for run in design.runs:
        seeds.setdefault(run.replication, set()).add(run.seed)
    assert all(len(s) == 1 for s in seeds.values()), "common random numbers: one seed per replication"
    per_k = [next(iter(seeds[k])) for k in range(4)]
    assert len(set(per_k)) == 4
    assert per_k == [replication_seed(11, k) for k in range(4)]
    assert replication_seed(12, 0) != replication_seed(11, 0)
    assert all(0 <= s < 2**63 for s in per_k)


def test_full_factorial_has_every_combination(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "e.yaml", """\
        factors:
          staff.0.count: [10, 20, 30]
          process.review_interval_days: [60, 120]
          mode_assignment.table.MEDIUM: [BROKERAGE, THERAPEUTIC]
        replications: 3
        seed: 1
        """)
    design = build_design(load_experiment(exp))
    assert len(design.variants) == 12 and len(design.runs) == 36
    combos = {tuple(v.factors.values()) for v in design.variants}
    assert len(combos) == 12
    assert design.variants[1].overrides == ("staff.0.count=10", "process.review_interval_days=60",
                                            'mode_assignment.table.MEDIUM="THERAPEUTIC"')
    assert len({r.id for r in design.runs}) == 36


def test_latin_hypercube_hits_every_stratum_once() -> None:
    rng = np.random.default_rng(5)
    for n, dims in ((1, 1), (7, 3), (50, 2)):
        u = unit_sample("lhs", n, dims, rng)
        assert u.shape == (n, dims) and ((u >= 0) & (u < 1)).all()
        for j in range(dims):
            assert sorted(np.floor(u[:, j] * n).astype(int)) == list(range(n))


def test_sampled_design_maps_strata_onto_the_ranges(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "e.yaml", """\
        sample:
          count: 10
          ranges:
            process.review_interval_days: {low: 60, high: 180, type: float}
            staff.0.count: {low: 5, high: 24}
        replications: 1
        seed: 3
        """)
    design = build_design(load_experiment(exp))
    review = [v.factors["process.review_interval_days"] for v in design.variants]
    counts = [v.factors["staff.0.count"] for v in design.variants]
    assert sorted(math.floor((x - 60) / 120 * 10) for x in review) == list(range(10))
    assert all(isinstance(c, int) for c in counts)
    assert sorted((c - 5) // 2 for c in counts) == list(range(10))   # 20 integers in 10 strata of 2
    again = build_design(load_experiment(exp))
    assert [v.factors for v in again.variants] == [v.factors for v in design.variants]


def test_t_quantile_is_exact() -> None:
    table = {1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977934, 9: 2.262157162798205,
             30: 2.0422724563012373, 1000: 1.9623390808264078}
    for df, expected in table.items():
        assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764451051977934, rel=1e-12)
    assert t_quantile(0.5, 3) == pytest.approx(0.0, abs=1e-12)
    scipy_stats = pytest.importorskip("scipy.stats")
    for p in (0.6, 0.9, 0.95, 0.99, 0.999):
        for df in (1, 2, 3, 5, 17, 120):
            assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-10)


def test_confidence_interval_on_known_numbers() -> None:
    ci = mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977934 * math.sqrt(2.5) / math.sqrt(5)
    assert (ci.n, ci.mean, ci.sd) == (5, 3.0, pytest.approx(math.sqrt(2.5)))
    assert (ci.ci_low, ci.ci_high) == (pytest.approx(3 - half, rel=1e-12), pytest.approx(3 + half, rel=1e-12))
    assert mean_ci([4.0, 4.0, 4.0]).ci_low == 4.0
    one = mean_ci([2.0, float("nan")])
    assert one.n == 1 and one.mean == 2.0 and math.isnan(one.sd) and math.isnan(one.ci_high)


def test_summary_table_per_variant_and_kpi() -> None:
    runs = pd.DataFrame({"run_id": ["v000-r00", "v000-r01", "v001-r00", "v001-r01"],
                         "variant": ["v000", "v000", "v001", "v001"], "replication": [0, 1, 0, 1],
                         "seed": [5, 6, 5, 6], "staff.0.count": [10, 10, 20, 20],
                         "compliance_rate_of_offered": [0.8, 0.9, 0.7, 0.7], "breaches": [1.0, 3.0, 2.0, 4.0]})
    table = summarize_runs(runs, ["staff.0.count"]).set_index(["variant", "kpi"])
    row = table.loc[("v000", "breaches")]
    assert (row["n"], row["mean"], row["sd"]) == (2, 2.0, pytest.approx(math.sqrt(2)))
    assert row["ci_high"] - row["mean"] == pytest.approx(12.706204736174707 * math.sqrt(2) / math.sqrt(2))
    assert table.loc[("v001", "compliance_rate_of_offered"), "sd"] == 0.0
    assert table.loc[("v001", "compliance_rate_of_offered"), "staff.0.count"] == 20


def test_kpi_columns_flatten_dicts_and_skip_texts() -> None:
    cols = kpi_columns({"scenario": "x", "seed": 3, "currency": "GBP", "unpriced_contact_modes": [],
                        "warmup_days": 1.0, "cases_entered": 4, "mean_wait_days": None,
                        "continuity_breaks_by_cause": {"staff_turnover": 2}})
    assert cols == {"cases_entered": 4.0, "mean_wait_days": pytest.approx(float("nan"), nan_ok=True),
                    "continuity_breaks_by_cause.staff_turnover": 2.0}
    assert "continuity_breaks_by_cause" in COUNT_DICTS


def test_a_cause_missing_from_a_run_counts_zero(tmp_path: Path) -> None:
    a = pd.DataFrame([{"run_id": "v000-r00", "variant": "v000", "replication": 0, "seed": 1,
                       "continuity_breaks_by_cause.staff_turnover": 3.0, "compliance_by_stage.CUSTODY": 0.5}])
    b = pd.DataFrame([{"run_id": "v000-r01", "variant": "v000", "replication": 1, "seed": 2}])
    a.to_parquet(tmp_path / "a.parquet")
    b.to_parquet(tmp_path / "b.parquet")
    runs = read_parts([tmp_path / "b.parquet", tmp_path / "a.parquet"])
    assert runs["run_id"].tolist() == ["v000-r00", "v000-r01"]
    assert runs["continuity_breaks_by_cause.staff_turnover"].tolist() == [3.0, 0.0]
    assert runs["compliance_by_stage.CUSTODY"].isna().tolist() == [False, True]   # undefined, not zero


def test_figures_are_valid_plotly_for_factorial_and_sampled_designs() -> None:
    go = pytest.importorskip("plotly.graph_objects")
    rows = [{"variant": f"v{i:03d}", "a": a, "b": b, "kpi": "compliance_rate_of_offered", "n": 3, "mean": 0.8 + a / 100,
             "sd": 0.01, "ci_low": 0.79 + a / 100, "ci_high": 0.81 + a / 100}
            for i, (a, b) in enumerate((a, b) for a in (1, 2, 3) for b in ("X", "Y"))]
    table = pd.DataFrame(rows)
    factorial = go.Figure(kpi_figure(table, "compliance_rate_of_offered", ["a", "b"], False, "Contacts kept"))
    bands = [t for t in factorial.data if t.fill == "toself"]
    assert len(bands) == 2 and len(factorial.data) == 7   # panel a: 2 bands + 2 lines (b=X, b=Y); panel b: 3 lines
    assert all(t.error_y.array is not None for t in factorial.data if t.xaxis == "x2")   # categorical: bars
    sampled = go.Figure(kpi_figure(table, "compliance_rate_of_offered", ["a", "b"], True, "Contacts kept"))
    assert not [t for t in sampled.data if t.fill == "toself"]
    assert {t.mode for t in sampled.data} == {"markers"}


def test_shipped_experiments_are_valid() -> None:
    # (sensitivity_*.yaml are `casesim sensitivity` experiments, robustness_*.yaml `casesim robustness` studies:
    # tests/test_sensitivity.py and tests/test_robustness.py check them)
    files = sorted(p for p in (ROOT / "experiments").glob("*.yaml")
                   if not p.name.startswith(("sensitivity", "robustness")))
    assert len(files) >= 3
    keys = set()
    for path in files:
        design = build_design(load_experiment(path))
        assert design.loaded.scenario_path == (ROOT / "scenarios" / "baseline.yaml").resolve()
        assert 8 <= len(design.runs) <= 40, f"{path.name}: keep shipped sweeps laptop-sized"
        keys.update(design.factor_columns)
    assert {"staff.0.fte", "process.review_interval_days", "mode_assignment.table.MEDIUM",
            "staff.0.count", "staffing.turnover_per_year"} <= keys


# --------------------------------------------------------------------------- input errors


def input_error(capsys: pytest.CaptureFixture[str], *argv: object) -> list[str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, f"expected exit code 2, got {code}\n{err}"
    assert "Traceback" not in err and out == ""
    return err.splitlines()


def test_malformed_experiment_is_reported_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)   # the default output folder is results/sweeps/<name>
    exp = write_experiment(tmp_path / "e.yaml", """\
        factorz: {staff.0.count: [1, 2]}
        replications: 2
        seed: 1
        """)
    assert input_error(capsys, "sweep", exp, "--out", tmp_path / "out") == [
        f"{exp}:3: factorz: unknown field 'factorz'; valid fields: name, description, scenario, set, factors, "
        "sample, replications, seed"]
    bad = write_experiment(tmp_path / "b.yaml", """\
        factors: {staff.0.count: [1, 2]}
        replications: 0
        seed: 1
        seed: 2
        """)
    assert input_error(capsys, "sweep", bad) == [f"{bad}:6: seed: duplicate key 'seed' (first defined on line 5)"]
    neither = write_experiment(tmp_path / "n.yaml", "replications: 2\nseed: 1\n")
    [line] = input_error(capsys, "sweep", neither)
    assert line.startswith(f"{neither}:1: say what varies")
    syntax = write_experiment(tmp_path / "s.yaml", "factors: {staff.0.count: [1, 2]\nseed: 1\n")
    [line] = input_error(capsys, "sweep", syntax)
    assert line.startswith(f"{syntax}:") and "invalid YAML" in line
    missing = tmp_path / "m.yaml"
    missing.write_text("scenario: nowhere.yaml\nfactors: {staff.0.count: [1]}\nreplications: 1\nseed: 1\n")
    [line] = input_error(capsys, "sweep", missing)
    assert line.startswith(f"{missing}:1: scenario: cannot read 'nowhere.yaml': file not found")
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


def test_every_variant_is_validated_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = write_experiment(tmp_path / "e.yaml", """\
        factors:
          staff.0.count: [10, -1]
          mode_assignment.table.MEDIUM: [BROKERAGE, FANCY]
        replications: 2
        seed: 1
        """)
    lines = input_error(capsys, "sweep", exp, "--out", tmp_path / "out")
    assert lines == [
        f"{exp}:4: factors.staff.0.count.1: 2 of 4 variants (v002, v003): staff.0.count: Input should be "
        "greater than or equal to 0",
        f"{exp}:5: factors.mode_assignment.table.MEDIUM.1: 2 of 4 variants (v001, v003): mode_assignment.table: "
        "Value error, unknown mode(s) FANCY; valid: ADMINISTRATIVE, BROKERAGE, THERAPEUTIC, COMPREHENSIVE"]
    one = write_experiment(tmp_path / "one.yaml", """\
        factors:
          staff.0.fte: [1.0, -5]
        replications: 1
        seed: 1
        """)
    assert input_error(capsys, "sweep", one, "--out", tmp_path / "out") == [
        f"{one}:4: factors.staff.0.fte.1: variant v001 (staff.0.fte=-5): staff.0.fte: Input should "
        "be greater than or equal to 0"]
    base = write_experiment(tmp_path / "base.yaml", "factors: {staff.0.count: [1]}\nreplications: 1\nseed: 1\n",
                            tiny=False)
    base.write_text(base.read_text().replace("factors:", "set: [time.horizon_days=0]\nfactors:"))
    assert input_error(capsys, "sweep", base, "--out", tmp_path / "out") == [
        f"{base}:2: set.0: time.horizon_days: Input should be greater than 0"]
    assert not (tmp_path / "out").exists()


def test_workers_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = write_experiment(tmp_path / "e.yaml", TWO_BY_TWO)
    assert input_error(capsys, "sweep", exp, "--workers", 0) == ["--workers: must be at least 1 (got 0)"]


# --------------------------------------------------------------------------- Mesa's batch_run


def test_mesa_batch_run_gives_the_numbers_of_a_direct_run() -> None:
    scenario = small(*TINY_SET)
    rows = mesa.batch_run(Simulation, max_steps=10_000, number_processes=1, data_collection_period=-1,
                          display_progress=False, **batch_run_seeds({"scenario": [scenario]}, [1, 2]))
    assert len(rows) == 2
    for row in rows:
        sim = Simulation(scenario=scenario, seed=row["seed"])
        sim.run_to_end()
        last = sim.datacollector.get_model_vars_dataframe().iloc[-1]
        # "Step" is the last collection's step number on Mesa 3.3, its model time on 3.5 (which collects by time)
        assert row["Step"] == (sim.time if MESA_VERSION >= (3, 4) else sim.steps - 1)
        assert row["time"] == last["time"] == scenario.time.horizon_days
        assert (row["active_cases"], row["mean_pressure"]) == (last["active_cases"], last["mean_pressure"])
    assert rows[0]["active_cases"] != rows[1]["active_cases"] or rows[0]["mean_pressure"] != rows[1]["mean_pressure"]


# --------------------------------------------------------------------------- real clusters


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The 2 x 2 experiment swept on a local cluster of two workers: (experiment, output folder)."""
    root = tmp_path_factory.mktemp("sweep")
    exp = write_experiment(root / "tiny.yaml", TWO_BY_TWO)
    out = root / "local2"
    assert main(["sweep", str(exp), "--workers", "2", "--out", str(out), "--quiet"]) == 0
    return exp, out


#: Even with --no-dashboard, schedulers and workers serve HTTP (health, metrics), by default on every
#: interface (the scheduler on port 8787): keep it on loopback, on a free port.
LOOPBACK_HTTP = ["--dashboard-address", "127.0.0.1:0"]


class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` subprocesses on loopback, each in its own session."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "scheduler.json"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.logs = folder / "dask"   # also their working directory: not the driver's
        self.logs.mkdir()

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        with open(self.logs / log, "wb") as sink:
            return subprocess.Popen([sys.executable, "-m", *args], stdout=sink, stderr=subprocess.STDOUT, env=env(),
                                    cwd=self.logs, start_new_session=True)

    def start_scheduler(self) -> str:
        self.scheduler = self._start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--scheduler-file", str(self.file), "--no-dashboard", *LOOPBACK_HTTP],
                                     "scheduler.log")
        wait_until(lambda: self.file.exists() and self.file.stat().st_size > 0, "the scheduler file")
        return json.loads(self.file.read_text())["address"]

    def start_workers(self, n: int) -> None:
        for _ in range(n):
            self.workers.append(self._start(["distributed.cli.dask_worker", "--scheduler-file", str(self.file),
                                             "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                                             *LOOPBACK_HTTP], f"worker{len(self.workers)}.log"))
        from distributed import Client

        with Client(scheduler_file=str(self.file), timeout="30s") as client:
            client.wait_for_workers(len(self.workers), timeout=WAIT)

    def close(self) -> None:
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            stop(proc)


@pytest.fixture
def dask_processes(tmp_path: Path) -> Iterator[DaskProcesses]:
    procs = DaskProcesses(tmp_path)
    try:
        yield procs
    finally:
        procs.close()


def test_one_worker_two_workers_and_an_external_scheduler_agree(
        two_by_two: tuple[Path, Path], tmp_path: Path, dask_processes: DaskProcesses,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    exp, local2 = two_by_two
    assert len(parts(local2)) == 4
    assert [r["status"] for r in manifest_runs(local2)] == ["done"] * 4
    summary = pd.read_parquet(local2 / "summary.parquet")
    assert set(summary["variant"]) == {"v000", "v001"} and set(summary["n"]) <= {0, 1, 2}
    assert set(summary.loc[summary["kpi"].isin(["mean_caseload_pressure", "cases_entered"]), "n"]) == {2}
    html = (local2 / "sweep.html").read_text()
    assert "plotly.js v" in html and "<script src=" not in html, "plotly.js must be embedded (works offline)"
    assert html.count("Plotly.newPlot") >= 20 and "mean_caseload_pressure" in html
    csv = pd.read_csv(local2 / "summary.csv")
    assert len(csv) == len(summary)

    address = dask_processes.start_scheduler()
    dask_processes.start_workers(1)
    external = tmp_path / "external"
    monkeypatch.chdir(tmp_path)   # a relative --out: workers get absolute paths
    assert main(["sweep", str(exp), "--scheduler", address, "--out", "external", "--quiet"]) == 0
    assert capsys.readouterr().err.strip() == "results in external/"   # --quiet still says where they went
    same_results(local2, external)

    # the same experiment with a changed file (a comment): refused without --fresh, then rerun on one worker
    local1 = tmp_path / "local1"
    shutil.copytree(local2, local1)
    changed = exp.with_name("tiny_changed.yaml")
    changed.write_text(exp.read_text() + "# a comment changes the file\n")
    before = {p.name: p.stat().st_mtime_ns for p in parts(local1)}
    [line] = input_error(capsys, "sweep", changed, "--workers", 1, "--out", local1)
    assert line.startswith(f"{changed}: the experiment file changed since the sweep in {local1} started")
    assert "--fresh" in line
    assert {p.name: p.stat().st_mtime_ns for p in parts(local1)} == before
    assert main(["sweep", str(changed), "--workers", "1", "--out", str(local1), "--fresh", "--quiet"]) == 0
    assert all(p.stat().st_mtime_ns != before[p.name] for p in parts(local1)), "--fresh reruns everything"
    same_results(local2, local1)


def test_a_finished_sweep_resumes_instantly(two_by_two: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    exp, local2 = two_by_two
    again = tmp_path / "again"
    shutil.copytree(local2, again)
    before = {p.name: p.stat().st_mtime_ns for p in parts(again)}
    started = time.monotonic()
    assert main(["sweep", str(exp), "--out", str(again), "--scheduler", "tcp://127.0.0.1:9"]) == 0
    assert time.monotonic() - started < 10   # nothing to run: no cluster is contacted
    assert "4 of 4 runs done (4 from before), 0 failed" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in parts(again)} == before


def test_killing_a_worker_mid_sweep_still_completes_every_run(tmp_path: Path,
                                                              dask_processes: DaskProcesses) -> None:
    exp = write_experiment(tmp_path / "kill.yaml", """\
        factors: {staff.0.count: [10, 18, 25]}
        replications: 4
        seed: 3
        """).resolve()
    (tmp_path / "kill.yaml").write_text((tmp_path / "kill.yaml").read_text().replace(
        "time.horizon_days=120", "time.horizon_days=240"))
    address = dask_processes.start_scheduler()
    dask_processes.start_workers(2)
    out = tmp_path / "out"
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen([sys.executable, "-m", "casesim", "sweep", str(exp), "--scheduler", address,
                                   "--out", str(out), "--quiet"], stdout=log, stderr=subprocess.STDOUT, env=env(),
                                  start_new_session=True)
    try:
        wait_until(lambda: len(parts(out)) >= 1 or driver.poll() is not None, "the first part")
        stop(dask_processes.workers[0], signal.SIGKILL)
        assert len(parts(out)) < 12, "the worker must die mid-sweep"
        assert driver.wait(timeout=WAIT * 1.5) == 0, (tmp_path / "driver.log").read_text()
    finally:
        stop(driver, signal.SIGKILL)
    runs = manifest_runs(out)
    assert [r["status"] for r in runs] == ["done"] * 12
    assert [p.stem for p in parts(out)] == sorted(r["id"] for r in runs)
    assert not list((out / "parts").glob(".*"))
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary.loc[summary["kpi"] == "cases_entered", "n"]) == {4}


def test_killing_the_driver_mid_sweep_then_rerunning_finishes_without_redoing(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "drv.yaml", """\
        factors: {staff.0.count: [10, 25]}
        replications: 4
        seed: 5
        """).resolve()
    exp.write_text(exp.read_text().replace("time.horizon_days=120", "time.horizon_days=365"))
    out = tmp_path / "out"
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen([sys.executable, "-m", "casesim", "sweep", str(exp), "--workers", "1",
                                   "--out", str(out), "--quiet"], stdout=log, stderr=subprocess.STDOUT, env=env(),
                                  start_new_session=True)
    try:
        wait_until(lambda: len(parts(out)) >= 2 or driver.poll() is not None, "two parts")
    finally:
        stop(driver, signal.SIGKILL)   # the driver and its local workers, at once
    finished = {p.name: p.stat().st_mtime_ns for p in parts(out)}
    assert 2 <= len(finished) < 8, (tmp_path / "driver.log").read_text()
    assert main(["sweep", str(exp), "--workers", "1", "--out", str(out), "--quiet"]) == 0
    assert {n: (out / "parts" / n).stat().st_mtime_ns for n in finished} == finished, "finished runs were redone"
    runs = manifest_runs(out)
    assert len(runs) == 8 and len({r["id"] for r in runs}) == 8
    assert [r["status"] for r in runs] == ["done"] * 8
    assert [p.stem for p in parts(out)] == sorted(r["id"] for r in runs)
    assert not list((out / "parts").glob(".*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "complete" and manifest["counts"] == {"pending": 0, "done": 8, "failed": 0}
