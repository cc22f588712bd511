"""The documentation: README.md is a short front page, and the MkDocs site under ``docs/`` builds cleanly.

``mkdocs build --strict`` turns every warning into an error: a link to a missing page or heading, a page
left out of the nav in ``mkdocs.yml``, an API reference (``::: casesim.x``) that mkdocstrings cannot
render. The build runs offline (no plugin, font or script is fetched) and takes a few seconds. The docs
packages come with the ``test`` extra (``pip install -e '.[test]'``); without them this test fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 260
#: How README.md must begin: the setup-and-run command and the test command, exactly.
README_START = """\
# casesim

Set up and run the baseline scenario on a fresh machine (Python 3.11 or newer):

```bash
python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/casesim run scenarios/baseline.yaml
```

Run the tests:

```bash
.venv/bin/python -m pytest -q
```
"""
#: Markdown links and images: ``[text](target)``; the target up to a space or ``)``.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def nav_pages(nav: list) -> list[str]:
    """Every page named in the nav, in order."""
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_readme_is_a_short_front_page_starting_with_the_two_commands() -> None:
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    assert text.startswith(README_START), "README.md must start with the setup+run command and the test command"


def test_readme_links_resolve_and_reach_every_page() -> None:
    text = README.read_text()
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]   # not http:, mailto:, ...
    missing = [t for t in targets if t.split("#")[0] and not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    anchors = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", text, re.M)}
    bad = [t for t in targets if t.startswith("#") and t[1:] not in anchors]
    assert not bad, f"README.md links to headings it does not have: {bad}"
    linked = {Path(t.split("#")[0]).name for t in targets if t.startswith("docs/")}
    unlinked = sorted(p.name for p in DOCS.glob("*.md") if p.name not in linked)
    assert not unlinked, f"README.md does not link these pages of the site: {unlinked}"


def test_every_page_is_in_the_nav_and_the_build_stays_offline() -> None:
    cfg = config()
    nav = nav_pages(cfg["nav"])
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md")), "the nav lists every page of docs/, once"
    assert cfg["theme"].get("font") is False, "no Google Fonts: the site must read (and build) offline"
    plugins = [next(iter(p)) if isinstance(p, dict) else p for p in cfg.get("plugins", [])]
    assert set(plugins) <= {"search", "mkdocstrings"}, f"a plugin that may need the network: {plugins}"


def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "No module named mkdocs" not in done.stderr, "install the docs packages: pip install -e '.[test]'"
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    for page in nav_pages(config()["nav"]):
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), f"{page} was not built"
    api = (site / "api" / "index.html").read_text()
    for anchor in ("casesim.outputs.results.run", "casesim.outputs.results.Result",
                   "casesim.scenario.schema.load_scenario",
                   "casesim.studies.compare.compare"):
        assert f'id="{anchor}"' in api, f"the API reference lacks {anchor}"
    kpis = (site / "kpis" / "index.html").read_text()
    assert "compliance_rate_of_due" in kpis and "<table>" in kpis, "the KPI table did not render"
