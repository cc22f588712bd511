"""Write the figures the documentation quotes from runs, so they are never typed by hand and cannot go stale.

Each block between ``<!-- facts:NAME -->`` and ``<!-- /facts -->`` in README.md or a page of the documentation
site (``docs/*.md``) is written here, from the summaries of full-size runs of the shipped scenarios, each with
its own seed; every block appears once, in whichever page holds it (today ``docs/kpis.md`` and
``docs/costs.md``). The figures those blocks
need are kept in ``docs/readme_facts.json`` with what they came from (every scenario's SHA-256, the
casesim version, and a fingerprint of the regression baseline), so the blocks can be written again, and
checked, without running anything:

    python scripts/readme_facts.py             # run the scenarios (a few minutes), save the facts, write the pages
    python scripts/readme_facts.py --render    # write the blocks from the saved facts (no run)
    python scripts/readme_facts.py --check     # exit 1 if a page differs from what --render would write

``tests/test_readme_facts.py`` checks, cheaply, that the blocks are what ``--render`` writes and that the
saved facts still describe the current scenarios and engine (else: run this script).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from casesim.metrics.kpis import Kpi, readme_columns  # noqa: E402  (after the path above)

README = ROOT / "README.md"
DOCS = ROOT / "docs"
FACTS = DOCS / "readme_facts.json"


def pages() -> list[Path]:
    """Where facts blocks may be: README.md and every page of the documentation site (``docs/*.md``)."""
    return [README, *sorted(DOCS.glob("*.md"))]


#: The shipped scenarios of the documentation's table, in its order (england_wales*, us_like: not variants).
TABLE_SCENARIOS: tuple[str, ...] = (
    "baseline", "understaffed", "high_turnover", "pods_cover", "reallocation_cover", "pooled_allocation",
    "individual_patch", "individual_task_stage", "individual_task_process", "individual_type_risk",
    "through_the_gate", "community_teams", "team_custody", "hybrid_driver", "intensive_supervision",
    "modes_by_need", "comprehensive_high_risk", "strict_enforcement",
    "graduated_sanctions", "statutory_duty")

#: The KPIs of the scenario table: those with a column header in the catalogue (casesim.metrics.kpis), in its order;
#: each cell in the KPI's compact format.
TABLE_COLUMNS: tuple[Kpi, ...] = tuple(readme_columns())
#: The summary keys kept for every scenario (what the blocks read): the table's, then the others.
KEPT_KEYS: tuple[str, ...] = (
    *(kpi.key for kpi in TABLE_COLUMNS),
    "cost_total", "cost_by_category", "fte_required_by_setting", "fte_available_by_setting",
    "fte_at_work_by_setting", "workload_pressure_by_setting", "share_staff_excessive_workload_by_setting",
    "continuity_breaks_by_cause", "case_years", "currency", "warmup_days", "horizon_days")

#: Causes of continuity breaks in words (``manager_change`` causes).
BREAK_WORDS: dict[str, str] = {
    "custody_community_boundary": "at the custody/community boundary",
    "absence_cover": "temporary cover during an absence",
    "cover_return": "the return from that cover",
    "absence_reallocation": "reallocation for an absence",
    "staff_turnover": "staff turnover",
    "stage_handoff": "hand-offs between stages",
    "task_handoff": "hand-offs between tasks",
    "reclassification": "reclassification at review",
    "reallocation": "other reallocation",
}

BLOCK = re.compile(r"(<!-- facts:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /facts -->)", re.S)


# --------------------------------------------------------------------------- gathering the facts


def fingerprint(keys: tuple[str, ...] = KEPT_KEYS) -> dict[str, dict[str, Any]]:
    """The regression baseline's values (``tests/golden/reference.json``) of the kept keys that it holds:
    when an engine change moves them, the golden file is refreshed, and the saved facts no longer match."""
    from casesim.studies.golden import GOLDEN

    golden = json.loads(GOLDEN.read_text())
    return {name: {k: run["summary"][k] for k in keys if k in run["summary"]}
            for name, run in sorted(golden.items())}


def scenario_digests(names: tuple[str, ...] = TABLE_SCENARIOS) -> dict[str, str]:
    """SHA-256 of each scenario as loaded (every default filled in, its own seed)."""
    from casesim.scenario.schema import load_scenario

    return {name: load_scenario(ROOT / "scenarios" / f"{name}.yaml")[0].digest() for name in names}


def gather(names: tuple[str, ...] = TABLE_SCENARIOS) -> dict[str, Any]:
    """Run every scenario at full size with its own seed and keep what the blocks need."""
    from casesim.outputs.results import run
    from casesim.version import __version__

    runs = {}
    for name in names:
        result = run(ROOT / "scenarios" / f"{name}.yaml")
        runs[name] = {"seed": result.seed, **{k: result.summary[k] for k in KEPT_KEYS}}
        print(f"{name}: done", file=sys.stderr)
    return {"casesim_version": __version__, "scenario_sha256": scenario_digests(names),
            "golden_fingerprint": fingerprint(), "runs": runs}


# --------------------------------------------------------------------------- the blocks


def scenario_table(facts: Mapping[str, Any]) -> str:
    """The table of headline figures, one row per shipped scenario."""
    runs = facts["runs"]
    base = runs["baseline"]
    head = ["scenario", *(str(kpi.column).format(cur=base["currency"]) for kpi in TABLE_COLUMNS)]
    lines = [f"Full size, one run each with the scenario's seed ({base['seed']}), days "
             f"{base['warmup_days']:,.0f}-{base['horizon_days']:,.0f}; use `casesim sweep` for intervals:", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in TABLE_SCENARIOS:
        r = runs[name]
        lines.append("| " + " | ".join([name, *(kpi.shown(r[kpi.key], compact=True) for kpi in TABLE_COLUMNS)]) + " |")
    return "\n".join(lines) + "\n"


def _millions(x: float) -> str:
    return f"{x / 1e6:.1f}m"


def baseline_costs(facts: Mapping[str, Any]) -> str:
    """The baseline's cost per case-year, FTE and cost by category (every category, largest first)."""
    b = facts["runs"]["baseline"]
    cur = b["currency"]
    fte = "; ".join(f"{b['fte_required_by_setting'][s]:.1f} in {s} against {b['fte_available_by_setting'][s]:.1f} "
                    f"in post and {b['fte_at_work_by_setting'][s]:.1f} at work (workload pressure "
                    f"{b['workload_pressure_by_setting'][s]:.0%}, staff-weeks with excessive workload "
                    f"{b['share_staff_excessive_workload_by_setting'][s]:.0%})"
                    for s in sorted(b["fte_required_by_setting"]))
    cats = sorted(b["cost_by_category"].items(), key=lambda kv: -kv[1])
    return (f"**Baseline figures** (full size, seed {b['seed']}, days {b['warmup_days']:,.0f}-"
            f"{b['horizon_days']:,.0f}): cost per case-year {b['cost_per_case_year']:,.0f} {cur}; FTE required "
            f"{fte}; cost {_millions(b['cost_total'])} {cur}: "
            + ", ".join(f"{c} {_millions(v)}" for c, v in cats) + ".\n")


def baseline_breaks(facts: Mapping[str, Any]) -> str:
    """The baseline's continuity breaks per case-year by cause, largest first."""
    b = facts["runs"]["baseline"]
    years = b["case_years"]
    parts = [f"{n / years:.2f} {BREAK_WORDS.get(c, c)}" for c, n in
             sorted(b["continuity_breaks_by_cause"].items(), key=lambda kv: -kv[1])]
    return (f"In the baseline, of the {b['continuity_breaks_per_case_year']:.2f} continuity breaks per case-year, "
            + ", ".join(parts) + ".\n")


#: Every block: name -> what writes it from the facts.
BLOCKS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "scenario-table": scenario_table,
    "baseline-costs": baseline_costs,
    "baseline-breaks": baseline_breaks,
}


def blocks_in(text: str) -> dict[str, str]:
    """The body of every facts block in ``text``, by name."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def render(text: str, facts: Mapping[str, Any]) -> str:
    """``text`` with every facts block written from ``facts``; an unknown block name is an error."""
    def one(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in BLOCKS:
            raise KeyError(f"a page has a facts block {name!r} that {Path(__file__).name} does not write")
        return m.group(1) + BLOCKS[name](facts) + m.group(4)
    return BLOCK.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--render", action="store_true", help="write the blocks from the saved facts; run nothing")
    what.add_argument("--check", action="store_true", help="exit 1 if a page is not what --render writes")
    args = ap.parse_args(argv)
    if args.render or args.check:
        facts = json.loads(FACTS.read_text())
    else:
        facts = gather()
        tmp = FACTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, FACTS)
        print(f"wrote {FACTS.relative_to(ROOT)}", file=sys.stderr)
    texts = {page: page.read_text() for page in pages()}
    new = {page: render(text, facts) for page, text in texts.items()}
    stale = [page.relative_to(ROOT) for page in texts if new[page] != texts[page]]
    if args.check:
        if stale:
            print(f"facts blocks differ from the saved facts in {', '.join(map(str, stale))}: run python "
                  "scripts/readme_facts.py --render", file=sys.stderr)
            return 1
        return 0
    missing = set(BLOCKS) - {name for text in texts.values() for name in blocks_in(text)}
    if missing:
        print(f"no page has a block for {', '.join(sorted(missing))}", file=sys.stderr)
    for page in texts:
        if new[page] != texts[page]:
            tmp = page.with_suffix(".tmp")
            tmp.write_text(new[page])
            os.replace(tmp, page)
            print(f"rewrote the facts blocks of {page.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
