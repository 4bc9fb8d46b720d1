"""CEL rules (``x-kubernetes-validations``) for what the contract checks in Python validators.

The contract enforces cross-field rules in pydantic ``model_validator``s, which a JSON schema
cannot express; the API server can, with CEL, and then ``kubectl apply`` rejects an invalid gate
with a message naming the field instead of the operator finding out later. Each rule here mirrors
one validator of the contract; the unit tests run the same invalid gates through both.
"""

from __future__ import annotations

from typing import Any

from healthgate_operator.crd.structural import Schema

Rule = dict[str, str]

# Inline strings that may carry a password: a ConfigMap is no place for one.
URL_FIELDS = frozenset({"url", "uri", "dsn", "baseUrl", "issuer", "endpoint"})
# Patterns that *detect* passwords (RE2, as CEL's matches() uses), not passwords.
_USERINFO_PASSWORD = "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@?#]*:[^/@?#]*@"  # noqa: S105
_KEYWORD_PASSWORD = "(^|[ ])password[ ]*="  # noqa: S105
# CEL's cost estimate grows with the longest possible string; a bound keeps the rules cheap.
URL_MAX_LENGTH = 2048


def type_block_rules(dependency: Schema) -> list[Rule]:
    """``type: X`` requires the block ``X`` and no other (one rule per type: precise messages)."""
    properties = dependency["properties"]
    rules: list[Rule] = []
    for kind in dependency["properties"]["type"]["enum"]:
        if kind not in properties:
            raise LookupError(f"contract: type {kind!r} has no block named {kind!r}")
        rules.append(
            {
                "rule": f"has(self.{kind}) == (self.type == '{kind}')",
                "message": f"the {kind} block is required when type is {kind}, "
                f"and not allowed otherwise",
                "fieldPath": f".{kind}",
                "reason": "FieldValueInvalid",
            }
        )
    return rules


def timeout_rule() -> Rule:
    """The contract's ``timeoutSeconds <= intervalSeconds`` (both defaulted, so always present)."""
    return {
        "rule": "self.timeoutSeconds <= self.intervalSeconds",
        "message": "timeoutSeconds must not exceed intervalSeconds",
        "fieldPath": ".timeoutSeconds",
        "reason": "FieldValueInvalid",
    }


def no_password_rules(field: str) -> list[Rule]:
    """Inline URLs and DSNs must not carry a password: it would land in a ConfigMap.

    The rules sit on the parent object with a ``fieldPath``: on the string itself the API server
    would echo the rejected value, password included, in its error message.
    """
    message = (
        f"{field} must not contain a password (the rendered config is a ConfigMap); "
        "take the credential from a Secret with the matching ...From field"
    )
    patterns = [_USERINFO_PASSWORD] + ([_KEYWORD_PASSWORD] if field == "dsn" else [])
    return [
        {
            "rule": f"!has(self.{field}) || !self.{field}.matches('{pattern}')",
            "message": message,
            "fieldPath": f".{field}",
            "reason": "FieldValueInvalid",
        }
        for pattern in patterns
    ]


def add_url_rules(node: Schema) -> None:
    """Walk a structural schema and guard every inline URL-like string (in place)."""
    properties: dict[str, Schema] = node.get("properties", {})
    for name, sub in properties.items():
        if name in URL_FIELDS and sub.get("type") == "string":
            sub.setdefault("maxLength", URL_MAX_LENGTH)
            node.setdefault("x-kubernetes-validations", []).extend(no_password_rules(name))
        add_url_rules(sub)
    items: Any = node.get("items")
    if isinstance(items, dict):
        add_url_rules(items)


def list_map(node: Schema, key: str) -> None:
    """Make a list a map keyed by ``key``: the API server then rejects duplicate keys itself."""
    node["x-kubernetes-list-type"] = "map"
    node["x-kubernetes-list-map-keys"] = [key]
