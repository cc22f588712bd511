"""Refresh the regression baseline (tests/golden/reference.json) from the current engine.

Run this only when a change to results is deliberate, and say in the commit what changed and why:

    python scripts/refresh_golden.py            # all reference runs
    python scripts/refresh_golden.py --diff     # show what would change, write nothing
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from casesim.studies.golden import GOLDEN, REFERENCE_RUNS, differences, reference_result  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--diff", action="store_true", help="print the differences only; do not write")
    args = ap.parse_args()
    new = {name: reference_result(name) for name in REFERENCE_RUNS}
    old = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    diff = differences(old, new)
    print("\n".join(diff) if diff else "no change")
    if args.diff:
        return 0
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    tmp = GOLDEN.with_suffix(".tmp")
    tmp.write_text(json.dumps(new, indent=1, sort_keys=True, allow_nan=True) + "\n")
    os.replace(tmp, GOLDEN)
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
