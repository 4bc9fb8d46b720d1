"""builders.selectors: LabelSelector matching and its query string."""

from __future__ import annotations

from typing import Any

import pytest

from healthgate_operator.builders import selectors

LABELS = {"app": "api", "tier": "web"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "api"}}, True),
        ({"matchLabels": {"app": "api", "tier": "db"}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({}, False),
    ],
)
def test_matches(selector: dict[str, Any], expected: bool) -> None:
    assert selectors.matches(selector, LABELS) is expected


def test_query() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "t", "operator": "In", "values": ["y", "x"]},
            {"key": "u", "operator": "NotIn", "values": ["z"]},
            {"key": "v", "operator": "Exists"},
            {"key": "w", "operator": "DoesNotExist"},
        ],
    }
    assert selectors.to_query(selector) == "a=1,b=2,t in (x,y),u notin (z),v,!w"


def test_unknown_operator() -> None:
    with pytest.raises(ValueError, match="operator"):
        selectors.matches({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, LABELS)
