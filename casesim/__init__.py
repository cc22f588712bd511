"""casesim: discrete-event simulation of correctional case management.

>>> import casesim
>>> result = casesim.run("scenarios/baseline.yaml", seed=1)   # doctest: +SKIP
>>> result.summary["compliance_rate_of_offered"]                          # doctest: +SKIP

The package is laid out as the pipeline a run goes through (docs/architecture.md): ``scenario`` (schema,
YAML, journey) -> ``engine`` (the ``mesa.Model``, the case process, agents, policies) -> ``events`` (the
event log) -> ``metrics`` (KPIs, tables, costs) -> ``outputs`` (running, result files, report) ->
``studies`` (comparisons, sweeps, staffing, checks) -> ``cli`` and ``app``. Importing ``casesim`` loads
none of them: :func:`run` and :class:`Result` are looked up when first used, so ``import
casesim.scenario.schema`` reads a scenario without loading the engine.
"""

from typing import Any

from casesim.version import __version__

__all__ = ["Result", "run", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Result", "run"):
        from casesim.outputs import results
        return getattr(results, name)
    raise AttributeError(f"module 'casesim' has no attribute {name!r}")
