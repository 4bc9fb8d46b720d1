"""builders.shared_outage: the rule (threshold, minPods), its hysteresis, condition and Events."""

from __future__ import annotations

from typing import Any, cast

import pytest

from healthgate_operator.builders import shared_outage
from healthgate_operator.builders.shared_outage import Policy, Tracker
from healthgate_operator.builders.status import PodReport
from healthgate_operator.crd import parts
from healthgate_sidecar import wire

Json = dict[str, Any]


def pod(name: str, cache: str, *, failures: int | None = None, injected: bool = True) -> PodReport:
    component: Json = {"status": cache}
    if failures is not None:
        component["consecutiveFailures"] = failures
    health = {"status": cache, "components": {"cache": component}}
    return PodReport(name, injected, True, cast(wire.HealthBody, health))


def test_defaults_come_from_an_empty_spec() -> None:
    assert Policy.from_spec({}) == Policy()
    policy = Policy.from_spec({"sharedOutage": {"policy": "FailClosed"}})
    assert not policy.fail_open
    custom = Policy.from_spec({"sharedOutage": {"thresholdPercent": 50, "minPods": 3}})
    assert (custom.threshold_percent, custom.min_pods, custom.fail_open) == (50, 3, True)


@pytest.mark.parametrize(
    ("failing", "reporting", "expected"),
    [
        (3, 3, True),  # every pod: shared
        (2, 3, False),  # 67 % < 75 %: a pod-local problem in two pods drains them
        (1, 3, False),  # one wrong password
        (3, 4, True),  # exactly 75 %
        (1, 1, False),  # one pod cannot tell its own problem from a shared one (minPods 2)
        (2, 2, True),
        (0, 0, False),  # nobody answered
        (3, 6, False),  # a rollout surging 3 failing pods next to 3 good ones still stalls
    ],
)
def test_threshold_and_min_pods(failing: int, reporting: int, expected: bool) -> None:
    assert Policy().holds(failing, reporting) is expected


def test_min_pods_counts_failing_pods_not_reporting_ones() -> None:
    assert not Policy(threshold_percent=50, min_pods=3).holds(2, 2)
    assert Policy(threshold_percent=50, min_pods=3).holds(3, 6)


def test_counts_only_injected_pods_that_answered_and_first_failures() -> None:
    pods = [
        pod("a", "unhealthy"),
        pod("b", "healthy", failures=1),  # a first failure, before failureThreshold
        pod("c", "healthy", failures=0),
        PodReport("d", True, False, None),  # unreachable: not reporting
        pod("e", "unhealthy", injected=False),
    ]
    assert shared_outage.counts(["cache"], pods) == {"cache": (2, 3)}


def test_entry_needs_entry_refreshes_in_a_row() -> None:
    policy, tracker = Policy(entry_refreshes=2), Tracker()
    first = shared_outage.step(policy, tracker, {"cache": (3, 3)})
    assert first.active == {}
    assert first.entered == []
    assert shared_outage.step(policy, tracker, {"cache": (0, 3)}).active == {}  # flap resets
    shared_outage.step(policy, tracker, {"cache": (3, 3)})
    second = shared_outage.step(policy, tracker, {"cache": (3, 3)})
    assert second.active == {"cache": (3, 3)}
    assert second.entered == ["cache"]
    # Entered once: the next refresh is not another entry.
    assert shared_outage.step(policy, tracker, {"cache": (3, 3)}).entered == []


def test_exit_needs_exit_refreshes_in_a_row_so_flapping_does_not_toggle() -> None:
    policy, tracker = Policy(entry_refreshes=1, exit_refreshes=3), Tracker()
    assert shared_outage.step(policy, tracker, {"cache": (3, 3)}).entered == ["cache"]
    for observed in [(0, 3), (0, 3), (3, 3), (0, 3), (0, 3)]:  # flapping: stays shared
        verdict = shared_outage.step(policy, tracker, {"cache": observed})
        assert "cache" in verdict.active
        assert verdict.exited == []
        assert verdict.entered == []
    last = shared_outage.step(policy, tracker, {"cache": (0, 3)})
    assert last.exited == ["cache"]
    assert last.active == {}


def test_fail_closed_never_enters_and_leaves_at_once() -> None:
    tracker = Tracker()
    shared_outage.step(Policy(entry_refreshes=1), tracker, {"cache": (3, 3)})
    closed = Policy(fail_open=False, entry_refreshes=1)
    verdict = shared_outage.step(closed, tracker, {"cache": (3, 3)})
    assert verdict.exited == ["cache"]
    assert verdict.active == {}
    assert shared_outage.step(closed, tracker, {"cache": (3, 3)}).entered == []


def test_a_removed_dependency_leaves_the_shared_state() -> None:
    tracker = Tracker()
    shared_outage.step(Policy(entry_refreshes=1), tracker, {"cache": (3, 3)})
    verdict = shared_outage.step(Policy(entry_refreshes=1), tracker, {})
    assert verdict.exited == ["cache"]
    assert tracker.streak == {}


def test_condition_names_the_dependencies_and_events_come_once() -> None:
    tracker, policy = Tracker(), Policy(entry_refreshes=1, exit_refreshes=1)
    entered = shared_outage.step(policy, tracker, {"cache": (3, 3)})
    cond = shared_outage.condition(entered, policy, 4)
    assert (cond["type"], cond["status"], cond["observedGeneration"]) == ("SharedOutage", "True", 4)
    assert "cache (unhealthy in 3/3 pods)" in cond["message"]
    [(kind, reason, message)] = shared_outage.events(entered)
    assert (kind, reason) == ("Warning", "SharedOutageStarted")
    assert "3/3" in message
    steady = shared_outage.step(policy, tracker, {"cache": (3, 3)})
    assert shared_outage.events(steady) == []
    left = shared_outage.step(policy, tracker, {"cache": (0, 3)})
    assert [e[1] for e in shared_outage.events(left)] == ["SharedOutageEnded"]
    assert shared_outage.condition(left, policy, 4)["status"] == "False"
    closed = shared_outage.condition(left, Policy(fail_open=False), 4)
    assert closed["reason"] == "FailClosed"


def test_crd_defaults_match_the_policy_and_fail_closed_refuses_tuning() -> None:
    schema = parts.shared_outage()
    assert schema["properties"]["policy"]["default"] == "FailOpen"
    for name, value in [("thresholdPercent", 75), ("minPods", 2), ("exitRefreshes", 3)]:
        assert f"(default {value})" in schema["properties"][name]["description"]
    [rule] = schema["x-kubernetes-validations"]
    assert "self.policy == 'FailOpen'" in rule["rule"]
    assert "has(self.minPods)" in rule["rule"]


def test_critical_names_skip_non_critical_dependencies() -> None:
    spec = {"dependencies": [{"name": "cache"}, {"name": "llm", "critical": False}]}
    assert shared_outage.critical_names(spec) == ["cache"]
