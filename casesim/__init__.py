"""casesim: discrete-event simulation of correctional case management.

>>> import casesim
>>> result = casesim.run("scenarios/baseline.yaml", seed=1)   # doctest: +SKIP
>>> result.summary["compliance_rate_of_offered"]                          # doctest: +SKIP
"""

from casesim.results import Result, run
from casesim.version import __version__

__all__ = ["Result", "run", "__version__"]
