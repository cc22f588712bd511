"""Regression baseline: the reference runs must give exactly the results kept in tests/golden/.

A failure here means results changed. If the change is deliberate, refresh the file with
``python scripts/refresh_golden.py`` and explain the change in the commit; never loosen this test.
"""

from __future__ import annotations

import json

import pytest

from casesim.studies.golden import GOLDEN, REFERENCE_RUNS, differences, reference_result

pytestmark = pytest.mark.mesa_facing


@pytest.mark.parametrize("name", sorted(REFERENCE_RUNS))
def test_reference_run_matches_golden(name: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert name in golden, f"{name} missing from {GOLDEN}; run scripts/refresh_golden.py"
    diff = differences(golden[name], json.loads(json.dumps(reference_result(name))))
    assert not diff, "results changed (refresh with scripts/refresh_golden.py if deliberate):\n" + "\n".join(diff[:40])


def test_differences_sees_a_changed_float_and_count() -> None:
    a = {"summary": {"x": 1.0, "n": 3}, "event_counts": {"exit": 5}}
    b = {"summary": {"x": 1.0 + 1e-6, "n": 3}, "event_counts": {"exit": 6}}
    diff = differences(a, b)
    assert len(diff) == 2 and diff[0].startswith("event_counts.exit") and diff[1].startswith("summary.x")
    assert differences(a, json.loads(json.dumps(a))) == []
