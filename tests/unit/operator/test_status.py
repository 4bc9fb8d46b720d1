"""builders.status: aggregation of sidecar reports into a gate's status and events."""

from __future__ import annotations

import itertools
from typing import Any, cast

from healthgate_operator.builders import status
from healthgate_operator.builders.status import PodReport
from healthgate_operator.handlers import update_status
from healthgate_sidecar import state as sidecar_state
from healthgate_sidecar import wire

NAMES = ["cache", "llm"]


def health(overall: str, **components: str) -> wire.HealthBody:
    body = {"status": overall, "components": {k: {"status": v} for k, v in components.items()}}
    return cast(wire.HealthBody, body)


def test_all_healthy() -> None:
    pods = [
        PodReport("a", True, True, health("healthy", cache="healthy", llm="healthy")),
        PodReport("b", True, True, health("healthy", cache="healthy", llm="healthy")),
    ]
    s = status.summarize(NAMES, pods, None)
    assert (s.status, s.total, s.injected, s.ready, s.unhealthy) == ("Healthy", 2, 2, 2, [])
    assert s.dependencies[0] == {
        "name": "cache",
        "healthy": 2,
        "degraded": 0,
        "unhealthy": 0,
        "unknown": 0,
    }
    assert s.events == []


def test_worst_reported_pod_wins_and_unreachable_counts_unknown() -> None:
    pods = [
        PodReport("a", True, False, health("unhealthy", cache="unhealthy", llm="healthy")),
        PodReport("b", True, True, health("healthy", cache="healthy", llm="healthy")),
        PodReport("c", True, False, None),
        PodReport("d", False, True, None),
    ]
    s = status.summarize(NAMES, pods, None)
    assert s.status == "Unhealthy"
    assert (s.total, s.injected, s.ready, s.reporting) == (4, 3, 2, 2)
    assert s.dependencies[0] == {
        "name": "cache",
        "healthy": 1,
        "degraded": 0,
        "unhealthy": 1,
        "unknown": 1,
    }
    assert s.unhealthy == ["cache"]


def test_non_critical_unhealthy_is_degraded() -> None:
    pods = [PodReport("a", True, True, health("degraded", cache="healthy", llm="unhealthy"))]
    s = status.summarize(NAMES, pods, None)
    assert s.status == "Degraded"
    ready, degraded = status.health_conditions(s, 4)
    assert (ready["status"], ready["reason"]) == ("True", "DependenciesHealthy")
    assert (degraded["status"], degraded["reason"]) == ("True", "DependencyDegraded")
    assert degraded["observedGeneration"] == 4


def test_no_reports_is_unknown() -> None:
    s = status.summarize(NAMES, [PodReport("a", False, False)], None)
    assert s.status == "Unknown"
    ready, _ = status.health_conditions(s, 1)
    assert (ready["status"], ready["reason"]) == ("Unknown", "NoReports")


def test_unhealthy_condition_names_dependencies() -> None:
    pods = [PodReport("a", True, False, health("unhealthy", cache="unhealthy", llm="healthy"))]
    ready, degraded = status.health_conditions(status.summarize(NAMES, pods, None), 1)
    assert (ready["status"], ready["reason"]) == ("False", "DependencyUnhealthy")
    assert "cache" in ready["message"]
    assert degraded["status"] == "False"


def test_transitions_emit_once() -> None:
    sick = [{"name": "cache", "healthy": 0, "degraded": 0, "unhealthy": 2, "unknown": 0}]
    well = [{"name": "cache", "healthy": 2, "degraded": 0, "unhealthy": 0, "unknown": 0}]
    assert status.transitions(well, sick, set()) == ([], set())  # not settled yet
    assert status.transitions(sick, sick, set()) == (
        [
            (
                "Warning",
                "DependencyUnhealthy",
                "dependency cache is unhealthy in 2 of 2 reporting pods",
            )
        ],
        {"cache"},
    )
    assert status.transitions(sick, sick, {"cache"}) == ([], {"cache"})
    assert status.transitions(sick, well, {"cache"}) == (
        [("Normal", "DependencyRecovered", "dependency cache recovered in all 2 reporting pods")],
        set(),
    )
    gone = [{"name": "cache", "healthy": 0, "degraded": 0, "unhealthy": 0, "unknown": 2}]
    assert status.transitions(sick, gone, {"cache"}) == ([], {"cache"})  # no answers: no recovery


