"""Mode assignment: the ``rules`` policy on fake cases, its validation through scenario files, and
what the two rule scenarios do to a run compared with the baseline (same seed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest

from casesim.models import build, names
from casesim.models.modes import RiskTableParams, Rules, RulesParams
from casesim.outputs.results import Result, run
from casesim.scenario.schema import load_scenario
from casesim.scenario.yamlio import ScenarioError
from tests.helpers import SCENARIOS, newcomers, scaled

SEED = 17
BASELINE = SCENARIOS / "baseline.yaml"
CONTACTS = ["contact_kept", "contact_missed"]


# --------------------------------------------------------------------------- the policy on fake cases


def case(risk: str = "LOW", offence: str = "general", identified: tuple[str, ...] = (),
         met: tuple[str, ...] = (), needs: tuple[str, ...] = ()) -> SimpleNamespace:
    """A stand-in for a Case with what a mode policy may look at."""
    return SimpleNamespace(risk=risk, offence=offence, identified=set(identified), met=set(met),
                           open_needs=frozenset(identified) - frozenset(met), needs=tuple(needs) or tuple(identified))


def rules(*rows: dict, default: str = "ADMINISTRATIVE") -> Rules:
    pol = build("mode_assignment", RulesParams.model_validate({"rules": list(rows), "default": default}))
    assert isinstance(pol, Rules)
    return pol


def test_rules_is_registered_beside_risk_table() -> None:
    assert {"risk_table", "rules"} <= set(names("mode_assignment"))


def test_first_matching_rule_wins() -> None:
    pol = rules({"mode": "COMPREHENSIVE", "risk": ["HIGH"]},
                {"mode": "THERAPEUTIC", "needs_any": ["substance_misuse"]},
                {"mode": "BROKERAGE", "needs_any": ["substance_misuse"]})
    assert pol.mode_for(case("HIGH", identified=("substance_misuse",))) == "COMPREHENSIVE"
    assert pol.mode_for(case("MEDIUM", identified=("substance_misuse",))) == "THERAPEUTIC"
    assert pol.mode_for(case("MEDIUM")) == "ADMINISTRATIVE"


def test_default_and_a_rule_without_conditions() -> None:
    assert rules(default="BROKERAGE").mode_for(case("HIGH")) == "BROKERAGE"
    pol = rules({"mode": "COMPREHENSIVE", "risk": ["HIGH"]}, {"mode": "THERAPEUTIC"}, default="BROKERAGE")
    assert pol.mode_for(case("LOW")) == "THERAPEUTIC"
    assert pol.mode_for(case("HIGH")) == "COMPREHENSIVE"


def test_risk_condition() -> None:
    pol = rules({"mode": "BROKERAGE", "risk": ["MEDIUM", "HIGH"]})
    assert [pol.mode_for(case(r)) for r in ("LOW", "MEDIUM", "HIGH")] == ["ADMINISTRATIVE", "BROKERAGE",
                                                                          "BROKERAGE"]


def test_offence_condition_together_with_risk() -> None:
    pol = rules({"mode": "COMPREHENSIVE", "risk": ["MEDIUM"], "offence": ["sexual", "violent"]})
    assert pol.mode_for(case("MEDIUM", "violent")) == "COMPREHENSIVE"
    assert pol.mode_for(case("MEDIUM", "sexual")) == "COMPREHENSIVE"
    assert pol.mode_for(case("MEDIUM", "drug")) == "ADMINISTRATIVE"     # offence fails
    assert pol.mode_for(case("LOW", "violent")) == "ADMINISTRATIVE"     # risk fails


def test_needs_any_looks_at_identified_unmet_needs_only() -> None:
    pol = rules({"mode": "THERAPEUTIC", "needs_any": ["substance_misuse", "mental_health"]})
    assert pol.mode_for(case(identified=("mental_health",))) == "THERAPEUTIC"
    assert pol.mode_for(case(identified=("employment", "substance_misuse"))) == "THERAPEUTIC"
    assert pol.mode_for(case(identified=("employment",))) == "ADMINISTRATIVE"
    # a true need not (yet) identified by assessment does not count
    assert pol.mode_for(case(needs=("substance_misuse",))) == "ADMINISTRATIVE"
    # nor one met by a completed intervention
    assert pol.mode_for(case(identified=("substance_misuse",), met=("substance_misuse",))) == "ADMINISTRATIVE"


def test_min_and_max_needs_count_identified_unmet_needs_inclusively() -> None:
    pol = rules({"mode": "BROKERAGE", "min_needs": 2, "max_needs": 3})
    three = ("employment", "education", "accommodation")
    assert pol.mode_for(case(identified=three[:1])) == "ADMINISTRATIVE"
    assert pol.mode_for(case(identified=three[:2])) == "BROKERAGE"
    assert pol.mode_for(case(identified=three)) == "BROKERAGE"
    assert pol.mode_for(case(identified=(*three, "mental_health"))) == "ADMINISTRATIVE"
    assert pol.mode_for(case(identified=three, met=three[:2])) == "ADMINISTRATIVE"    # one left unmet
    assert rules({"mode": "BROKERAGE", "max_needs": 0}).mode_for(case()) == "BROKERAGE"


def test_risk_table_is_unchanged() -> None:
    pol = build("mode_assignment", RiskTableParams())
    assert [pol.mode_for(case(r, identified=("substance_misuse",))) for r in ("LOW", "MEDIUM", "HIGH")] == \
        ["ADMINISTRATIVE", "BROKERAGE", "COMPREHENSIVE"]


# --------------------------------------------------------------------------- validation through files


def problems_of(tmp_path: Path, body: str) -> tuple[Path, list[str]]:
    """Write a scenario extending the real baseline; return its path and the formatted problems."""
    path = tmp_path / "scenario.yaml"
    path.write_text(f"extends: {BASELINE}\n{body}")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    return path, [p.format() for p in err.value.problems]


def line_of(path: Path, text: str) -> int:
    """1-based number of the only line of ``path`` containing ``text``."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, hits
    return hits[0]


