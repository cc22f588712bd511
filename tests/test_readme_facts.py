"""The facts the documentation gives about runs are checked here or written by ``scripts/readme_facts.py``.

The documentation is README.md and the pages of the site under ``docs/`` (``scripts/readme_facts.py``'s
``pages()``); each block below sits in one of them, and each is looked for across all of them.
Lists the code defines (output files, cost categories, summary keys) are compared with the code both ways;
figures from full-size runs sit in ``<!-- facts:NAME -->`` blocks that must be exactly what the script
writes from its saved facts (``docs/readme_facts.json``), and those facts must still describe the current
scenarios and engine. Nothing here runs more than a tiny scenario.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from casesim.metrics.costs import CATEGORIES
from casesim.outputs.results import OUTPUT_FILES, run
from casesim.studies.golden import GOLDEN, differences

ROOT = Path(__file__).resolve().parents[1]
TINY = ("time.horizon_days=60", "time.warmup_days=0", "arrivals.rate_per_day=1", "initial_population.by_stage={}")
#: Shipped scenarios that are not variants of the baseline, so not in the documentation's table.
NOT_VARIANTS = {"england_wales", "england_wales_national", "us_like",
                "reorganise_to_patch"}   # (a transition, not a steady state: docs/scenarios.md#changes-from-a-date)
#: Folders under scenarios/ whose files are not baseline variants either: the jurisdiction profiles and their
#: standard cohort (docs/jurisdictions.md; tests/test_jurisdictions.py validates and runs them). A new folder is
#: enumerated like the top level until it is listed here.
NOT_VARIANT_FOLDERS = {"jurisdictions", "linked"}   # (linked: files of services, not scenarios)
#: Names that are summary keys by their shape (in any page, each must then be one).
KPI_SHAPED = re.compile(
    r"^(cases_\w+|case_years|continuity_breaks\w*|mean_caseload\w*|mean_wait_days|share_\w+"
    r"|contacts_(required|not_offered)|compliance_(rate|by)\w*|\w+_per_case_year|referral_acceptance_rate"
    r"|interventions_(started|completed)|needs_identified|orders_(ended|completed)|completion_rate|custody_days"
    r"|cost_(total|by_\w+|per_case_year|per_completed_order)|fte_\w+|workload_hours\w*|intervention_place_days"
    r"|unpriced_contact_modes|run_warnings)$")


@cache
def facts_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_facts", ROOT / "scripts" / "readme_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def pages() -> dict[Path, str]:
    """README.md and every page of the documentation site, by path."""
    texts = {page: page.read_text() for page in facts_script().pages()}
    assert ROOT / "README.md" in texts and len(texts) > 1, "README.md and docs/*.md are the pages"
    return texts


#: Pages whose backquoted names are not summary keys: the event log's page names each event's fields
#: (``share_kept`` of a review), rendered from casesim/log/events.py and checked against it in tests/test_events.py.
NOT_ABOUT_THE_SUMMARY = frozenset({"events.md"})


def all_text() -> str:
    return "\n".join(text for name, text in pages().items() if Path(name).name not in NOT_ABOUT_THE_SUMMARY)


@cache
def tiny_summary() -> dict[str, Any]:
    return run(ROOT / "scenarios" / "baseline.yaml", overrides=TINY, seed=3).summary


def checked_block(name: str) -> str:
    """The text between ``<!-- checked:NAME -->`` and ``<!-- /checked -->`` (exactly one such block, in all the
    pages together)."""
    found = [(page, body) for page, text in pages().items()
             for body in re.findall(rf"<!-- checked:{name} -->\n(.*?)<!-- /checked -->", text, re.S)]
    assert len(found) == 1, f"the pages need exactly one checked:{name} block, found {[str(p) for p, _ in found]}"
    return found[0][1]


def first_column_names(block: str) -> list[str]:
    """The backquoted names in the first column of a Markdown table's body rows."""
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("|---")][1:]
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row.split(" | ")[0])]


def test_output_files_listed_are_those_a_run_writes() -> None:
    named = first_column_names(checked_block("output-files"))
    assert len(named) == len(set(named)), "a file listed twice"
    assert set(named) == set(OUTPUT_FILES)


def test_cost_categories_listed_are_those_the_costs_produce() -> None:
    assert first_column_names(checked_block("cost-categories")) == list(CATEGORIES)
    assert list(tiny_summary()["cost_by_category"]) == list(CATEGORIES)


def test_kpi_table_lists_every_summary_key_and_no_other() -> None:
    named = first_column_names(checked_block("summary-keys"))
    assert len(named) == len(set(named)), "a key listed twice"
    keys = set(tiny_summary())
    assert not set(named) - keys, f"the docs name keys summary.json does not have: {sorted(set(named) - keys)}"
    assert not keys - set(named), f"summary.json keys missing from the docs' table: {sorted(keys - set(named))}"


