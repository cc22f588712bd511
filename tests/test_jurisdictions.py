"""Jurisdiction profiles run with one standard cohort (``casesim compare ... --cohort``), and the map of choices
(casesim/studies/jurisdictions.py, docs/jurisdictions.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import SCENARIOS, newcomers

from casesim.cli import main
from casesim.outputs.results import run
from casesim.scenario.schema import Scenario, load_scenario
from casesim.scenario.yamlio import ScenarioError
from casesim.studies.compare import compare, page_html, side_by_side
from casesim.studies.jurisdictions import COHORT_SECTIONS, choice_cells, choices, load_profile

FOLDER = SCENARIOS / "jurisdictions"
COHORT = FOLDER / "standard_cohort.yaml"
PROFILES = sorted(p for p in FOLDER.glob("*.yaml") if p != COHORT)
#: Small and short: the people only have to arrive (about 440 on day 0 and 0.7 a day).
TINY = ["population_scale=0.1", "time.horizon_days=150", "time.warmup_days=30"]


def test_there_are_at_least_four_contrasting_profiles_of_the_same_size() -> None:
    assert len(PROFILES) >= 4
    loaded = [load_scenario(p)[0] for p in PROFILES]
    assert len({s.name for s in loaded}) == len(loaded)
    assert len({sum(g.count for g in s.staff) for s in loaded}) == 1, "every profile has the same number of posts"
    rows = [choices(s) for s in loaded]
    for key in ("approach", "segmentation", "modes", "enforcement"):   # they differ in what they choose
        assert len({r[key] for r in rows}) >= 2, key
    for path in PROFILES:   # each says what it is modelled on and that it keeps the service's size
        head = path.read_text().split("\nextends:")[0]
        assert "Modelled on" in head and "seeds/" in head and "Same service size" in head, path.name


# --------------------------------------------------------------------------- one cohort, many models


def _other_people(tmp: Path) -> Path:
    """A profile whose own people are quite different: more and riskier arrivals, other patches, no one at the
    start but in custody."""
    path = tmp / "other_people.yaml"
    path.write_text(f"extends: {FOLDER / 'generic_locality.yaml'}\nname: other_people\nseed: 7\n"
                    "patches: {North: 1, South: 3, East: 1, West: 1, Central: 1, Rural: 2}\n"
                    "arrivals: {rate_per_day: 20, risk_mix: {LOW: 0.1, MEDIUM: 0.3, HIGH: 0.6}}\n"
                    "initial_population: {by_stage: {CUSTODY: 500}}\n")
    return path


def test_the_standard_cohort_gives_the_same_newcomers_in_every_profile(tmp_path: Path) -> None:
    """The same arrivals, initial population and attributes, with the same luck, whatever the organisation, and
    whatever people the profile itself describes: the register of newcomers is identical, column by column."""
    paths = [*PROFILES, _other_people(tmp_path)]
    registers = {}
    for path in paths:
        scenario = load_profile(path, COHORT, TINY)[0]
        registers[path.stem] = newcomers(run(scenario, seed=11).register)
    first = registers[PROFILES[0].stem]
    assert len(first) > 400 and first["risk"].nunique() == 3 and first["patch"].nunique() == 6
    for name, reg in registers.items():
        pd.testing.assert_frame_equal(reg, first, check_exact=True, obj=name)
    # without the cohort, the profile with other people has other newcomers (so the cohort made them the same)
    alone = newcomers(run(load_scenario(paths[-1], TINY)[0], seed=11).register)
    assert not alone.equals(first)


def test_the_cohort_replaces_exactly_its_sections(tmp_path: Path) -> None:
    profile = _other_people(tmp_path)
    merged = load_profile(profile, COHORT)[0].model_dump(mode="json")
    cohort = yaml.safe_load(COHORT.read_text())
    own = load_scenario(profile)[0].model_dump(mode="json")
    reference = load_scenario(COHORT.parent / "generic_locality.yaml")[0].model_dump(mode="json")
    for section in COHORT_SECTIONS:
        assert merged[section] == Scenario.model_validate({section: cohort[section]}).model_dump(mode="json")[section]
    for section in set(merged) - set(COHORT_SECTIONS) - {"name"}:   # the organisation's, untouched
        assert merged[section] == own[section] == reference[section], section


def _write_cohort(tmp: Path, old: str, new: str) -> Path:
    text = COHORT.read_text()
    assert old in text
    path = tmp / "cohort.yaml"
    path.write_text(text.replace(old, new))
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("case", ["entry", "stage", "section"])
def test_a_cohort_a_profile_cannot_take_is_refused_with_file_line_and_exit_2(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = FOLDER / "risk_streamed.yaml"
    if case == "entry":   # the profile's journey starts before sentence; this cohort arrives in custody
        cohort = _write_cohort(tmp_path, "entry: PRE_SENTENCE", "entry: CUSTODY")
        expect = (f"{profile}:1: journey.entry: this profile's new cases enter at 'PRE_SENTENCE' (not written: the "
                  "default journey's entry)",
                  f"the cohort ({cohort}:{_line_of(cohort, 'entry: CUSTODY')}) arrives at 'CUSTODY'")
    elif case == "stage":   # people placed on day 0 in a stage the profile's journey does not have
        cohort = _write_cohort(tmp_path, "    RECALL_CUSTODY: 230", "    RECALL_CUSTODY: 230\n    HOSTEL: 12")
        expect = (f"{cohort}:{_line_of(cohort, 'HOSTEL: 12')}: initial_population.by_stage.HOSTEL: profile",
                  "has no stage 'HOSTEL'")
    else:   # a cohort holds people, not an organisation
        cohort = _write_cohort(tmp_path, "entry: PRE_SENTENCE", "entry: PRE_SENTENCE\nstaff: []")
        expect = (f"{cohort}:{_line_of(cohort, 'staff: []')}: staff: not a section of a cohort",)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["compare", str(FOLDER / "generic_locality.yaml"), str(profile), "--cohort", str(cohort),
                 "--replications", "2", "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2
    for text in expect:
        assert text in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before   # nothing run, nothing written
    with pytest.raises(ScenarioError):
        load_profile(profile, cohort)


def test_the_cohort_file_is_not_a_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given among the profiles without --cohort it is refused with a hint; with --cohort, the glob of the folder
    (which holds it) leaves it out."""
    code = main(["compare", str(PROFILES[0]), str(COHORT), "--replications", "2", "--out", str(tmp_path / "o")])
    assert code == 2 and f"{COHORT}:1: cohort: a cohort file, not a scenario: pass it with --cohort" in \
        capsys.readouterr().err
    from casesim.studies.compare import load_entries

    entries = load_entries([*PROFILES, COHORT], TINY, cohort=COHORT)
    assert [e.label for e in entries] == [p.stem for p in PROFILES]
    assert {e.scenario.seed for e in entries} == {yaml.safe_load(COHORT.read_text())["seed"]}


