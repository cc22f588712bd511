"""Tests for casesim.scenario.yamlio: strict loading, line tracking, extends, overrides, errors."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from casesim.scenario.yamlio import (
    LineMap,
    Problem,
    ScenarioError,
    StrictLoader,
    dump_yaml,
    load_yaml,
    parse_value,
    problems_from_validation,
    resolve,
)


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(func: Any, *args: Any) -> list[str]:
    """Call ``func`` expecting a ScenarioError; return its formatted problems."""
    with pytest.raises(ScenarioError) as info:
        func(*args)
    return [p.format() for p in info.value.problems]


# --------------------------------------------------------------------------- Problem / ScenarioError


def test_problem_format_variants() -> None:
    assert Problem("a.yaml", 3, "x.y", "bad").format() == "a.yaml:3: x.y: bad"
    assert Problem("a.yaml", None, "x", "bad").format() == "a.yaml: x: bad"
    assert Problem("a.yaml", 2, "", "bad").format() == "a.yaml:2: bad"
    error = ScenarioError([Problem("a", 1, "", "one"), Problem("b", 2, "p", "two")])
    assert str(error) == "a:1: one\nb:2: p: two"


# --------------------------------------------------------------------------- strict loading


NESTED = """\
name: demo
journey:
  stages:
    CUSTODY:
      duration:
        mean_days: 30
staff:
  - role: officer
    count: 4
  - role: senior
    count: 1
