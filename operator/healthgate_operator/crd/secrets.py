"""The CRD's view of the contract's secret fields: ``xFromEnv``/``xFile`` become ``xFrom``.

The contract's rule: a secret-bearing field ``x`` has the alternatives ``xFromEnv`` (an
environment variable's name) and ``xFile``. In a HealthGate neither makes sense to a user (the
variable and the file would have to exist in a container the operator injects), so the CRD offers
``xFrom: {secretKeyRef: {name, key}}`` instead; the operator renders it back to ``xFile`` and an
item of a projected Secret volume (or, with ``sidecar.secretsAs: env``, to ``xFromEnv`` and an
env var with ``valueFrom.secretKeyRef``). Which fields are secrets, and whether a value is
*required*, each contract model declares as data (``secret_fields``, see
:mod:`healthgate_sidecar.params`): the contract validates by that declaration, the CRD is
generated from it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from healthgate_operator.crd.structural import Schema

if TYPE_CHECKING:
    from healthgate_sidecar import contract

ENV_SUFFIX = "FromEnv"
FILE_SUFFIX = "File"
FROM_SUFFIX = "From"

SECRET_KEY_REF: Schema = {
    "type": "object",
    "description": "A key of a Secret in the HealthGate's namespace.",
    "required": ["name", "key"],
    "properties": {
        "name": {
            "type": "string",
            "description": "Name of the Secret.",
            "minLength": 1,
            "maxLength": 253,
            "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        },
        "key": {
            "type": "string",
            "description": "Key within the Secret.",
            "minLength": 1,
            "maxLength": 253,
            "pattern": r"^[-._a-zA-Z0-9]+$",
        },
    },
}


def from_schema(field: str) -> Schema:
    """The CRD-only ``xFrom`` property."""
    return {
        "type": "object",
        "description": (
            f"Take {field} from a Secret. The operator never reads the value: the injected "
            "sidecar gets it as a file of a projected Secret volume, which the kubelet updates "
            "when the Secret changes (or as an environment variable with "
            "sidecar.secretsAs: env)."
        ),
        "required": ["secretKeyRef"],
        "properties": {"secretKeyRef": copy.deepcopy(SECRET_KEY_REF)},
    }


def convert_model(schema: Schema, model: type[contract.Model]) -> Schema:
    """Rewrite one ``$defs`` entry (still pydantic JSON schema) for the CRD."""
    schema = copy.deepcopy(schema)
    properties: dict[str, Any] = schema.get("properties", {})
    rules: list[dict[str, str]] = []
    required: list[str] = list(schema.get("required", []))
    for secret in model.secret_fields:
        field = secret.alias
        properties.pop(field + ENV_SUFFIX)
        properties.pop(field + FILE_SUFFIX, None)
        ref = field + FROM_SUFFIX
        properties[ref] = from_schema(field)
        inline = field in properties
        if secret.required:
            if inline:
                rules.append(_exactly_one(field, ref))
            else:
                required.append(ref)
        elif inline:
            rules.append(_at_most_one(field, ref))
    drop_files(schema)
    if required:
        schema["required"] = required
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def drop_files(schema: Schema) -> None:
    """Files (CA bundles, token files) do not exist in an injected container: drop them."""
    properties: dict[str, Any] = schema.get("properties", {})
    for name in [n for n in properties if n.endswith(FILE_SUFFIX)]:
        properties.pop(name)


def _exactly_one(field: str, ref: str) -> dict[str, str]:
    return {
        "rule": f"has(self.{field}) != has(self.{ref})",
        "message": f"exactly one of {field} or {ref} is required",
    }


def _at_most_one(field: str, ref: str) -> dict[str, str]:
    return {
        "rule": f"!(has(self.{field}) && has(self.{ref}))",
        "message": f"only one of {field} or {ref} may be set",
    }
