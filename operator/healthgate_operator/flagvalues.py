"""JSON-valued operator flags: the sidecar's default resources.

A Kubernetes object (``ResourceRequirements``) given on the command line (Helm passes ``toJson``
of a value). They are checked here, at start-up, with the field path
in the message: a mistake found later would be a pod the API server refuses after our mutation.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from healthgate_operator.kubetypes import Json

# resource.Quantity's grammar (apimachinery): a signed decimal, then a binary SI suffix, a decimal
# SI suffix or an exponent.
QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))?$"
)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class FlagValueError(ValueError):
    """A JSON flag that is not valid JSON or not the object it should be."""


def quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (``128Mi`` -> 134217728, ``10m`` -> 0.01)."""
    found = QUANTITY.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a quantity (e.g. 100m, 64Mi, 1)")
    number, suffix = Decimal(found["number"]), found["suffix"] or ""
    if suffix in _BINARY:
        return number * Decimal(2 ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    if suffix:
        return number.scaleb(int(Decimal(suffix[1:])))
    return number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Resources(_Strict):
    """``corev1.ResourceRequirements`` without claims: requests and limits."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _numbers_are_quantities(cls, value: Any) -> Any:
        """``cpu: 1`` is a valid quantity (YAML and Helm's toJson give a number)."""
        if isinstance(value, dict):
            return {
                k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, value: dict[str, str]) -> dict[str, str]:
        for name, amount in value.items():
            if not name:
                raise ValueError("a resource name is empty")
            try:
                quantity(amount)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for name, limit in self.limits.items():
            request = self.requests.get(name)
            if request is not None and quantity(request) > quantity(limit):
                raise ValueError(f"requests.{name} ({request}) exceeds limits.{name} ({limit})")
        return self


def _parse(text: str, model: type[_Strict]) -> Json:
    try:
        loaded = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise FlagValueError(f"not JSON: {exc}") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise FlagValueError("must be a JSON object")
    try:
        valid = model.model_validate(loaded)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise FlagValueError(f"{where}: {message}" if where else message) from None
    dumped: Json = valid.model_dump(exclude_defaults=True)
    return dumped


def resources(text: str) -> Json:
    """``--sidecar-resources``: ``{"requests": {...}, "limits": {...}}``."""
    return _parse(text, Resources)