def test_every_summary_key_named_anywhere_in_the_readme_exists() -> None:
    """In README.md and in every page of the documentation site."""
    summary = tiny_summary()
    golden = [r["summary"] for r in json.loads(GOLDEN.read_text()).values()]
    names = set(re.findall(r"`([A-Za-z_][\w.]*)`", all_text()))
    wrong = []
    for name in sorted(names):
        head, _, sub = name.partition(".")
        if sub and isinstance(summary.get(head), dict):   # a dict KPI's entry, as sweeps and compare name them
            if not any(sub in s.get(head, {}) for s in [summary, *golden]):
                wrong.append(name)
        elif not sub and KPI_SHAPED.match(name) and name not in summary:
            wrong.append(name)
    assert not wrong, f"the docs name summary keys that do not exist: {wrong}"


def test_a_misnamed_key_would_be_found() -> None:
    """The two patterns above catch what they are for (the README once said cost_by_category.contacts), and
    they read the pages the text moved to (the KPI table lives in docs/kpis.md, not in README.md)."""
    assert KPI_SHAPED.match("cost_per_case_year") and KPI_SHAPED.match("compliance_rate_of_due")
    assert not KPI_SHAPED.match("cost_per_contact") and not KPI_SHAPED.match("warnings_before_breach")
    assert "contacts" not in tiny_summary()["cost_by_category"]
    assert "`compliance_rate_of_due`" in all_text() and "`cost_by_category`" in all_text()


# --------------------------------------------------------------------------- generated blocks


def test_facts_blocks_are_what_the_script_writes() -> None:
    script = facts_script()
    facts = json.loads(script.FACTS.read_text())
    blocks = [name for text in pages().values() for name in script.blocks_in(text)]
    assert sorted(blocks) == sorted(script.BLOCKS), "every block the script writes appears in the pages once"
    assert sum(all_text().count(f"<!-- facts:{name} -->") for name in script.BLOCKS) == len(script.BLOCKS)
    for page, text in pages().items():
        assert script.render(text, facts) == text, (
            f"{page.relative_to(ROOT)}'s facts blocks were edited by hand or the script changed: "
            "python scripts/readme_facts.py --render")


def test_saved_facts_describe_the_current_scenarios() -> None:
    script = facts_script()
    facts = json.loads(script.FACTS.read_text())
    folder = ROOT / "scenarios"
    shipped = {p.stem for p in folder.rglob("*.yaml") if p.relative_to(folder).parts[0] not in NOT_VARIANT_FOLDERS}
    assert (folder / "jurisdictions" / "standard_cohort.yaml").is_file(), "NOT_VARIANT_FOLDERS names a folder gone"
    assert set(script.TABLE_SCENARIOS) == shipped - NOT_VARIANTS, "a shipped scenario missing from the table"
    assert set(facts["runs"]) == set(script.TABLE_SCENARIOS)
    changed = [n for n, d in script.scenario_digests().items() if facts["scenario_sha256"].get(n) != d]
    assert not changed, f"scenarios changed since the docs' figures were made: {changed}; run " \
                        "python scripts/readme_facts.py"


def test_saved_facts_were_made_by_the_current_engine() -> None:
    """The regression baseline's values of the keys the blocks read, as they were when the facts were made:
    a change to results refreshes the golden file, and then the README's figures are stale too. (Keys the
    golden file did not hold then are not compared, so adding a key does not make the figures stale.)"""
    script = facts_script()
    saved = json.loads(script.FACTS.read_text())["golden_fingerprint"]
    now = script.fingerprint()
    assert set(saved) == set(now)
    diff = [d for name in saved
            for d in differences(saved[name], {k: now[name].get(k) for k in saved[name]}, name)]
    assert not diff, "results changed since the README's figures were made; run python scripts/readme_facts.py:\n" \
                     + "\n".join(diff[:10])


def test_baseline_cost_block_has_every_category_and_adds_up() -> None:
    script = facts_script()
    base = json.loads(script.FACTS.read_text())["runs"]["baseline"]
    assert set(base["cost_by_category"]) == set(CATEGORIES), "the categories changed: run scripts/readme_facts.py"
    assert sum(base["cost_by_category"].values()) == pytest.approx(base["cost_total"], rel=1e-12)
    block = next(b["baseline-costs"] for b in map(script.blocks_in, pages().values()) if "baseline-costs" in b)
    assert all(f" {c} " in block for c in CATEGORIES)