# --------------------------------------------------------------------------- the map of choices


def _raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _written(profile: dict, base: dict, *keys: str) -> object:
    """What the profile's YAML says at ``keys``, or else what the file it extends (the baseline) says."""
    for source in (profile, base):
        node: object = source
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_the_choices_read_from_each_profile_are_what_its_yaml_says(path: Path) -> None:
    raw, base = _raw(path), _raw(SCENARIOS / "baseline.yaml")
    assert raw["extends"] == "../baseline.yaml"
    row = choices(load_scenario(path)[0])
    approach, segmentation = row["approach"].split("; "), row["segmentation"].split("; ")
    for i, setting in enumerate(("community", "custody")):
        a = _written(raw, base, "management", setting, "approach")
        assert approach[i].startswith(f"{setting}: {a['name']}")
        assert ("keeps the case" in approach[i]) == bool(a.get("keep_from_other_setting"))
        if a["name"] in ("team", "hybrid"):
            assert f"chair + {a.get('staff_members', 1)} staff" in approach[i]
        s = _written(raw, base, "management", setting, "segmentation")
        if s["name"] == "patch":
            kind = "patch" if s.get("match_patch", True) else "pooled"
        else:
            kind = f"{s['name']} by {s['by']}"
        assert segmentation[i].startswith(f"{setting}: {kind}")
        assert ("previous manager first" in segmentation[i]) == bool(s.get("prefer_previous_manager"))
    modes = _written(raw, base, "mode_assignment")
    if modes["name"] == "risk_table":
        assert row["modes"] == "by risk: " + ", ".join(f"{r} {m}" for r, m in modes["table"].items())
    else:
        assert row["modes"].startswith("rules: ") and row["modes"].endswith(f"; else {modes['default']}")
        assert [part.split(" if ")[0] for part in row["modes"][len("rules: "):].split("; ")[:-1]] == \
            [rule["mode"] for rule in modes["rules"]]
    enforcement = _written(raw, base, "enforcement")
    assert row["enforcement"].startswith(f"{enforcement['name']}:")
    if enforcement["name"] == "graduated":
        assert f"{enforcement['warnings_before_breach']} warning(s) in {enforcement['window_days']} days" \
            in row["enforcement"]
        assert ("sanction" in row["enforcement"]) == bool(enforcement.get("sanctions_before_breach"))
    assert f"{enforcement['acceptable_absence_share']:.0%} of misses acceptable" in row["enforcement"]
    assert row["review_interval_days"] == _written(raw, base, "process", "review_interval_days")
    people = sum(_written(raw, base, "initial_population", "by_stage").values())
    staff = sum(g["count"] for g in _written(raw, base, "staff"))
    assert row["staffing_ratio"] == pytest.approx(people / staff, rel=1e-12)
    # with the standard cohort the organisation's choices do not move (its people are the baseline's, written out)
    assert choices(load_profile(path, COHORT)[0]) == row


