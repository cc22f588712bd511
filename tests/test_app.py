"""The trainers' live view (``casesim app``): its session logic, its command line, and the page in a real
headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser is downloaded).

In CI (``CI=true``) a missing browser or Playwright is a failure; elsewhere the browser test is skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from casesim.cli import main
from tests.helpers import ROOT, SMALL

CHROMIUM = os.environ.get("CASESIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "tests" / "artifacts" / "app"
IN_CI = os.environ.get("CI", "").lower() == "true"


# --- the session, without a browser -----------------------------------------------------------------
@pytest.fixture(scope="module")
def session():
    from casesim.app.page import Session

    return Session(SMALL, ("time.horizon_days=120", "time.warmup_days=28"))


def test_identical_configurations_give_identical_charts_and_kpis(session) -> None:
    session.configure("B", session.initial_config())
    session.step(6)
    snap = session.snapshot()
    assert snap.day == 42
    a, b = snap.series["A"], snap.series["B"]
    assert len(a) == 6 and a.equals(b)  # same seed, same controls: common random numbers give the same run
    assert snap.kpis["A"] == snap.kpis["B"]
    assert snap.window == (28.0, 42.0) or snap.window == (0.0, 42.0)


def test_fewer_staff_in_b_raise_its_pressure_and_both_restart_together(session) -> None:
    start = session.initial_config()
    fewer = start.with_(staff=(start.staff[0] // 2, *start.staff[1:]))
    assert session.config_overrides(fewer) == [*session.overrides, f"staff.0.count={start.staff[0] // 2}"]
    assert session.configure("B", fewer) is None
    assert session.day == 0  # a change restarts both at day 0, so they keep stepping together
    session.step(4)
    assert session.sims["A"].time == session.sims["B"].time == 28
    snap = session.snapshot()
    a, b = snap.series["A"], snap.series["B"]
    assert (b["pressure_pct"] > a["pressure_pct"]).all()
    assert snap.kpis["B"]["mean_caseload"] > snap.kpis["A"]["mean_caseload"]
    session.step(1000)  # stops at the horizon
    assert session.done and session.day == 120


def test_policy_choices_come_from_the_registry_and_bad_values_are_refused(session) -> None:
    from casesim import models

    assert session.choices("enforcement") == models.names("enforcement")
    start = session.initial_config()
    assert session.config_overrides(start.with_(enforcement="strict"))[-1] == "enforcement={name: strict}"
    assert session.config_overrides(start.set_policy("approach", "community", "team"))[-1] == \
        "management.community.approach={name: team}"
    before = session.configs["B"]
    error = session.configure("B", start.with_(review_interval_days=0))
    assert error and "review_interval_days" in error
    assert session.configs["B"] == before  # an invalid change leaves the configuration as it was


def test_app_command_rejects_bad_input(capsys, tmp_path: Path) -> None:
    assert main(["app", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["app", str(SMALL), "--port", "70000"]) == 2
    assert "--port: must be between 1 and 65535" in capsys.readouterr().err
    assert main(["app", str(SMALL), "--set", "staff.0.count=-3"]) == 2
    assert "staff.0.count" in capsys.readouterr().err


# --- the page in a real browser --------------------------------------------------------------------------
def _need(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(log_path: Path, env: dict[str, str] | None = None):
    """``casesim app`` on a free port of 127.0.0.1 with its output in ``log_path``: its URL once it answers;
    killed at the end."""
    port = _free_port()
    log = open(log_path, "w+")  # noqa: SIM115 - read back on failure
    proc = subprocess.Popen([sys.executable, "-m", "casesim", "app", str(SMALL), "--port", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=None if env is None else {**os.environ, **env})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"casesim app did not answer on {url}:\n{log.read()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


@pytest.fixture
def server(tmp_path: Path):
    """``casesim app`` on a free port of 127.0.0.1, killed at the end."""
    with running_app(tmp_path / "server.log") as url:
        yield url


def test_page_loads_do_not_repeat_solaras_cookie_warning(tmp_path: Path) -> None:
    """Solara warns, twelve lines long, that it cannot set its session cookie SameSite=None over http to a
    host other than "localhost". Python would show it once, but forgets what it has shown whenever code
    changes the warning filters (pandas does while the page computes), so it came back all through a session;
    PYTHONWARNINGS=always shows every occurrence the same way, without a browser."""
    from casesim.app import COOKIE_WARNING

    log = tmp_path / "server.log"
    with running_app(log, env={"PYTHONWARNINGS": "always::UserWarning"}) as url:
        for _ in range(4):
            with urllib.request.urlopen(url, timeout=30) as r:
                assert r.status == 200 and "solara" in r.read().decode().lower()
    text = log.read_text()
    assert "live view of" in text   # the log is the server's output
    assert text.count(COOKIE_WARNING) <= 1, text[-3000:]


def _series(page, key: str) -> list[float | None]:
    return page.evaluate("""key => {
        const gd = document.querySelector('.charts .js-plotly-plot');
        const t = (gd && gd.data || []).find(t => t.meta === key);
        return t ? Array.from(t.y) : null; }""", key)


def _kpi(page, label: str, key: str) -> float:
    return float(page.locator(f"#kpi-{label}-{key}").get_attribute("data-value"))


def _step_to(page, day: int) -> None:
    page.locator(".btn-step").click()
    page.wait_for_function("d => document.querySelector('#sim-day').textContent.replace(/,/g, '') == d",
                           arg=str(day), timeout=30000)
    ticks = day // 7
    page.wait_for_function("""n => { const gd = document.querySelector('.charts .js-plotly-plot');
        return gd && gd.data && gd.data.length && gd.data.every(t => t.y.length === n); }""", arg=ticks,
                           timeout=30000)


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium and Playwright, checked before the server starts."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("playwright is not installed (pip install -e '.[test]')")
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path is None:
        _need(f"{CHROMIUM} is missing (apt-get install chromium)")
    return path


def test_browser_staff_cut_in_b_shows_in_chart_and_kpis(chromium: str, server: str) -> None:
    """Cut B's community staff in the page, step both, and read the chart data and the KPI table."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1700})
            page.goto(server, timeout=60000)
            page.locator(".btn-step").wait_for(timeout=60000)
            # Same controls in A and B: both lines are the same (common random numbers).
            _step_to(page, 7)
            _step_to(page, 14)
            a, b = _series(page, "A:pressure_pct"), _series(page, "B:pressure_pct")
            assert a == b and len(a) == 2
            assert _kpi(page, "A", "mean_caseload_pressure") == _kpi(page, "B", "mean_caseload_pressure")
            page.screenshot(path=str(SCREENSHOTS / "1_same_controls.png"), full_page=True)

            # B: community case managers 25 -> 12. Both restart at day 0 on the same seed.
            field = page.locator(".ctl-B-staff-0 input")
            field.fill("12")
            field.press("Enter")
            page.locator(".app-message", has_text="Configuration B changed").wait_for(timeout=30000)
            assert page.locator("#sim-day").inner_text() == "0"
            for day in (7, 14, 21, 28):
                _step_to(page, day)
            a, b = _series(page, "A:pressure_pct"), _series(page, "B:pressure_pct")
            assert len(a) == len(b) == 4
            assert all(y_b > 1.5 * y_a for y_a, y_b in zip(a, b, strict=True)), (a, b)  # half the staff
            for key in ("mean_caseload", "mean_caseload_pressure", "share_manager_time_over_capacity"):
                assert _kpi(page, "B", key) > _kpi(page, "A", key), key
            page.screenshot(path=str(SCREENSHOTS / "2_fewer_staff_in_B.png"), full_page=True)
        finally:
            browser.close()
