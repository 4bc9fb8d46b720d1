"""builders.conditions: lastTransitionTime moves only on a real transition."""

from __future__ import annotations

from healthgate_operator.builders import conditions


def test_new_condition_gets_now() -> None:
    merged = conditions.merge([], [conditions.condition("Ready", "True", "Ok", "m", 3)], "T1")
    assert merged == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ok",
            "message": "m",
            "observedGeneration": 3,
            "lastTransitionTime": "T1",
        }
    ]


def test_same_status_keeps_time_but_updates_the_rest() -> None:
    first = conditions.merge([], [conditions.condition("Ready", "True", "A", "a", 1)], "T1")
    second = conditions.merge(first, [conditions.condition("Ready", "True", "B", "b", 2)], "T2")
    assert second[0]["lastTransitionTime"] == "T1"
    assert (second[0]["reason"], second[0]["message"], second[0]["observedGeneration"]) == (
        "B",
        "b",
        2,
    )


def test_flip_moves_time() -> None:
    first = conditions.merge([], [conditions.condition("Ready", "True", "A", "a", 1)], "T1")
    second = conditions.merge(first, [conditions.condition("Ready", "False", "B", "b", 1)], "T2")
    assert second[0]["lastTransitionTime"] == "T2"


def test_other_types_are_kept_and_ordered() -> None:
    existing = [
        {"type": "Reconciled", "status": "True", "lastTransitionTime": "T0"},
        {"type": "Custom", "status": "True", "lastTransitionTime": "T0"},
    ]
    merged = conditions.merge(existing, [conditions.condition("Ready", "False", "R", "", 1)], "T1")
    assert [c["type"] for c in merged] == ["Ready", "Reconciled", "Custom"]
    assert merged[1]["lastTransitionTime"] == "T0"


def test_find() -> None:
    assert conditions.find(None, "Ready") is None
    assert conditions.find([{"type": "Ready", "status": "True"}], "Ready") == {
        "type": "Ready",
        "status": "True",
    }
