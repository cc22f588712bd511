"""The KPI catalogue (casesim/metrics/kpis.py) against a real run's summary, and every view reading its words
from it."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from casesim.metrics import kpis
from casesim.outputs.results import Result, run

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TINY = ["time.horizon_days=120", "time.warmup_days=30"]


@pytest.fixture(scope="module")
def res() -> Result:
    return run(BASELINE, seed=7, overrides=TINY)


def relabel(monkeypatch: pytest.MonkeyPatch, key: str, **changes: str) -> kpis.Kpi:
    """Replace the catalogue entry of ``key`` (both the tuple and the index) with ``changes``."""
    new = dataclasses.replace(kpis.BY_KEY[key], **changes)
    monkeypatch.setattr(kpis, "CATALOGUE", tuple(new if k.key == key else k for k in kpis.CATALOGUE))
    monkeypatch.setitem(kpis.BY_KEY, key, new)
    return new


def test_every_scalar_kpi_of_a_run_has_one_entry_and_every_entry_is_in_the_summary(res: Result) -> None:
    s = res.summary
    scalars = {k for k, v in s.items() if (v is None or isinstance(v, int | float)) and not isinstance(v, bool)}
    assert scalars - kpis.NOT_KPIS - set(kpis.BY_KEY) == set(), "summary KPIs missing from the catalogue"
    assert set(kpis.BY_KEY) - set(s) == set(), "catalogue entries the summary lacks"
    dicts = {k for k, v in s.items() if isinstance(v, dict)}
    assert dicts == {k.key for k in kpis.CATALOGUE if k.breakdown}
    assert set(s) - set(kpis.BY_KEY) - kpis.NOT_KPIS - kpis.LISTS == set()
    assert len(kpis.BY_KEY) == len(kpis.CATALOGUE), "a key declared twice"
    assert all(k.kind in kpis.KINDS for k in kpis.CATALOGUE)


def test_shares_of_a_run_lie_in_0_1_and_follow_the_metrics_naming(res: Result) -> None:
    from casesim.studies.staffing_solver import is_share
    from casesim.studies.sweep import kpi_columns

    flat = kpi_columns(res.summary)
    shares = [k for k in flat if is_share(k)]
    assert {"share_needs_met", "compliance_by_stage.CUSTODY"} <= set(shares)
    for k in shares:
        assert math.isnan(flat[k]) or 0.0 <= flat[k] <= 1.0, (k, flat[k])
    for k in flat:   # shares are named share_*, compliance_*, proven_reoffending_*, *_rate, *_share; nothing
        base = k.split(".", 1)[0]   # else is one
        named = base.startswith(("share_", "compliance_", "proven_reoffending_")) or base.endswith(("_rate", "_share"))
        assert is_share(k) == named, k
    assert all(k.percent for k in kpis.CATALOGUE if k.kind == kpis.SHARE), "a share is shown in %"


def test_the_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(kpis.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"__future__", "math", "collections", "dataclasses", "typing"}, names


def test_run_console_summary_shows_the_catalogue_label(res: Result, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from casesim.cli import main

    relabel(monkeypatch, "breaches_per_case_year", short="Breaches (relabelled)")
    assert main(["run", str(BASELINE), *sum((["--set", o] for o in TINY), []), "--out", str(tmp_path / "r"),
                 "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "Breaches (relabelled)" in out and "Breaches per case-year" not in out


def test_report_and_comparison_show_the_catalogue_label_and_unit(res: Result, monkeypatch: pytest.MonkeyPatch) -> None:
    from casesim.outputs.report import kpi_table_html
    from casesim.studies.compare import console_table

    relabel(monkeypatch, "mean_wait_days", label="Waiting (relabelled)", unit="weeks?")
    html = kpi_table_html(res.summary)
    assert "<td>Waiting (relabelled)</td>" in html and "<td>weeks?</td>" in html
    assert "Wait for an intervention to start" not in html
    from tests.test_compare import synthetic

    blocks = [heading for heading, _ in console_table(synthetic(["a", "b"])).blocks]
    assert "Waiting (relabelled) (weeks?)" in blocks


def test_live_view_and_readme_table_show_the_catalogue_label(res: Result, monkeypatch: pytest.MonkeyPatch) -> None:
    from casesim.app.page import Snapshot, kpi_table_html

    relabel(monkeypatch, "completion_rate", short="Done (relabelled)", column="done (relabelled)")
    snap = Snapshot(day=120.0, horizon=120.0, window=(30.0, 120.0), kpis={"A": res.summary, "B": res.summary})
    html = kpi_table_html(snap, "GBP")
    assert "<th>Done (relabelled)</th>" in html
    assert f">{100 * res.summary['completion_rate']:.1f}%<" in html
    facts = json.loads((ROOT / "docs" / "readme_facts.json").read_text())
    assert "| done (relabelled) |" in readme_script().scenario_table(facts)


def readme_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_facts_fresh", ROOT / "scripts" / "readme_facts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("value", "pattern", "shown"), [
    (None, "%", "n/a"), (math.nan, "{:.1f}", "n/a"), (0.1234, "%", "12.3%"), (1234.5, "{:,.0f}", "1,234"),
    (0.956, "{:.0%}", "96%")])
def test_format_value(value: Any, pattern: str, shown: str) -> None:
    assert kpis.format_value(value, pattern) == shown
