"""Configurable case-management models: each policy is a strategy registered by name.

Importing this package registers every built-in policy.
"""

from casesim.engine.models import approach, enforcement, modes, segmentation, staffing  # noqa: F401
from casesim.engine.models.registry import build, names, params_type, policy, policy_class

__all__ = ["build", "names", "params_type", "policy", "policy_class"]
