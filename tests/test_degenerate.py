"""Degenerate set-ups must not read as good results.

With no community case managers (``staff.0.count=0``) most contacts are never offered, and the figures
over the contacts that did happen (``compliance_rate_of_offered``), completion, breaches and cost look as good as a
staffed service's or better. The run must say so (``run_warnings`` in the summary, ``WARNING`` lines on
the console), and ``compliance_rate_of_due`` must show what was kept of everything due. Every count here
is recomputed from the event log, one contact at a time, independently of :mod:`casesim.metrics.summary`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from casesim.cli import main
from casesim.metrics.run_warnings import CODES, NOT_OFFERED_SHARE, run_warnings
from casesim.outputs.results import Result, run
from tests.helpers import small

#: A short run of the small scenario (a third of the baseline): half a year measured after two months.
SHORT = ("time.horizon_days=240", "time.warmup_days=60")
NO_COMMUNITY_STAFF = "staff.0.count=0"
SEED = 5
BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
TINY = ["--set", "time.horizon_days=60", "--set", "time.warmup_days=0", "--set", "arrivals.rate_per_day=1",
        "--set", "initial_population.by_stage={}"]


@cache
def short_run(*extra: str) -> Result:
    """The short run with ``extra`` overrides, always on :data:`SEED` (paired: the same people and luck)."""
    return run(small(*SHORT, *extra), seed=SEED)


def due_from_log(res: Result | SimpleNamespace) -> dict[str, int]:
    """Contacts kept, missed and not offered in the measured window, counted from the log (one row a
    contact)."""
    ev, sc = res.events, res.scenario
    a, h = sc.time.warmup_days, sc.time.horizon_days
    kind = ev["kind"].astype(str).to_numpy()
    out = {}
    for name, single in (("kept", "contact_kept"), ("missed", "contact_missed"),
                         ("not_offered", "contact_cancelled")):
        t = ev["time"].to_numpy()[kind == single]
        out[name] = int(((t >= a) & (t < h)).sum())
    return out


def codes(res: Result) -> list[str]:
    return [w["code"] for w in res.summary["run_warnings"]]


# --------------------------------------------------------------------------- the summary


def test_no_community_staff_is_warned_and_compliance_of_due_shows_it() -> None:
    base, zero = short_run(), short_run(NO_COMMUNITY_STAFF)
    assert base.summary["run_warnings"] == [], "a baseline run must have no warnings"
    assert codes(zero) == ["no_staff", "contacts_not_offered"]
    no_staff, not_offered = zero.summary["run_warnings"]
    assert no_staff["figure"] == 0 and "community" in no_staff["message"]
    counted = due_from_log(zero)
    due = counted["kept"] + counted["missed"] + counted["not_offered"]
    share = counted["not_offered"] / due
    s = zero.summary
    assert (s["contacts_kept"], s["contacts_required"], s["contacts_not_offered"]) == (
        counted["kept"], counted["kept"] + counted["missed"], counted["not_offered"])
    assert not_offered["figure"] == s["share_contacts_not_offered"] == share
    assert share > 0.5, "most contacts were never offered"
    assert s["compliance_rate_of_due"] == counted["kept"] / due
    assert s["compliance_rate_of_offered"] == counted["kept"] / (counted["kept"] + counted["missed"])
    # the figure over contacts offered hides it; the one over contacts due does not
    assert s["compliance_rate_of_due"] < 0.5 * s["compliance_rate_of_offered"]
    assert s["compliance_rate_of_due"] < base.summary["compliance_rate_of_due"] - 0.4
    assert abs(s["compliance_rate_of_offered"] - base.summary["compliance_rate_of_offered"]) < 0.05


def test_each_setting_and_need_warning_has_its_code_and_figure() -> None:
    sc = small()
    stage_setting = {"NON_CUSTODIAL": "community", "CUSTODY": "custody"}
    sound = {"share_contacts_not_offered": 0.06, "contacts_not_offered": 6, "contacts_required": 94}
    assert run_warnings(sc, stage_setting, ["NON_CUSTODIAL", "CUSTODY"], sound) == []
    # no custody staff: warned only when a case passed through a custody stage
    no_custody = small("staff.1.count=0")
    assert run_warnings(no_custody, stage_setting, ["NON_CUSTODIAL"], sound) == []
    got = run_warnings(no_custody, stage_setting, ["NON_CUSTODIAL", "CUSTODY"], sound)
    assert [(w["code"], w["figure"]) for w in got] == [("no_staff", 0)] and "CUSTODY" in got[0]["message"]
    got = run_warnings(small("staff.1.fte=0"), stage_setting, ["CUSTODY"], sound)
    assert [(w["code"], w["figure"]) for w in got] == [("no_capacity", 0.0)]
    got = run_warnings(small("providers.0.places=0"), stage_setting, ["NON_CUSTODIAL"], sound)
    first = sc.providers[0]
    assert [(w["code"], w["figure"]) for w in got] == [("no_places", 0)]
    assert first.name in got[0]["message"] and first.need in got[0]["message"]
    # the threshold: at it, no warning; a contact more, a warning whose figure is the share
    at = {"share_contacts_not_offered": NOT_OFFERED_SHARE, "contacts_not_offered": 20, "contacts_required": 80}
    assert run_warnings(sc, stage_setting, [], at) == []
    above = {**at, "share_contacts_not_offered": 21 / 100, "contacts_not_offered": 21, "contacts_required": 79}
    got = run_warnings(sc, stage_setting, [], above)
    assert [(w["code"], w["figure"]) for w in got] == [("contacts_not_offered", 0.21)]
    assert "21 of 100" in got[0]["message"]
    assert set(CODES) == {"no_staff", "no_capacity", "no_places", "contacts_not_offered"}


def test_a_staffed_short_run_is_below_the_threshold_with_room() -> None:
    """The threshold is not merely passed by the baseline: its share not offered is well below it."""
    share = short_run().summary["share_contacts_not_offered"]
    assert 0 < share < NOT_OFFERED_SHARE / 2


# --------------------------------------------------------------------------- the console


def test_the_console_shows_the_warning_and_the_contacts_not_offered(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, extra in (("base", []), ("zero", ["--set", NO_COMMUNITY_STAFF])):
        out = tmp_path / name
        code = main(["run", str(BASELINE), *TINY, *extra, "--seed", "7", "--out", str(out)])
        stdout, stderr = capsys.readouterr()
        assert code == 0, stderr
        s = json.loads((out / "summary.json").read_text())
        row = next(line for line in stdout.splitlines() if "Contacts not offered (nobody" in line)
        assert row.rstrip(" │|").split()[-1] == f"{s['contacts_not_offered']:,}"
        assert "Contacts kept, of those offered" in stdout and "Contacts kept, of those due" in stdout
        warned = [line for line in stderr.splitlines() if line.startswith("WARNING [")]
        assert [line.split("]")[0] for line in warned] == [f"WARNING [{w['code']}" for w in s["run_warnings"]]
        if name == "base":
            assert s["run_warnings"] == [] and "WARNING" not in stderr
        else:
            assert warned[0].startswith("WARNING [no_staff]: ") and "community" in warned[0]
            # after the table and the results line: the last thing printed
            assert stderr.rstrip().splitlines()[-1].startswith("WARNING: ")
    # --quiet keeps standard output empty but still warns
    code = main(["run", str(BASELINE), *TINY, "--set", NO_COMMUNITY_STAFF, "--seed", "7", "--quiet",
                 "--out", str(tmp_path / "quiet")])
    stdout, stderr = capsys.readouterr()
    assert code == 0 and stdout == "" and "WARNING [no_staff]: " in stderr


def test_the_report_says_the_warning_before_the_figures() -> None:
    page = short_run(NO_COMMUNITY_STAFF).report_html()
    warn, table = page.find("<p class='warning'><strong>Warning (no_staff):"), page.find("<table class='kpi'>")
    assert 0 < warn < table
    assert "Warning (" not in short_run().report_html()


def test_counting_helper_agrees_with_a_frame_of_made_up_rows() -> None:
    """:func:`due_from_log` itself, on rows on both sides of the window's edges ``[60, 240)``."""
    scenario = small(*SHORT)
    events = pd.DataFrame({   # kept: 59 (out), 60 (in); not offered: 239 (in), 240 (out), 30 (out)
        "time": [59.0, 60.0, 239.0, 240.0, 100.0, 30.0],
        "kind": ["contact_kept", "contact_kept", "contact_cancelled", "contact_cancelled", "contact_missed",
                 "contact_cancelled"],
        "cause": ["BROKERAGE"] * 6, "value": [0.9, 0.9, 0.0, 0.0, 0.5, 0.0]})
    assert due_from_log(SimpleNamespace(scenario=scenario, events=events)) == {"kept": 1, "missed": 1,
                                                                              "not_offered": 1}