"""


def test_lines_of_nested_keys_and_list_items(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", NESTED)
    data, lines = load_yaml(path)
    assert data["journey"]["stages"]["CUSTODY"]["duration"]["mean_days"] == 30
    assert lines.locate(("journey", "stages", "CUSTODY", "duration", "mean_days")) == (str(path), 6)
    assert lines.locate(("journey", "stages", "CUSTODY")) == (str(path), 4)
    assert lines.locate(("staff", 1)) == (str(path), 10)
    assert lines.locate(("staff", 1, "count")) == (str(path), 11)
    # unknown children fall back to the nearest known parent, then the file's first line
    assert lines.locate(("staff", 0, "missing", "deeper")) == (str(path), 8)
    assert lines.locate(("nothing",)) == (str(path), 1)


def test_duplicate_key_names_key_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "a:\n  b: 1\n  c: 2\n  b: 3\n")
    assert problems_of(load_yaml, path) == [f"{path}:4: a.b: duplicate key 'b' (first defined on line 2)"]


def test_python_tag_rejected_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = write(tmp_path / "evil.yaml", f'x: !!python/object/apply:os.system ["touch {marker}"]\n')
    found = problems_of(load_yaml, path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}:1: x: tags are not allowed")
    assert not marker.exists()


def test_custom_tag_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "t.yaml", "a: 1\nb: !custom 3\n")
    assert problems_of(load_yaml, path) == [f"{path}:2: b: tags are not allowed: !custom"]


def test_core_tag_allowed(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path / "t.yaml", "version: !!str 1.10\n"))
    assert data == {"version": "1.10"}


def test_non_string_key_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "k.yaml", "ok: 1\nnested:\n  1: x\n")
    found = problems_of(load_yaml, path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}:3: nested: keys must be strings")


def test_scalar_rules(tmp_path: Path) -> None:
    text = "a: no\nb: true\nc: 1.10\nd: 'yes'\ne: On\nf: FALSE\ng: 1e-3\nh: 10:30\ni: ~\nj: 0x10\nk: '1.10'\n"
    data, _ = load_yaml(write(tmp_path / "v.yaml", text))
    # Only true/false are booleans; YAML 1.1 words stay strings.
    assert data["a"] == "no" and data["e"] == "On"
    assert data["b"] is True and data["f"] is False
    # Numbers are numbers: a version-like 1.10 is the float 1.1 -- quote it to keep the text.
    assert data["c"] == 1.1 and isinstance(data["c"], float)
    assert data["k"] == "1.10"
    assert data["g"] == 0.001
    assert data["h"] == "10:30"  # no sexagesimal surprise (PyYAML would give 630)
    assert data["i"] is None and data["j"] == 16 and data["d"] == "yes"


def test_syntax_error_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "a: 1\nb:\n  c: 2\n  d: [1, 2\ne: 3\n")
    found = problems_of(load_yaml, path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}:5: invalid YAML: ")


def test_mapping_values_error_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "a: 1\nb: c: d\n")
    assert problems_of(load_yaml, path) == [f"{path}:2: invalid YAML: mapping values are not allowed here"]


def test_empty_and_non_mapping_and_missing(tmp_path: Path) -> None:
    empty = write(tmp_path / "e.yaml", "# only a comment\n")
    assert problems_of(load_yaml, empty) == [f"{empty}:1: file is empty"]
    listing = write(tmp_path / "l.yaml", "- 1\n- 2\n")
    assert problems_of(load_yaml, listing) == [
        f"{listing}:1: top level must be a mapping of settings, not a list"
    ]
    assert problems_of(load_yaml, tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: file not found"]
    found = problems_of(load_yaml, tmp_path)
    assert found == [f"{tmp_path}: is a directory, not a file"]


def test_alias_bomb_and_recursive_alias(tmp_path: Path) -> None:
    rows = ["a: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    bomb = write(tmp_path / "bomb.yaml", "\n".join(rows) + "\n")
    assert "too large" in problems_of(load_yaml, bomb)[0]
    loop = write(tmp_path / "loop.yaml", "a: &x [1, *x]\n")
    assert problems_of(load_yaml, loop) == [f"{loop}:1: a.1: recursive alias"]


def test_plain_aliases_are_copies(tmp_path: Path) -> None:
    data, lines = load_yaml(write(tmp_path / "a.yaml", "base: &b {k: 1}\nother: *b\n"))
    assert data == {"base": {"k": 1}, "other": {"k": 1}}
    assert data["base"] is not data["other"]
    assert lines.locate(("other",)) == (str(tmp_path / "a.yaml"), 2)


# --------------------------------------------------------------------------- parse_value / dump_yaml


def test_parse_value() -> None:
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("no") == "no"
    assert parse_value("True") is True
    assert parse_value("{a: 1, b: x}") == {"a": 1, "b": "x"}
    assert parse_value("") is None
    assert parse_value("hello world") == "hello world"
    with pytest.raises(ScenarioError) as info:
        parse_value("!!python/name:os.system")
    assert info.value.problems[0].file == "--set"
    with pytest.raises(ScenarioError):
        parse_value("[1, 2")


def test_dump_yaml_quotes_ambiguous_strings_and_keeps_order() -> None:
    data = {"z": "no", "a": ["yes", "on", "1e3", "tRuE", "10:30", "plain"], "m": {"k": None, "n": 1.5}}
    text = dump_yaml(data)
    assert text.splitlines()[0] == "z: 'no'"
    assert "- 'yes'" in text and "- 'on'" in text and "- '1e3'" in text and "- 'tRuE'" in text
    assert "- plain" in text and "{" not in text
    assert list(yaml.safe_load(text)) == ["z", "a", "m"]
    assert yaml.safe_load(text) == data  # a YAML 1.1 reader sees the same strings
    assert parse_value(text) == data  # and so does ours


# --------------------------------------------------------------------------- extends


def test_extends_deep_merge_and_lines(tmp_path: Path) -> None:
    base = write(
        tmp_path / "base" / "common.yaml",
        "name: base\nparams:\n  a: 1\n  b: 2\n  list: [1, 2, 3]\nstaff:\n  - role: x\n  - role: y\n",
    )
    child = write(
        tmp_path / "scenarios" / "child.yaml",
        "extends: ../base/common.yaml\nparams:\n  b: 20\n  list: [9]\n  c: null\n",
    )
    data, lines = resolve(child)
    assert data == {
        "name": "base",
        "params": {"a": 1, "b": 20, "list": [9], "c": None},
        "staff": [{"role": "x"}, {"role": "y"}],
    }
    # the base is named relative to the child's folder, normalised: <tmp>/base/common.yaml
    assert lines.locate(("params", "b")) == (str(child), 3)
    assert lines.locate(("params", "list", 0)) == (str(child), 4)
    assert lines.locate(("params", "a")) == (str(base), 3)
    assert lines.locate(("staff", 1)) == (str(base), 8)
    assert lines.locate(("name",)) == (str(base), 1)
    assert ("params", "list", 2) not in lines  # the base's longer list was replaced
    assert ("extends",) not in lines
    assert lines.locate(("nothing",)) == (str(child), 1)


def test_extends_list_order_later_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "one.yaml", "x: 1\ny: 1\n")
    write(tmp_path / "two.yaml", "y: 2\nz: 2\n")
    write(tmp_path / "top.yaml", "extends: [one.yaml, two.yaml]\nz: 3\n")
    data, lines = resolve("top.yaml")
    assert data == {"x": 1, "y": 2, "z": 3}
    assert lines.locate(("y",)) == ("two.yaml", 1)
    assert lines.locate(("z",)) == ("top.yaml", 2)


def test_extends_cycles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.yaml", "extends: b.yaml\nx: 1\n")
    write(tmp_path / "b.yaml", "y: 1\nextends: a.yaml\n")
    assert problems_of(resolve, "a.yaml") == ["b.yaml:2: extends: extends cycle: a.yaml -> b.yaml -> a.yaml"]
    write(tmp_path / "self.yaml", "x: 1\nextends: self.yaml\n")
    assert problems_of(resolve, "self.yaml") == [
        "self.yaml:2: extends: extends cycle: self.yaml -> self.yaml"
    ]


def test_extends_missing_base_and_bad_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "c.yaml", "name: c\nextends: x.yaml\n")
    assert problems_of(resolve, "c.yaml") == ["c.yaml:2: extends: cannot read 'x.yaml': file not found"]
    write(tmp_path / "d.yaml", "extends: {a: 1}\n")
    assert problems_of(resolve, "d.yaml") == [
        "d.yaml:1: extends: must be a file name or a list of file names"
    ]


def test_extends_reports_problems_inside_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "sub" / "base.yaml", "a: 1\na: 2\n")
    write(tmp_path / "top.yaml", "extends: sub/base.yaml\n")
    assert problems_of(resolve, "top.yaml") == [
        "sub/base.yaml:2: a: duplicate key 'a' (first defined on line 1)"
    ]


# --------------------------------------------------------------------------- overrides


def test_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", NESTED)
    overrides = [
        "name=other",
        "journey.stages.CUSTODY.duration.mean_days=12.5",
        "journey.stages.COURT.duration.mean_days=3",
        "staff.1.count=7",
        "tags=[a, no]",
        "flag=no",
    ]
    data, lines = resolve(path, overrides)
    assert data["name"] == "other"
    assert data["journey"]["stages"]["CUSTODY"]["duration"]["mean_days"] == 12.5
    assert data["journey"]["stages"]["COURT"] == {"duration": {"mean_days": 3}}
    assert data["staff"][1] == {"role": "senior", "count": 7}
    assert data["tags"] == ["a", "no"] and data["flag"] == "no"
    assert lines.locate(("staff", 1, "count")) == ("--set staff.1.count=7", None)
    assert lines.locate(("staff", 1, "role")) == (str(path), 10)
    assert lines.locate(("journey", "stages", "COURT", "duration")) == (
        "--set journey.stages.COURT.duration.mean_days=3",
        None,
    )
    assert lines.locate(("tags", 1)) == ("--set tags=[a, no]", None)
    problem = Problem(*lines.locate(("staff", 1, "count")), "staff.1.count", "too big")
    assert problem.format() == "--set staff.1.count=7: staff.1.count: too big"


def test_override_replaces_subtree_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", NESTED)
    data, lines = resolve(path, ["staff=[{role: solo, count: 1}]"])
    assert data["staff"] == [{"role": "solo", "count": 1}]
    assert ("staff", 1) not in lines
    assert lines.locate(("staff", 0, "count")) == ("--set staff=[{role: solo, count: 1}]", None)


def test_bad_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", NESTED)
    bad = ["novalue", "=3", "name.x=1", "staff.5.count=1", "staff.first=1", "a..b=1", "x=[1, 2"]
    found = problems_of(resolve, path, bad)
    assert found[0] == "--set: expected KEY=VALUE, got 'novalue'"
    assert found[1] == "--set: empty key in '=3'"
    assert found[2] == "--set: name.x: 'name' is a string, not a mapping or list"
    assert found[3] == "--set: staff.5.count: list index 5 out of range ('staff' has 2 items)"
    assert found[4] == "--set: staff.first: 'staff' is a list: use a number, not 'first'"
    assert found[5] == "--set: a..b: empty segment in key"
    assert found[6].startswith("--set: x: cannot parse value '[1, 2': invalid YAML")
    assert len(found) == 7


# --------------------------------------------------------------------------- validation problems


class Duration(BaseModel):
    """Reports unknown keys itself, with the valid ones."""

    mean_days: float
    sd_days: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    valid = ", ".join(cls.model_fields)
                    template = "unknown field '{field}'; valid fields: {valid}"
                    raise PydanticCustomError("unknown_field", template, {"field": key, "valid": valid})
        return data


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: Duration
    capacity: int = 1


class Officer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["officer"]
    count: int


class Team(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["team"]
    size: int


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    journey: dict[str, dict[str, Stage]]
    staff: list[Annotated[Officer | Team, Field(discriminator="role")]]
    seed: int | list[int] = 0


NOT_INT = "Input should be a valid integer, unable to parse string as an integer"
UNKNOWN_MEDIAN = "unknown field 'median'; valid fields: mean_days, sd_days"
SCENARIO = """\
name: demo
journey:
  stages:
    CUSTODY:
      duration:
        mean_days: soon
        median: 3
      capacity: 2
      colour: red