def test_render_writes_only_inside_the_blocks() -> None:
    script = facts_script()
    facts = json.loads(script.FACTS.read_text())
    text = "before\n<!-- facts:baseline-breaks -->\nstale\n<!-- /facts -->\nafter\n"
    out = script.render(text, facts)
    assert out.startswith("before\n<!-- facts:baseline-breaks -->\nIn the baseline, ")
    assert out.endswith("<!-- /facts -->\nafter\n") and "stale" not in out
    with pytest.raises(KeyError, match="unknown-block"):
        script.render("<!-- facts:unknown-block -->\n<!-- /facts -->\n", facts)


_PRESSURE, _BREAKS = "workload_pressure_by_setting.community", "continuity_breaks_per_case_year"
_BREACHES, _COMPLETED, _KEPT = "breaches_per_case_year", "completion_rate", "compliance_rate_of_offered"


def _vs(scenario: str, other: str, key: str, decimals: int) -> tuple[tuple[str, str, int], ...]:
    """The figure ``key`` of ``scenario``, then of ``other``, each read with ``decimals``."""
    return ((scenario, key, decimals), (other, key, decimals))


#: Figures the shipped scenarios' comments quote from the full-size runs (docs/readme_facts.json), each as
#: (scenario whose comment quotes it, the words around it with ``{}`` for each figure, and per figure the
#: scenario, summary key and decimals it is read from; a percentage is written with one fewer place).
#: A change to results that moves one of them fails here, naming the comment to update.
COMMENT_FIGURES: tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], ...] = (
    ("community_teams", "pressure rises ({} against {})", _vs("community_teams", "baseline", _PRESSURE, 2)),
    ("comprehensive_high_risk", "(community {} against {})", _vs("comprehensive_high_risk", "baseline", _PRESSURE, 2)),
    ("high_turnover", "(community workload pressure {} against {})", _vs("high_turnover", "baseline", _PRESSURE, 2)),
    ("intensive_supervision", "(community {} against {})", _vs("intensive_supervision", "baseline", _PRESSURE, 2)),
    ("modes_by_need", "(community workload pressure {} against {})", _vs("modes_by_need", "baseline", _PRESSURE, 2)),
    ("understaffed", "(community {} against {},", _vs("understaffed", "baseline", _PRESSURE, 2)),
    ("team_custody", "custody workload pressure {} against {})",
     _vs("team_custody", "baseline", "workload_pressure_by_setting.custody", 2)),
    ("reallocation_cover", "({} against {}), each lasting", _vs("reallocation_cover", "pods_cover", _BREAKS, 1)),
    ("reallocation_cover", "more breaches ({} against {}", _vs("reallocation_cover", "pods_cover", _BREACHES, 3)),
    ("strict_enforcement", "(about {}% against {}%)", _vs("strict_enforcement", "baseline", _COMPLETED, -2)),
    ("individual_type_risk", "breaks per case-year {} against {}", _vs("individual_type_risk", "baseline", _BREAKS, 2)),
    ("individual_type_risk", "specialists, {}% of contacts kept against {}%, breaches {} against {}",
     _vs("individual_type_risk", "pooled_allocation", _KEPT, -3)
     + _vs("individual_type_risk", "pooled_allocation", _BREACHES, 3)),
    ("individual_task_process", "({}% -> {}% of contacts kept, {}% -> {}% of orders completed",
     _vs("pooled_allocation", "individual_task_process", _KEPT, -3)
     + _vs("pooled_allocation", "individual_task_process", _COMPLETED, -3)),
    ("individual_task_stage", "{}% of contacts kept against {}%, {}% of orders completed against {}%",
     _vs("individual_task_stage", "pooled_allocation", _KEPT, -3)
     + _vs("individual_task_stage", "pooled_allocation", _COMPLETED, -3)),
)


def _comment(name: str) -> str:
    """The leading comment of a shipped scenario as one line of text."""
    lines = []
    for line in (ROOT / "scenarios" / f"{name}.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def _figure(value: float, decimals: int) -> str:
    """``value`` as a comment writes it: ``decimals`` places, or a percentage with ``-decimals - 1`` places."""
    if decimals < 0:
        return f"{100 * value:.{-decimals - 2}f}"
    return f"{value:.{decimals}f}"


@pytest.mark.parametrize(("name", "words", "figures"), COMMENT_FIGURES,
                         ids=[f"{c[0]}:{c[1][:24]}" for c in COMMENT_FIGURES])
def test_scenario_comments_quote_the_full_size_runs_as_they_are(name: str, words: str, figures: tuple) -> None:
    runs = json.loads(facts_script().FACTS.read_text())["runs"]

    def read(scenario: str, key: str) -> float:
        value: Any = runs[scenario]
        for part in key.split("."):
            value = value[part]
        return float(value)

    expected = words.format(*(_figure(read(s, k), d) for s, k, d in figures))
    assert expected in _comment(name), (f"scenarios/{name}.yaml's comment should say '{expected}' (the full-size "
                                        f"runs in docs/readme_facts.json); update the comment")
