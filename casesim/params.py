"""Building blocks for the scenario schema: a strict frozen base model and documented fields.

Every behavioural number in casesim is declared with :func:`P`, which records its unit and the
source or reasoning behind its default in the JSON Schema (``casesim schema`` shows them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

RISKS: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH")
MODES: tuple[str, ...] = ("ADMINISTRATIVE", "BROKERAGE", "THERAPEUTIC", "COMPREHENSIVE")
SETTINGS: tuple[str, ...] = ("community", "custody")
EXIT = "EXIT"


def P(default: Any, unit: str, source: str, description: str = "", **constraints: Any) -> Any:
    """A scenario parameter: default, unit, and the source or reasoning for the default."""
    extra = {"unit": unit, "source": source}
    if callable(default):  # a factory: list, dict, a model class or a lambda
        return Field(default_factory=default, description=description or None,
                     json_schema_extra=extra, **constraints)
    return Field(default, description=description or None, json_schema_extra=extra, **constraints)


def reject_unknown(values: Iterable[str], valid: Sequence[str], what: str) -> None:
    """Raise ``ValueError`` naming the ``values`` that are not in ``valid`` (for field validators)."""
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unknown {what}(s) {', '.join(bad)}; valid: {', '.join(valid)}")


class Strict(BaseModel):
    """Frozen model that rejects unknown keys, naming the valid ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            valid = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in valid:
                    raise PydanticCustomError(
                        "unknown_field", "unknown field '{field}'; valid fields: {valid}",
                        {"field": str(key), "valid": ", ".join(valid)})
        return data


class ByRisk(Strict):
    """A number per risk level. A single number in YAML applies to every level."""

    LOW: float = P(..., "unit of the parameter", "source of the parameter")
    MEDIUM: float = P(..., "unit of the parameter", "source of the parameter")
    HIGH: float = P(..., "unit of the parameter", "source of the parameter")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        by_level = handler(core_schema)
        return {"anyOf": [{"type": "number", "description": "the same value for every risk level"}, by_level]}

    @model_validator(mode="before")
    @classmethod
    def _scalar_to_all(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {r: data for r in RISKS}
        return data

    def __getitem__(self, risk: str) -> float:
        return getattr(self, risk)

    def as_dict(self) -> dict[str, float]:
        return {r: getattr(self, r) for r in RISKS}