staff:
  - role: officer
    count: many
  - role: team
  - role: officer
    count: 1
seed: abc
"""


def validation_problems(tmp_path: Path, text: str, **kwargs: Any) -> tuple[str, list[str]]:
    """Validate ``text`` as a Scenario and return the file name and formatted problems."""
    path = write(tmp_path / "scenario.yaml", text)
    data, lines = resolve(path)
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    return str(path), [p.format() for p in problems_from_validation(info.value, lines, **kwargs)]


def test_problems_from_validation(tmp_path: Path) -> None:
    file, found = validation_problems(tmp_path, SCENARIO)
    assert found == [
        f"{file}:7: journey.stages.CUSTODY.duration.median: {UNKNOWN_MEDIAN}",
        f"{file}:9: journey.stages.CUSTODY.colour: unknown field 'colour'",
        f"{file}:12: staff.0.count: {NOT_INT}",
        f"{file}:13: staff.1.size: Field required",
        f"{file}:16: seed: {NOT_INT}",
        f"{file}:16: seed: Input should be a valid list",
    ]


def test_unknown_field_points_at_the_key(tmp_path: Path) -> None:
    text = SCENARIO.replace("mean_days: soon", "mean_days: 3").replace("count: many", "count: 2")
    text = text.replace("  - role: team\n", "  - role: team\n    size: 2\n").replace("abc", "1")
    text = text.replace("      colour: red\n", "")
    file, found = validation_problems(tmp_path, text)
    assert found == [f"{file}:7: journey.stages.CUSTODY.duration.median: {UNKNOWN_MEDIAN}"]


def test_extra_forbidden_with_valid_fields_and_input(tmp_path: Path) -> None:
    def valid(path: tuple) -> list[str] | None:
        return list(Stage.model_fields) if path[:1] == ("journey",) and len(path) == 3 else None

    file, found = validation_problems(tmp_path, SCENARIO, valid_fields=valid, show_input=True)
    assert (
        f"{file}:9: journey.stages.CUSTODY.colour: unknown field 'colour'; valid fields: duration, capacity"
        in found
    )
    assert f"{file}:12: staff.0.count: {NOT_INT} (got 'many')" in found


def test_validation_errors_on_overridden_and_extended_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "base.yaml", "name: demo\njourney: {}\nstaff:\n  - role: officer\n    count: 3\n")
    write(tmp_path / "child.yaml", "extends: base.yaml\nseed: 4\n")
    data, lines = resolve("child.yaml", ["seed=x", "staff.0.count=lots"])
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    found = [p.format() for p in problems_from_validation(info.value, lines)]
    assert found == [
        f"--set seed=x: seed: {NOT_INT}",
        "--set seed=x: seed: Input should be a valid list",
        f"--set staff.0.count=lots: staff.0.count: {NOT_INT}",
    ]
    data, lines = resolve("child.yaml", ["staff.0.count=lots"])
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate({**data, "name": None})
    found = [p.format() for p in problems_from_validation(info.value, lines)]
    assert "base.yaml:1: name: Input should be a valid string" in found


def test_missing_top_level_field_and_messages_stay_one_line(tmp_path: Path) -> None:
    class Strict(BaseModel):
        name: str

        @model_validator(mode="after")
        def _check(self) -> Strict:
            raise ValueError("first line\nsecond line")

    path = write(tmp_path / "m.yaml", "other: 1\n")
    data, lines = load_yaml(path)
    with pytest.raises(ValidationError) as info:
        Strict.model_validate(data)
    assert [p.format() for p in problems_from_validation(info.value, lines)] == [
        f"{path}:1: name: Field required"
    ]
    with pytest.raises(ValidationError) as info:
        Strict.model_validate({"name": "x"})
    assert [p.format() for p in problems_from_validation(info.value, LineMap("m.yaml"))] == [
        "m.yaml:1: Value error, first line second line"
    ]


def test_strict_loader_directly_and_error_pickles() -> None:
    assert yaml.load("a: no\nb: [1, 2.5]\n", Loader=StrictLoader) == {"a": "no", "b": [1, 2.5]}
    with pytest.raises(ScenarioError) as info:
        yaml.load("a: 1\na: 2\n", Loader=StrictLoader)
    assert "duplicate key 'a'" in str(info.value)
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.problems == info.value.problems and str(copy) == str(info.value)
