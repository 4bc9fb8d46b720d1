"""The config a serving sidecar runs: plain, immutable records built from canonical JSON.

A config is validated by the pydantic contract (:mod:`contract`) in a short-lived process
(:mod:`validation`), which hands back the validated model dumped by field name: every field,
defaults included, already normalised. The serving process turns that JSON into these records,
which answer the same attribute reads as the models (``config.dependencies[0].http.url``,
``dep.params``) and compare by value, as the frozen models do (a reload keeps the state of an
unchanged dependency). Code that runs checks is typed against the models; at run time it gets
either, so it only reads attributes and iterates fields, never calls a pydantic method.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from healthgate_sidecar.contract import SidecarConfig


class Record:
    """Named, read-only fields; nested mappings become records too, lists stay lists."""

    _fields: dict[str, Any]

    def __init__(self, fields: dict[str, Any]) -> None:
        object.__setattr__(self, "_fields", {k: _record(v) for k, v in fields.items()})
        self.__dict__.update(self._fields)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` pairs, as iterating a pydantic model gives."""
        return iter(self._fields.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return type(self) is type(other) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(json.dumps(self.as_data(), sort_keys=True))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"{type(self).__name__}({fields})"

    def as_data(self) -> dict[str, Any]:
        return {k: _data(v) for k, v in self._fields.items()}


class DependencyRecord(Record):
    """One dependency: its common fields and one block per type, set for ``type`` only."""

    @property
    def params(self) -> Any:
        """The type block (present by validation), as :attr:`contract.Dependency.params`."""
        return self._fields[self._fields["type"]]


def _record(value: Any) -> Any:
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [_record(item) for item in value]
    return value


def _data(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_data()
    if isinstance(value, list):
        return [_data(item) for item in value]
    return value


def config(data: dict[str, Any]) -> SidecarConfig:
    """The records of a validated config dumped by field name (``model_dump(mode="json")``)."""
    deps = [DependencyRecord(dep) for dep in data["dependencies"]]
    return cast("SidecarConfig", Record({**data, "dependencies": deps}))
