"""Registry of case-management policies, chosen by name in a scenario.

Each policy kind (approach, segmentation, mode_assignment, enforcement) maps names to a pair:
a pydantic parameter model whose ``name`` field is a ``Literal`` of the policy's name, and the
class implementing it. The scenario schema builds a discriminated union per kind from this
registry, and the engine builds policies with :func:`build`; it never looks at the name itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator

KINDS = ("approach", "segmentation", "mode_assignment", "enforcement", "cover")

_REGISTRY: dict[str, dict[str, tuple[type[BaseModel], type]]] = {k: {} for k in KINDS}


def policy(kind: str, params: type[BaseModel]) -> Callable[[type], type]:
    """Class decorator: register ``cls`` as the policy of ``kind`` named by ``params.name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown policy kind {kind!r}; valid: {', '.join(KINDS)}")
    name = params.model_fields["name"].default
    if not isinstance(name, str):
        raise TypeError(f"{params.__name__}.name needs a string default (the policy's name)")

    def register(cls: type) -> type:
        _REGISTRY[kind][name] = (params, cls)
        cls.Params = params
        return cls

    return register


def names(kind: str) -> list[str]:
    """Registered policy names of one kind."""
    return sorted(_REGISTRY[kind])


def params_type(kind: str) -> Any:
    """A discriminated union (on ``name``) of every registered parameter model of ``kind``."""
    models = tuple(p for p, _ in _REGISTRY[kind].values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Discriminator("name")]  # noqa: UP007


def policy_class(kind: str, params: BaseModel) -> type:
    """The class implementing the policy that ``params`` names."""
    return _REGISTRY[kind][params.name][1]  # type: ignore[attr-defined]


def build(kind: str, params: BaseModel) -> Any:
    """Instantiate the policy that ``params`` names."""
    _, cls = _REGISTRY[kind][params.name]  # type: ignore[attr-defined]
    return cls(params)
