"""The regression baseline: a few small reference runs whose results are kept in the repository.

``tests/golden/reference.json`` holds, for each reference run, its summary and the number of
events of each kind. ``tests/test_golden.py`` re-runs them and compares; any difference in results,
deliberate or not, fails the test until the file is refreshed with ``python scripts/refresh_golden.py``
and the change is explained in the commit that refreshes it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "reference.json"

# name -> (scenario file relative to the repository, overrides, seed)
REFERENCE_RUNS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "small_individual": ("tests/data/small.yaml", (), 20261122),
    "small_team_strict": ("tests/data/small.yaml",
                          ("management.community.approach={name: team, staff_members: 1}",
                           "enforcement={name: strict}"), 7),
    "small_pods_turnover": ("tests/data/small.yaml",
                            ("management.community.cover={name: pod, size: 4}", "staffing.turnover_per_year=0.3"), 11),
}

REL_TOL = 1e-9


def reference_result(name: str) -> dict[str, Any]:
    """Run one reference run and return what the golden file keeps of it."""
    from casesim.outputs.results import run

    path, overrides, seed = REFERENCE_RUNS[name]
    result = run(ROOT / path, seed=seed, overrides=overrides)
    counts = result.events["kind"].astype(str).value_counts()
    return {"scenario": path, "overrides": list(overrides), "seed": seed,
            "summary": result.summary,
            "event_counts": {k: int(v) for k, v in sorted(counts.items())}}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Human-readable differences between two golden records (floats compared to ``REL_TOL``)."""
    out: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{where}: missing (expected {_short(expected[key])})")
            elif key not in expected:
                out.append(f"{where}: new (now {_short(actual[key])})")
            else:
                out.extend(differences(expected[key], actual[key], where))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(differences(e, a, f"{path}[{i}]"))
        return out
    if isinstance(expected, float) or isinstance(actual, float):
        numbers = isinstance(expected, (int, float)) and isinstance(actual, (int, float))
        if numbers and ((math.isnan(expected) and math.isnan(actual))
                        or math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=1e-12)):
            return out
    elif expected == actual:
        return out
    out.append(f"{path}: expected {expected!r}, got {actual!r}")
    return out
