"""Registry of case-management policies: which class implements each declared policy.

A policy's parameters are declared in the scenario layer (``casesim/scenario/policies.py``): a pydantic
model per policy, whose ``name`` field is a ``Literal`` of the policy's name, listed by kind in
``POLICIES``; the schema validates a scenario against them without loading the engine. Here each
parameter model is mapped to the class that implements the policy (:func:`policy`, a class decorator),
and the engine builds a policy from its parameters with :func:`build`, which looks up the parameters'
type: it never looks at the name itself. What the engine asks each kind of policy is in
:mod:`casesim.models.protocols`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from casesim.scenario.policies import KINDS, POLICIES, name_of
from casesim.scenario.policies import params_type as params_type

#: kind -> policy name -> (parameter model, implementing class)
_REGISTRY: dict[str, dict[str, tuple[type[BaseModel], type]]] = {k: {} for k in KINDS}
#: kind -> parameter model -> implementing class (what :func:`build` looks up)
_CLASSES: dict[str, dict[type[BaseModel], type]] = {k: {} for k in KINDS}


def policy(kind: str, params: type[BaseModel]) -> Callable[[type], type]:
    """Class decorator: register ``cls`` as the implementation of the ``kind`` policy whose parameters are
    ``params`` (a model declared for ``kind`` in ``casesim.scenario.policies.POLICIES``)."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown policy kind {kind!r}; valid: {', '.join(KINDS)}")
    if params not in POLICIES[kind]:
        raise TypeError(f"{params.__name__} is not declared as a {kind} policy: add it to POLICIES in "
                        "casesim/scenario/policies.py")
    name = name_of(params)

    def register(cls: type) -> type:
        _REGISTRY[kind][name] = (params, cls)
        _CLASSES[kind][params] = cls
        cls.Params = params
        return cls

    return register


def names(kind: str) -> list[str]:
    """Registered (implemented) policy names of one kind."""
    return sorted(_REGISTRY[kind])


def unimplemented() -> list[tuple[str, str]]:
    """(kind, name) of every policy declared in the scenario layer that no class implements."""
    return [(kind, name_of(p)) for kind in KINDS for p in POLICIES[kind] if p not in _CLASSES[kind]]


def policy_class(kind: str, params: BaseModel) -> type:
    """The class implementing the ``kind`` policy that ``params`` are the parameters of."""
    try:
        return _CLASSES[kind][type(params)]
    except KeyError:
        raise LookupError(f"no {kind} policy is implemented for {type(params).__name__}") from None


def build(kind: str, params: BaseModel) -> Any:
    """Instantiate the ``kind`` policy that ``params`` are the parameters of."""
    return policy_class(kind, params)(params)