def test_unhealthy_event_counts_what_is_true_when_sent() -> None:
    """Issue 13: 1 of 3 pods fails first, then all 3: the one event must say 3 of 3."""

    def dep(unhealthy: int) -> list[dict[str, int | str]]:
        return [
            {
                "name": "cache",
                "healthy": 3 - unhealthy,
                "degraded": 0,
                "unhealthy": unhealthy,
                "unknown": 0,
            }
        ]

    rounds = [dep(0), dep(1), dep(3), dep(3), dep(3)]
    reported: set[str] = set()
    sent = []
    for before, now in itertools.pairwise(rounds):
        events, reported = status.transitions(before, now, reported)
        sent += events
    assert sent == [
        ("Warning", "DependencyUnhealthy", "dependency cache is unhealthy in 3 of 3 reporting pods")
    ]


def test_after_a_restart_an_unhealthy_dependency_in_status_is_not_reported_again() -> None:
    sick = [{"name": "cache", "healthy": 0, "degraded": 0, "unhealthy": 1, "unknown": 0}]
    pods = [PodReport("a", True, False, health("unhealthy", cache="unhealthy", llm="healthy"))]
    assert status.summarize(["cache"], pods, sick).events == []


def test_operator_ranks_statuses_like_the_sidecar() -> None:
    """One ranking across the boundary (issue 13): unknown is worse than degraded."""
    assert sorted(status.RANK, key=status.RANK.__getitem__) == sorted(
        sidecar_state.SEVERITY, key=sidecar_state.SEVERITY.__getitem__
    )
    pods = [
        PodReport("a", True, True, health("degraded", cache="healthy", llm="degraded")),
        PodReport("b", True, True, health("unknown")),
    ]
    assert status.summarize(NAMES, pods, None).status == "Unknown"


def test_pods_that_cannot_start_are_named() -> None:
    pod = {
        "status": {
            "initContainerStatuses": [
                {
                    "name": "healthgate",
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": 'secret "db-creds" not found',
                        }
                    },
                }
            ]
        }
    }
    waiting = status.cannot_start(pod)
    assert waiting == 'secret "db-creds" not found (CreateContainerConfigError)'
    assert (
        status.cannot_start({"status": {"containerStatuses": [{"state": {"running": {}}}]}}) is None
    )
    s = status.summarize(NAMES, [PodReport("a", True, False, None, waiting)], None)
    ready, _ = status.health_conditions(s, 1)
    assert (ready["status"], ready["reason"]) == ("Unknown", "PodsCannotStart")
    assert (
        ready["message"]
        == 'pods cannot start: secret "db-creds" not found (CreateContainerConfigError)'
    )


def test_status_fields() -> None:
    pods = [PodReport("a", True, True, health("healthy", cache="healthy", llm="healthy"))]
    fields = status.status_fields(status.summarize(NAMES, pods, None))
    assert fields["ready"] == "1/1"
    assert fields["unhealthy"] == ""
    assert fields["pods"] == {"total": 1, "injected": 1, "ready": 1, "notInjected": 0}


def test_a_status_already_shown_is_not_written_again() -> None:
    summary = status.summarize(
        NAMES, [PodReport("a", True, True, health("healthy", cache="healthy"))], None
    )
    fields = status.status_fields(summary)
    updates = status.health_conditions(summary, 1)
    body: dict[str, Any] = {"metadata": {"resourceVersion": "1"}, "status": {}}
    first = update_status.merged_status(body, fields, updates)
    assert not update_status.unchanged(body, first)
    body["status"] = {**first["status"], "injectionHash": "h"}  # as stored; other owners' fields
    assert update_status.unchanged(body, update_status.merged_status(body, fields, updates))
    sick = status.summarize(
        NAMES, [PodReport("a", True, True, health("unhealthy", cache="unhealthy"))], None
    )
    changed = update_status.merged_status(
        body, status.status_fields(sick), status.health_conditions(sick, 1)
    )
    assert not update_status.unchanged(body, changed)
