"""The modules of casesim import one another one way: no cycle, counting imports inside functions (they run
too, later) and not those under ``if TYPE_CHECKING:`` (they never run).

A cycle makes the order of loading matter and hides which layer a module belongs to; the house rule is
that scenario -> engine -> log -> metrics -> outputs -> studies -> cli only ever import down that line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "casesim"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    """Module -> the casesim modules it imports anywhere in its body (``from casesim import models`` is an
    import of ``casesim.models``; of a name defined in a package, an import of the package)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:   # relative: from the module's package upwards
                    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph.add_edge(name, target)
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_casesim_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 30 and graph.has_edge("casesim.outputs.results", "casesim.metrics.summary")   # reads it all
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_reader_sees_imports_inside_functions_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    assert graph.has_edge("casesim.outputs.results", "casesim.outputs.split")   # inside run(), for --parts
    assert not graph.has_edge("casesim.metrics.summary", "casesim.engine.simulation")   # a type hint only
    graph.add_edge("casesim.metrics.summary", "casesim.outputs.results")   # an import inside a function
    assert cycles(graph), "a cycle must be found"


def test_the_layer_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml: the pipeline's stages import one way, and the scenario
    layer loads no simulation, plotting or cluster library."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_reading_a_scenario_loads_no_simulation_library() -> None:
    code = ("import sys, casesim.scenario.schema as s; s.load_scenario('scenarios/baseline.yaml'); "
            "print(sorted(m for m in ('mesa', 'simpy', 'plotly', 'dask', 'pandas', 'casesim.engine', 'casesim.models', "
            "'casesim.agents', 'casesim.log') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
