"""Building blocks for the scenario schema: a strict frozen base model and documented fields.

Every behavioural number in casesim is declared with :func:`P`, which records its unit and the
source or reasoning behind its default in the JSON Schema (``casesim schema`` shows them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

RISKS: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH")
MODES: tuple[str, ...] = ("ADMINISTRATIVE", "BROKERAGE", "THERAPEUTIC", "COMPREHENSIVE")
SETTINGS: tuple[str, ...] = ("community", "custody")
#: The largest seed (of a scenario or an experiment), and why: it is stored in the result tables as such.
SEED_MAX = 2**63 - 1
SEED_LIMIT = "fits a signed 64-bit integer, as the result tables store it"
EXIT = "EXIT"


#: Bounds shared by many parameters, with the reason for each upper bound (``limit`` in the schema).
CENTURY_DAYS = 36_500
CENTURY = "a century: longer than any sentence or service a run could follow"
DECADE_DAYS = 3_650
DECADE = "ten years: longer than any delay or interval a service plans for"
PROBABILITY = "a probability"
SHARE = "a share"
LOGIT = 20.0
LOGIT_LIMIT = "20 logits: beyond it a probability is within 2e-9 of 0 or 1, so a larger value says nothing more"
MONEY = 1e9
MONEY_LIMIT = ("a billion currency units: above any price of one day, contact or hearing, even in a currency "
               "with thousands of units to the pound")
HOURS = 1_000.0
HOURS_LIMIT = "a thousand hours: more than half a working year for one activity"
FACTOR = 100.0
FACTOR_LIMIT = "a hundredfold change: beyond any effect the parameter is meant to express"
CV = 10.0
CV_LIMIT = "a coefficient of variation of 10: far more spread than any stay or service length data show"


def P(default: Any, unit: str, source: str, description: str = "", *, limit: str = "",
      **constraints: Any) -> Any:
    """A scenario parameter: default, unit, and the source or reasoning for the default.

    ``constraints`` are pydantic's (``ge``, ``gt``, ``le``, ``lt``, ...): they bound the plausible range and
    appear in ``casesim schema``. An upper bound needs ``limit``, a short reason for it (why no real
    service goes beyond it), which the schema shows beside the bound.
    """
    if ("le" in constraints or "lt" in constraints) and not limit:
        raise TypeError(f"a parameter in {unit!r} has an upper bound without a reason: give limit=...")
    extra = {"unit": unit, "source": source, **({"limit": limit} if limit else {})}
    if callable(default):  # a factory: list, dict, a model class or a lambda
        return Field(default_factory=default, description=description or None,
                     json_schema_extra=extra, **constraints)
    return Field(default, description=description or None, json_schema_extra=extra, **constraints)


def reject_unknown(values: Iterable[str], valid: Sequence[str], what: str) -> None:
    """Raise ``ValueError`` naming the ``values`` that are not in ``valid`` (for field validators)."""
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unknown {what}(s) {', '.join(bad)}; valid: {', '.join(valid)}")


def bounded(kind: type, limit: str, **constraints: Any) -> Any:
    """``kind`` with pydantic ``constraints``, for values inside lists and mappings (e.g. weights by patch);
    ``limit`` gives the reason for the upper bound in the schema, as for :func:`P`."""
    return Annotated[kind, Field(json_schema_extra={"limit": limit}, **constraints)]


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


def _level(**bounds: Any) -> Any:
    """One risk level's value with ``bounds``; unit and source are the parent field's (see ``costs.py``)."""
    return P(..., "unit of the parameter", "source of the parameter", **bounds)


_BOUND_KEYS = ("ge", "gt", "le", "lt")


class ByRisk(Strict):
    """A number per risk level. A single number in YAML applies to every level.

    The levels' bounds here (plus or minus 20) fit logits, this class's own use (``compliance.risk``); the
    subclasses below narrow them for shares, probabilities, days and yearly rates. A single number is
    checked once against the same bounds, so its error names the field, not each level.
    """

    LOW: float = _level(ge=-LOGIT, le=LOGIT, limit=LOGIT_LIMIT)
    MEDIUM: float = _level(ge=-LOGIT, le=LOGIT, limit=LOGIT_LIMIT)
    HIGH: float = _level(ge=-LOGIT, le=LOGIT, limit=LOGIT_LIMIT)

    _scalar: ClassVar[dict[type, TypeAdapter]] = {}

    @classmethod
    def _bounds(cls) -> dict[str, float]:
        info = cls.model_fields["LOW"]
        return {key: getattr(m, key) for m in info.metadata for key in _BOUND_KEYS if hasattr(m, key)}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        by_level = handler(core_schema)
        names = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
        scalar = {"type": "number", "description": "the same value for every risk level",
                  **{names[k]: v for k, v in cls._bounds().items()}}
        return {"anyOf": [scalar, by_level]}

    @model_validator(mode="before")
    @classmethod
    def _scalar_to_all(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            adapter = cls._scalar.get(cls)
            if adapter is None:
                adapter = cls._scalar[cls] = TypeAdapter(Annotated[float, Field(**cls._bounds())],
                                                         config=ConfigDict(allow_inf_nan=False))
            try:
                adapter.validate_python(data)
            except ValidationError as exc:
                error = exc.errors(include_url=False)[0]
                raise PydanticCustomError(error["type"], "{message}", {"message": error["msg"]}) from None
            return {r: data for r in RISKS}
        return data

    def __getitem__(self, risk: str) -> float:
        return getattr(self, risk)

    def as_dict(self) -> dict[str, float]:
        return {r: getattr(self, r) for r in RISKS}


class ShareByRisk(ByRisk):
    """A share per risk level (0 to 1): e.g. the risk mix of new cases."""

    LOW: float = _level(ge=0, le=1, limit=SHARE)
    MEDIUM: float = _level(ge=0, le=1, limit=SHARE)
    HIGH: float = _level(ge=0, le=1, limit=SHARE)


class ProbabilityByRisk(ByRisk):
    """A probability per risk level (0 to 1)."""

    LOW: float = _level(ge=0, le=1, limit=PROBABILITY)
    MEDIUM: float = _level(ge=0, le=1, limit=PROBABILITY)
    HIGH: float = _level(ge=0, le=1, limit=PROBABILITY)


class DaysByRisk(ByRisk):
    """A positive number of days per risk level (a mean stay): never zero, so a stay always takes time."""

    LOW: float = _level(gt=0, le=CENTURY_DAYS, limit=CENTURY)
    MEDIUM: float = _level(gt=0, le=CENTURY_DAYS, limit=CENTURY)
    HIGH: float = _level(gt=0, le=CENTURY_DAYS, limit=CENTURY)


#: Days in a year, for every rate given per year and every figure given per year (the mean calendar year).
DAYS_PER_YEAR = 365.25

YEARLY_RATE = 365.0
YEARLY_RATE_LIMIT = "one a day: far above any rate of further offences"


class RatePerYearByRisk(ByRisk):
    """A rate per year per risk level (0 or more)."""

    LOW: float = _level(ge=0, le=YEARLY_RATE, limit=YEARLY_RATE_LIMIT)
    MEDIUM: float = _level(ge=0, le=YEARLY_RATE, limit=YEARLY_RATE_LIMIT)
    HIGH: float = _level(ge=0, le=YEARLY_RATE, limit=YEARLY_RATE_LIMIT)