RULES_WITH_MISTAKES = """\
mode_assignment:
  name: rules
  rules:
    - {mode: COMPREHENSIVE, risk: [HIGH, VERY_HIGH]}
    - {mode: THERAPY, risk: [MEDIUM]}
    - {mode: BROKERAGE, min_needs: 3, max_needs: 1}
    - {mode: BROKERAGE, min_needs: -1}
    - {mode: BROKERAGE, offence: []}
  default: ADMINISTRATIVE
"""


def test_schema_mistakes_in_rules_are_reported_with_file_line_and_path(tmp_path: Path) -> None:
    path, got = problems_of(tmp_path, RULES_WITH_MISTAKES)
    assert got == [
        f"{path}:{line_of(path, 'VERY_HIGH')}: mode_assignment.rules.0.risk.1: unknown risk level 'VERY_HIGH'; "
        "valid: LOW, MEDIUM, HIGH",
        f"{path}:{line_of(path, 'THERAPY')}: mode_assignment.rules.1.mode: unknown mode 'THERAPY'; "
        "valid: ADMINISTRATIVE, BROKERAGE, THERAPEUTIC, COMPREHENSIVE",
        f"{path}:{line_of(path, 'max_needs: 1')}: mode_assignment.rules.2: min_needs (3) is greater than "
        "max_needs (1): the rule can never match",
        f"{path}:{line_of(path, 'min_needs: -1')}: mode_assignment.rules.3.min_needs: a number of needs cannot be "
        "negative (got -1)",
        f"{path}:{line_of(path, 'offence: []')}: mode_assignment.rules.4.offence: an empty list matches no case; "
        "leave the condition out to match every case",
    ]


def test_offences_and_needs_must_exist_in_arrivals(tmp_path: Path) -> None:
    path, got = problems_of(tmp_path, """\
mode_assignment:
  name: rules
  rules:
    - {mode: COMPREHENSIVE, risk: [HIGH]}
    - {mode: COMPREHENSIVE, offence: [sexual, fraud]}
    - {mode: THERAPEUTIC, needs_any: [gambling, mental_health]}
  default: ADMINISTRATIVE
""")
    assert got == [
        f"{path}:{line_of(path, 'fraud')}: mode_assignment.rules.1.offence.1: unknown offence type 'fraud'; "
        "valid (arrivals.offence_mix): general, violent, drug, sexual",
        f"{path}:{line_of(path, 'gambling')}: mode_assignment.rules.2.needs_any.0: unknown need 'gambling'; "
        "valid (arrivals.needs_prevalence): substance_misuse, mental_health, accommodation, employment, education",
    ]


