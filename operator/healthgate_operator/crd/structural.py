"""Pydantic JSON schema to a Kubernetes *structural* OpenAPI v3 schema.

The API server accepts only structural schemas: every node has a ``type``, no ``$ref``, no
``anyOf`` alternatives of different types, no ``additionalProperties: false`` (unknown fields are
pruned, or rejected by kubectl's strict field validation). Pydantic writes JSON Schema 2020-12
with ``$defs`` and ``anyOf: [X, null]`` for optional fields; this module inlines the references,
collapses the nullable unions and keeps what the API server understands (descriptions, defaults,
enums, ranges, lengths, patterns). Anything else raises :class:`UnsupportedSchema`, so a new
construct in the contract fails the CRD test instead of silently weakening validation.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# Keys copied as they are (after recursion where they hold schemas).
_SCALAR_KEYS = frozenset(
    {
        "type",
        "description",
        "default",
        "enum",
        "minimum",
        "maximum",
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "required",
        "format",
    }
)
# Keys pydantic emits that carry no validation for the API server.
_IGNORED_KEYS = frozenset({"title", "examples", "$defs"})


class UnsupportedSchema(ValueError):
    """The contract uses a JSON Schema construct that has no structural equivalent."""


def to_structural(node: Schema, defs: dict[str, Schema], *, path: str = "") -> Schema:
    """Convert one schema node (and everything below it) to its structural form."""
    node = _collapse(node, defs, path)
    out: Schema = {}
    for key, value in node.items():
        if key in _IGNORED_KEYS:
            continue
        if key == "properties":
            out[key] = {
                name: to_structural(sub, defs, path=f"{path}.{name}") for name, sub in value.items()
            }
        elif key == "items":
            out[key] = to_structural(value, defs, path=f"{path}[]")
        elif key == "additionalProperties":
            # false is the default behaviour (pruning); a schema means a map.
            if isinstance(value, dict):
                out[key] = to_structural(value, defs, path=f"{path}{{}}")
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # JSON Schema 2020-12 has numbers here; OpenAPI v3.0 has a flag next to the bound.
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key in _SCALAR_KEYS or key.startswith("x-kubernetes-"):
            if key == "default" and value is None:
                continue  # "absent" is the API server's default anyway
            out[key] = value
        else:
            raise UnsupportedSchema(f"{path or '<root>'}: unsupported schema key {key!r}")
    if "type" not in out:
        raise UnsupportedSchema(f"{path or '<root>'}: no type after conversion")
    return out


def _collapse(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    """Resolve ``$ref`` and nullable ``anyOf`` into one node; the outer keys win."""
    node = dict(node)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o != {"type": "null"}]
        if len(options) != 1:
            raise UnsupportedSchema(f"{path}: anyOf with {len(options)} non-null alternatives")
        node = _merge(_collapse(options[0], defs, path), node)
    if "$ref" in node:
        target = _resolve(node.pop("$ref"), defs, path)
        node = _merge(_collapse(target, defs, path), node)
    return node


def _merge(inner: Schema, outer: Schema) -> Schema:
    """Outer keys win, but both descriptions are kept: the field's says what it is for, the
    model's docstring says what it checks, and ``kubectl explain`` should teach both."""
    merged = {**inner, **outer}
    first, second = outer.get("description"), inner.get("description")
    if first and second and first != second:
        merged["description"] = f"{first} {second}"
    return merged


def _resolve(ref: str, defs: dict[str, Schema], path: str) -> Schema:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise UnsupportedSchema(f"{path}: unresolvable reference {ref!r}")
    return defs[ref[len(prefix) :]]
