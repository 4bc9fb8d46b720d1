"""crd.structural: pydantic JSON schema to a structural schema, on a small model."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from healthgate_operator.crd.structural import UnsupportedSchema, to_structural


class Inner(BaseModel):
    """Inner docstring."""

    size: int = Field(3, ge=1, lt=10, description="A size.")


class Outer(BaseModel):
    mode: Literal["a", "b"] = Field("a", description="Mode.")
    fixed: Literal["x"] = "x"
    inner: Inner | None = Field(None, description="The inner block.")
    names: list[str] = Field(default_factory=list, max_length=4)
    labels: dict[str, str] = Field(default_factory=dict)


def convert() -> dict:  # type: ignore[type-arg]
    schema = Outer.model_json_schema()
    return to_structural(schema, schema.get("$defs", {}))


def test_refs_inlined_nulls_collapsed_descriptions_merged() -> None:
    inner = convert()["properties"]["inner"]
    assert inner["type"] == "object"
    assert inner["description"] == "The inner block. Inner docstring."
    assert "anyOf" not in inner
    assert "$ref" not in inner
    assert "default" not in inner
    size = inner["properties"]["size"]
    assert size == {
        "type": "integer",
        "description": "A size.",
        "default": 3,
        "minimum": 1,
        "maximum": 10,
        "exclusiveMaximum": True,
    }


def test_enums_consts_lists_maps() -> None:
    props = convert()["properties"]
    assert props["mode"]["enum"] == ["a", "b"]
    assert props["fixed"]["enum"] == ["x"]
    assert props["names"] == {"type": "array", "items": {"type": "string"}, "maxItems": 4}
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert "title" not in str(convert())


def test_unions_are_refused() -> None:
    class Bad(BaseModel):
        value: int | str

    schema = Bad.model_json_schema()
    with pytest.raises(UnsupportedSchema, match="anyOf"):
        to_structural(schema, {})


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(UnsupportedSchema, match="uniqueItems"):
        to_structural({"type": "array", "uniqueItems": True}, {})