def test_rules_that_can_never_match_are_reported(tmp_path: Path) -> None:
    path, got = problems_of(tmp_path, """\
mode_assignment:
  name: rules
  rules:
    - {mode: BROKERAGE, min_needs: 6}
    - {mode: ADMINISTRATIVE}
    - {mode: COMPREHENSIVE, risk: [HIGH]}
  default: ADMINISTRATIVE
""")
    assert got == [
        f"{path}:{line_of(path, 'min_needs: 6')}: mode_assignment.rules.0.min_needs: only 5 needs exist "
        "(arrivals.needs_prevalence): the rule can never match",
        f"{path}:{line_of(path, 'risk: [HIGH]')}: mode_assignment.rules.2: can never match: rule 1 before it has "
        "no conditions and matches every case",
    ]


def test_every_assignable_mode_needs_skilled_staff_in_each_setting(tmp_path: Path) -> None:
    path, got = problems_of(tmp_path, """\
staff:
  - {name: generic, setting: community, count: 60, modes: [ADMINISTRATIVE, BROKERAGE]}
  - {name: custody, setting: custody, count: 20, modes: [ADMINISTRATIVE, THERAPEUTIC, COMPREHENSIVE]}
mode_assignment:
  name: rules
  rules:
    - {mode: COMPREHENSIVE, risk: [HIGH]}
    - {mode: THERAPEUTIC, needs_any: [substance_misuse]}
  default: BROKERAGE
""")
    at = f"{path}:{line_of(path, 'mode_assignment:')}: mode_assignment: can assign"
    tail = "in its 'modes': such cases could not be held there"
    assert got == [f"{at} BROKERAGE, but no staff group in the custody setting has that mode {tail}",
                   f"{at} THERAPEUTIC, but no staff group in the community setting has that mode {tail}",
                   f"{at} COMPREHENSIVE, but no staff group in the community setting has that mode {tail}"]


def test_risk_table_checks_staff_skills_too(tmp_path: Path) -> None:
    path, got = problems_of(tmp_path, """\
staff:
  - {name: generic, setting: community, count: 60, modes: [ADMINISTRATIVE, BROKERAGE]}
  - {name: specialists, setting: community, count: 5, modes: [COMPREHENSIVE]}
  - {name: custody, setting: custody, count: 20, modes: [ADMINISTRATIVE, BROKERAGE]}
""")
    assert got == [f"{BASELINE}:{line_of(BASELINE, 'mode_assignment:')}: mode_assignment: can assign COMPREHENSIVE, "
                   "but no staff group in the custody setting has that mode in its 'modes': such cases could not "
                   "be held there"]


def test_an_unknown_default_mode_is_rejected(tmp_path: Path) -> None:
    _, got = problems_of(tmp_path, "mode_assignment: {name: rules, rules: [{mode: BROKERAGE}], default: NONE}\n")
    assert len(got) == 1
    assert got[0].endswith("unknown mode 'NONE'; valid: ADMINISTRATIVE, BROKERAGE, THERAPEUTIC, COMPREHENSIVE")


def test_an_unknown_default_mode_is_located_at_default(tmp_path: Path) -> None:
    path, got = problems_of(tmp_path, """\
mode_assignment:
  name: rules
  rules: [{mode: BROKERAGE, risk: [MEDIUM]}]
  default: NONE
""")
    assert got == [f"{path}:{line_of(path, 'NONE')}: mode_assignment.default: unknown mode 'NONE'; "
                   "valid: ADMINISTRATIVE, BROKERAGE, THERAPEUTIC, COMPREHENSIVE"]


# --------------------------------------------------------------------------- through scenarios


@cache
def run_scenario(name: str) -> Result:
    return run(scaled(SCENARIOS / f"{name}.yaml"), seed=SEED)


