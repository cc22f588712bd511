"""The garbage-collector policy of a simulation run, for the program that owns its process.

CPython's cyclic collector starts a collection when allocations minus deallocations pass a threshold. In a
discrete-event run nearly every new event replaces one that dies, so that count rarely trips while the
youngest generation fills with everything still alive since the last collection; each collection then walks
and promotes a large generation, and full collections walk every case, process and pending event, more
often as the population grows (of the order of a fifth of the CPU at England & Wales 1 in 5: see
docs/performance.md, step 5). The engine makes almost no cyclic
garbage (tens of thousands of objects in a run of millions of events), so a run needs no automatic
collection at all. Results are the same either way (identical event logs).

Whether to turn the collector off is the decision of the program that owns the process, not of the library:
a ``Simulation`` built from Python leaves the caller's collector as it is. ``casesim run``, the worker
processes casesim starts for a run in parts (:mod:`casesim.outputs.split`) and a sweep's tasks
(:mod:`casesim.studies.sweep`) and a comparison's worker tasks (:mod:`casesim.studies.compare`) run their
simulations in :func:`collector_off`. A finished model is a reference cycle (its agents and it point at each
other): :func:`casesim.outputs.results.run` frees it with one explicit collection when automatic collection
is off, and between tasks the collector is on again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_off() -> Iterator[None]:
    """Run the block with CPython's automatic cyclic collection off; afterwards the collector is as it was
    (on again, unless the caller had turned it off), and what the block left as cyclic garbage is collected
    at the next automatic collection."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
