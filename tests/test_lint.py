"""The code passes the linter the project is configured for (ruff, ``[tool.ruff]`` in pyproject.toml: pycodestyle,
pyflakes, import order, bugbear, pyupgrade and simplify rules, lines of 120): an unused import, an undefined
name or a mutable default fails here, in CI, rather than in review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_the_code_the_project_ships() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.is_file(), "install the test extra: pip install -e '.[test]' (it holds ruff)"
    done = subprocess.run([str(ruff), "check", "--no-cache", "casesim", "tests", "scripts", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_would_find_an_unused_import(tmp_path: Path) -> None:
    """The gate can fail: the same command on a file with an unused import exits non-zero and names the rule."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "F401" in done.stdout, done.stdout + done.stderr
