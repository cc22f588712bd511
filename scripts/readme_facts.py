"""Write the figures README.md quotes from runs, so they are never typed by hand and cannot go stale.

Each block of README.md between ``<!-- facts:NAME -->`` and ``<!-- /facts -->`` is written here, from the
summaries of full-size runs of the shipped scenarios, each with its own seed. The figures those blocks
need are kept in ``docs/readme_facts.json`` with what they came from (every scenario's SHA-256, the
casesim version, and a fingerprint of the regression baseline), so the blocks can be written again, and
checked, without running anything:

    python scripts/readme_facts.py             # run the scenarios (a few minutes), save the facts, write README.md
    python scripts/readme_facts.py --render    # write the blocks from the saved facts (no run)
    python scripts/readme_facts.py --check     # exit 1 if README.md differs from what --render would write

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

README = ROOT / "README.md"
FACTS = ROOT / "docs" / "readme_facts.json"

#: The shipped scenarios of the README's table, in its order (england_wales*, us_like: not variants).
TABLE_SCENARIOS: tuple[str, ...] = (
    "baseline", "understaffed", "high_turnover", "pods_cover", "reallocation_cover", "pooled_allocation",
    "individual_patch", "individual_task_stage", "individual_task_process", "individual_type_risk",
    "through_the_gate", "community_teams", "team_custody", "hybrid_driver", "intensive_supervision",
    "modes_by_need", "comprehensive_high_risk", "strict_enforcement", "statutory_duty")

#: The summary keys kept for every scenario (what the blocks read).
KEPT_KEYS: tuple[str, ...] = (
    "mean_caseload", "mean_caseload_pressure", "share_manager_time_over_capacity",
    "continuity_breaks_per_case_year", "compliance_rate_of_offered", "compliance_rate_of_due",
    "share_contacts_not_offered",
    "breaches_per_case_year", "completion_rate", "mean_wait_days", "cost_per_case_year", "cost_total",
    "cost_by_category", "fte_required_by_setting", "fte_available_by_setting", "continuity_breaks_by_cause",
    "case_years", "currency", "warmup_days", "horizon_days")

#: Columns of the scenario table: header, summary key, format (``%``: a share with ``digits`` decimals).
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cases per manager", "mean_caseload", "{:.1f}"),
    ("pressure", "mean_caseload_pressure", "%0"),
    ("manager time > 100%", "share_manager_time_over_capacity", "%0"),
    ("breaks per case-year", "continuity_breaks_per_case_year", "{:.2f}"),
    ("contacts kept, of those offered", "compliance_rate_of_offered", "%1"),
    ("contacts kept, of those due", "compliance_rate_of_due", "%1"),
    ("contacts not offered", "share_contacts_not_offered", "%1"),
    ("breaches per case-year", "breaches_per_case_year", "{:.3f}"),
    ("orders completed", "completion_rate", "%1"),
    ("mean wait (days)", "mean_wait_days", "{:.0f}"),
    ("cost per case-year ({cur})", "cost_per_case_year", "{:,.0f}"),
)

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
    from casesim.golden import GOLDEN

    golden = json.loads(GOLDEN.read_text())
    return {name: {k: run["summary"][k] for k in keys if k in run["summary"]}
            for name, run in sorted(golden.items())}


def scenario_digests(names: tuple[str, ...] = TABLE_SCENARIOS) -> dict[str, str]:
    """SHA-256 of each scenario as loaded (every default filled in, its own seed)."""
    from casesim.scenario import load_scenario

    return {name: load_scenario(ROOT / "scenarios" / f"{name}.yaml")[0].digest() for name in names}


def gather(names: tuple[str, ...] = TABLE_SCENARIOS) -> dict[str, Any]:
    """Run every scenario at full size with its own seed and keep what the blocks need."""
    from casesim import __version__
    from casesim.results import run

    runs = {}
    for name in names:
        result = run(ROOT / "scenarios" / f"{name}.yaml")
        runs[name] = {"seed": result.seed, **{k: result.summary[k] for k in KEPT_KEYS}}
        print(f"{name}: done", file=sys.stderr)
    return {"casesim_version": __version__, "scenario_sha256": scenario_digests(names),
            "golden_fingerprint": fingerprint(), "runs": runs}


# --------------------------------------------------------------------------- the blocks


def _cell(value: Any, pattern: str) -> str:
    if value is None:
        return "n/a"
    if pattern.startswith("%"):
        return f"{100 * value:.{int(pattern[1:])}f}%"
    return pattern.format(value)


def scenario_table(facts: Mapping[str, Any]) -> str:
    """The table of headline figures, one row per shipped scenario."""
    runs = facts["runs"]
    base = runs["baseline"]
    head = ["scenario", *(h.format(cur=base["currency"]) for h, _, _ in TABLE_COLUMNS)]
    lines = [f"Full size, one run each with the scenario's seed ({base['seed']}), days "
             f"{base['warmup_days']:,.0f}-{base['horizon_days']:,.0f}; use `casesim sweep` for intervals:", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in TABLE_SCENARIOS:
        r = runs[name]
        lines.append("| " + " | ".join([name, *(_cell(r[k], p) for _, k, p in TABLE_COLUMNS)]) + " |")
    return "\n".join(lines) + "\n"


def _millions(x: float) -> str:
    return f"{x / 1e6:.1f}m"


def baseline_costs(facts: Mapping[str, Any]) -> str:
    """The baseline's cost per case-year, FTE and cost by category (every category, largest first)."""
    b = facts["runs"]["baseline"]
    cur = b["currency"]
    fte = "; ".join(f"{b['fte_required_by_setting'][s]:.1f} in {s} against {b['fte_available_by_setting'][s]:.1f} "
                    "in post" for s in sorted(b["fte_required_by_setting"]))
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
            raise KeyError(f"README.md has a facts block {name!r} that {Path(__file__).name} does not write")
        return m.group(1) + BLOCKS[name](facts) + m.group(4)
    return BLOCK.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--render", action="store_true", help="write the blocks from the saved facts; run nothing")
    what.add_argument("--check", action="store_true", help="exit 1 if README.md is not what --render writes")
    args = ap.parse_args(argv)
    if args.render or args.check:
        facts = json.loads(FACTS.read_text())
    else:
        facts = gather()
        tmp = FACTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, FACTS)
        print(f"wrote {FACTS.relative_to(ROOT)}", file=sys.stderr)
    text = README.read_text()
    new = render(text, facts)
    if args.check:
        if new != text:
            print("README.md's facts blocks differ from the saved facts: run python scripts/readme_facts.py "
                  "--render", file=sys.stderr)
            return 1
        return 0
    missing = set(BLOCKS) - set(blocks_in(text))
    if missing:
        print(f"README.md has no block for {', '.join(sorted(missing))}", file=sys.stderr)
    if new != text:
        tmp = README.with_suffix(".tmp")
        tmp.write_text(new)
        os.replace(tmp, README)
        print("rewrote README.md's facts blocks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