def contacts_per_case_year(res: Result) -> float:
    ev = res.events
    measured = ev["kind"].isin(CONTACTS) & (ev["time"] >= res.scenario.time.warmup_days)
    return int(measured.sum()) / res.summary["case_years"]


def mode_changes_with_risk(res: Result) -> list[tuple[int, float, str, str]]:
    """(case, time, new mode, risk at that moment) for every mode_change, replaying risk changes in log order."""
    risk = dict(zip(res.register["case"], res.register["risk"], strict=True))
    ev = res.events
    ev = ev[ev["kind"].isin(["mode_change", "risk_change"])]
    out = []
    for c, t, kind, cause in zip(ev["case"], ev["time"], ev["kind"].astype(str), ev["cause"].astype(str),
                                 strict=True):
        if kind == "risk_change":
            risk[c] = cause
        else:
            out.append((int(c), float(t), cause, risk[c]))
    return out


def test_comprehensive_for_more_offences_means_more_contacts_and_contact_cost() -> None:
    base, comp = run_scenario("baseline"), run_scenario("comprehensive_high_risk")
    assert newcomers(comp.register).equals(newcomers(base.register))   # same people: the difference is the policy
    assert contacts_per_case_year(comp) > 1.05 * contacts_per_case_year(base)
    assert (comp.summary["workload_hours_by_activity"]["casework"]   # contacts are the caseload's hours
            > 1.15 * base.summary["workload_hours_by_activity"]["casework"])


def test_comprehensive_high_risk_gives_comprehensive_to_high_and_to_medium_sexual_or_violent() -> None:
    res = run_scenario("comprehensive_high_risk")
    offence = dict(zip(res.register["case"], res.register["offence"], strict=True))
    changes = mode_changes_with_risk(res)
    expected = {"HIGH": "COMPREHENSIVE", "LOW": "ADMINISTRATIVE"}
    for c, _, mode, risk in changes:
        if risk == "MEDIUM":
            assert mode == ("COMPREHENSIVE" if offence[c] in ("sexual", "violent") else "BROKERAGE")
        else:
            assert mode == expected[risk]
    assert any(risk == "MEDIUM" and mode == "COMPREHENSIVE" for _, _, mode, risk in changes)


def test_modes_by_need_puts_therapeutic_only_on_non_high_cases_with_those_needs() -> None:
    res = run_scenario("modes_by_need")
    needs = {c: set(n.split("+")) for c, n in zip(res.register["case"], res.register["needs"], strict=True)}
    therapeutic = [(c, risk) for c, _, mode, risk in mode_changes_with_risk(res) if mode == "THERAPEUTIC"]
    assert len(therapeutic) > 100
    for c, risk in therapeutic:
        assert needs[c] & {"substance_misuse", "mental_health"}, c
        assert risk != "HIGH", c


def test_modes_by_need_changes_mode_at_review_as_needs_are_identified() -> None:
    res = run_scenario("modes_by_need")
    changes = mode_changes_with_risk(res)
    first: dict[int, str] = {}
    later: list[tuple[int, float, str]] = []
    for c, t, mode, _ in changes:
        if c in first:
            later.append((c, t, mode))
        else:
            first[c] = mode
    # at first stage entry nothing is identified yet: only the risk rule or the default can apply
    assert set(first.values()) == {"COMPREHENSIVE", "ADMINISTRATIVE"}
    ev = res.events
    asked = ev[ev["kind"].isin(["review", "plan", "stage_enter"])]   # when the rule is asked again
    reviews = set(zip(asked["case"], asked["time"], strict=True))
    risk_moves = set(zip(ev.loc[ev["kind"] == "risk_change", "case"], ev.loc[ev["kind"] == "risk_change", "time"],
                         strict=True))
    # later changes happen when the plan is made, at reviews or at a new stage; many without any
    # change of risk, so from the needs found
    assert later and all((c, t) in reviews for c, t, _ in later)
    by_need = [m for c, t, m in later if (c, t) not in risk_moves]
    assert len(by_need) > 100
    assert {"THERAPEUTIC", "BROKERAGE"} <= set(by_need)
