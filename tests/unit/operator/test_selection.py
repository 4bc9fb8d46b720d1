"""The remembered conflict detection gives the definition's answer (``manifests.conflicts``)."""

from __future__ import annotations

import random
from types import MappingProxyType
from typing import Any

import pytest

from healthgate_operator.builders import manifests
from healthgate_operator.selection import KEPT, Selection

KEYS = ["app", "tier", "team", "track"]
VALUES = ["a", "b", "c"]
OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"]


def random_selector(rng: random.Random) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if rng.random() < 0.8:
        keys = rng.sample(KEYS, rng.randint(1, 2))
        selector["matchLabels"] = {k: rng.choice(VALUES) for k in keys}
    if rng.random() < 0.4 or not selector:
        selector["matchExpressions"] = [
            {"key": rng.choice(KEYS), "operator": op}
            | ({"values": rng.sample(VALUES, 2)} if op in ("In", "NotIn") else {})
            for op in rng.sample(OPERATORS, rng.randint(1, 2))
        ]
    if rng.random() < 0.05:
        return {}  # an empty selector selects nothing, in both
    return selector


def random_labels(rng: random.Random) -> dict[str, str]:
    return {k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randint(0, 3))}


def gate(name: str, selector: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"selector": selector}}


def view(gates: list[dict[str, Any]]) -> MappingProxyType[str, dict[str, Any]]:
    return MappingProxyType({g["metadata"]["name"]: g for g in gates})


@pytest.mark.parametrize("seed", range(40))
def test_same_answer_as_the_definition(seed: int) -> None:
    rng = random.Random(seed)
    gates = [gate(f"g{i:02d}", random_selector(rng)) for i in rng.sample(range(60), 25)]
    selection = Selection()
    for _ in range(3):  # gates change between rounds: a new mapping each time, as the cache does
        current = view(gates)
        for own in gates:
            # A workload's pods share their labels: repeat some label sets.
            kinds = [random_labels(rng) for _ in range(rng.randint(0, 4))]
            pods = [dict(rng.choice(kinds)) for _ in range(rng.randint(0, 12))] if kinds else []
            name = own["metadata"]["name"]
            expected = manifests.conflicts(name, pods, list(current.values()))
            assert selection.conflicts("ns", current, name, pods) == expected
            assert selection.conflicts("ns", current, name, pods) == expected  # remembered
        gates[rng.randrange(len(gates))] = gate(f"g{rng.randrange(60, 90)}", random_selector(rng))


def test_a_changed_selector_is_seen() -> None:
    pods = [{"app": "a"}] * 3
    selection = Selection()
    before = view(
        [gate("x", {"matchLabels": {"app": "a"}}), gate("y", {"matchLabels": {"app": "a"}})]
    )
    assert selection.conflicts("ns", before, "x", pods) == [{"gate": "y", "pods": 3, "winner": "x"}]
    after = view(
        [gate("x", {"matchLabels": {"app": "a"}}), gate("y", {"matchLabels": {"app": "b"}})]
    )
    assert selection.conflicts("ns", after, "x", pods) == []


def test_namespaces_are_apart() -> None:
    selection = Selection()
    one = view([gate("x", {"matchLabels": {"app": "a"}}), gate("y", {"matchLabels": {"app": "a"}})])
    two = view([gate("x", {"matchLabels": {"app": "a"}})])
    assert selection.conflicts("one", one, "x", [{"app": "a"}]) != []
    assert selection.conflicts("two", two, "x", [{"app": "a"}]) == []
    assert selection.conflicts("one", one, "x", [{"app": "a"}]) != []


def test_many_label_sets_start_over_with_the_same_answers() -> None:
    selection = Selection()
    exists = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    gates = view([gate("x", exists), gate("y", exists)])
    for i in range(KEPT + 5):
        pods = [{"app": str(i)}]
        assert selection.conflicts("ns", gates, "x", pods) == manifests.conflicts(
            "x", pods, list(gates.values())
        )