def test_the_comparison_page_shows_choices_beside_results() -> None:
    comp = compare(PROFILES[:2], replications=2, overrides=TINY, cohort=COHORT)
    assert comp.cohort == str(COHORT)
    page = page_html(comp)
    section = page[page.index("<h2>Choices and results</h2>"):page.index("<h2>Headline figures</h2>")]
    assert "standard_cohort.yaml" in section
    results = dict(side_by_side(comp))
    for entry in comp.entries:
        row = section[section.index(f"<tr><th>{entry.label}</th>"):]
        row = row[:row.index("</tr>")]
        for cell in [*choice_cells(choices(entry.scenario)), *results[entry.label]]:
            assert f">{cell}<" in row, (entry.label, cell)
    from casesim.metrics.kpis import BY_KEY

    for key in ("continuity_breaks_per_case_year", "mean_caseload_pressure", "compliance_rate_of_offered",
                "breaches_per_case_year", "recalls_per_case_year", "proven_reoffending_1y_all", "cost_per_case_year"):
        assert BY_KEY[key].label in section, key


# --------------------------------------------------------------------------- what the organisation does


def _scaled(path: Path) -> Scenario:
    """The profile with the standard cohort, shrunk as tests/helpers.py ``scaled`` shrinks a scenario: a third
    of the people (the cohort's), staff and places, two years."""
    full = load_profile(path, COHORT)[0]
    sets = [f"arrivals.rate_per_day={full.arrivals.rate_per_day / 3:g}", "time.horizon_days=730",
            "time.warmup_days=180"]
    sets += [f"initial_population.by_stage.{stage}={n // 3}" for stage, n in full.initial_population.by_stage.items()]
    sets += [f"staff.{i}.count={max(1, round(g.count / 3))}" for i, g in enumerate(full.staff)]
    sets += [f"providers.{i}.places={max(1, round(p.places / 3))}" for i, p in enumerate(full.providers)]
    return load_profile(path, COHORT, sets)[0]


def test_stage_specialised_breaks_continuity_more_than_one_named_officer() -> None:
    """Paired seeds, the same people: handing the case on at every stage boundary costs more changes of holder per
    case-year than one officer who keeps it through custody, in every replication."""
    named, staged = _scaled(FOLDER / "generic_locality.yaml"), _scaled(FOLDER / "stage_specialised.yaml")
    for seed in (1, 2):
        a, b = run(named, seed=seed), run(staged, seed=seed)
        pd.testing.assert_frame_equal(newcomers(a.register), newcomers(b.register))
        rate_a, rate_b = (r.summary["continuity_breaks_per_case_year"] for r in (a, b))
        assert rate_b > 1.5 * rate_a, (seed, rate_a, rate_b)
        causes = b.summary["continuity_breaks_by_cause"]
        assert causes.get("stage_handoff", 0) > a.summary["continuity_breaks_by_cause"].get("stage_handoff", 0)
