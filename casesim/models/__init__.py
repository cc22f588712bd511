"""Configurable case-management models: each policy is a strategy implementing a Protocol of its kind
(:mod:`casesim.models.protocols`), built from its parameters declared in the scenario layer
(``casesim/scenario/policies.py``).

Importing this package registers every built-in policy.
"""

from casesim.models import approach, enforcement, modes, segmentation, staffing  # noqa: F401
from casesim.models.protocols import Approach, Cover, Enforcement, ModeAssignment, Segmentation
from casesim.models.registry import build, names, params_type, policy, policy_class, unimplemented

__all__ = ["Approach", "Cover", "Enforcement", "ModeAssignment", "Segmentation", "build", "names", "params_type",
           "policy", "policy_class", "unimplemented"]
