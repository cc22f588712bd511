"""The single, temporary exception to "Mesa's public interface only": Mesa 3.3's agent-id counters.

Mesa 3.3, the last Mesa for Python 3.11, numbers agents per model from ``mesa.Agent._ids``, a class-level
``defaultdict`` keyed by the model. It holds every model ever built, and so all its agents, for the life of
the process (mesa issue #3179): a sweep worker, the staffing solver and the live view build many
simulations in one process, and none would ever be freed. Mesa 3.3 offers no public way to forget a model's
counter, and casesim's agents must be made by ``mesa.Agent.__init__``, which reads it. So, on Mesa 3.3
alone, the same counters are held weakly by the model (:class:`IdCountersByModel`): a dropped simulation is
freed, and agents are numbered exactly as Mesa numbers them (1, 2, 3, ... per model).

Mesa 3.4 and later number agents in the model itself (the leak is gone), and nothing here runs. This module
goes when Python 3.11 support ends (Mesa 3.5 needs Python 3.12), with the marker in ``pyproject.toml``.
"""

from __future__ import annotations

import itertools
import weakref
from collections import defaultdict
from importlib.metadata import version
from typing import Any

import mesa

#: Mesa's version as (major, minor).
MESA_VERSION = tuple(int(part) for part in version("mesa").split(".")[:2])


class IdCountersByModel(weakref.WeakKeyDictionary):
    """Mesa 3.3's per-model agent-id counters, each kept only as long as its model."""

    def __getitem__(self, model: Any) -> Any:
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = self[model] = itertools.count(1)
            return counter


if MESA_VERSION < (3, 4) and isinstance(getattr(mesa.Agent, "_ids", None), defaultdict):
    mesa.Agent._ids = IdCountersByModel(mesa.Agent._ids)
