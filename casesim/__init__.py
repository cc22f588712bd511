"""casesim: discrete-event simulation of correctional case management.

>>> import casesim
>>> result = casesim.run("scenarios/baseline.yaml", seed=1)   # doctest: +SKIP
>>> result.summary["compliance_rate_of_offered"]                          # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("casesim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

from casesim.results import Result, run  # noqa: E402

__all__ = ["Result", "run", "__version__"]
