"""Label selectors: matching a pod's labels in the webhook, and the query string for listing.

Both follow ``metav1.LabelSelector`` semantics, so the webhook (which sees one pod at a time and
cannot ask the API server "does this selector match?") and the status timer (which lists pods with
the same selector) agree on which pods a gate guards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Does a LabelSelector match these labels? An empty selector matches nothing here."""
    match_labels: Mapping[str, str] = selector.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        # The CRD forbids it; if one slips through, guarding every pod would be the worse error.
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    return all(_expression(expr, labels) for expr in expressions)


def _expression(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expr["key"], expr["operator"]
    values = set(expr.get("values") or [])
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown selector operator {operator!r}")


def to_query(selector: Mapping[str, Any]) -> str:
    """The ``labelSelector`` query parameter equivalent to a LabelSelector."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator = expr["key"], expr["operator"]
        values = ",".join(sorted(expr.get("values") or []))
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(f"unknown selector operator {operator!r}")
    return ",".join(parts)
