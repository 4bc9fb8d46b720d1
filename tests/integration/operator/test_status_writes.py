"""Status writes only when the status changes (issue 16): a gate whose pods stay as they are
costs the API server no write per refresh. Writes are counted from the real API server's
audit log (every PATCH of a HealthGate's status, per object); refreshes from the operator's
``healthgate_status_round_duration_seconds_count``."""

from __future__ import annotations

import pytest

from tests.env.common import wait_for
from tests.integration.operator import objects
from tests.integration.operator.conftest import Kube, Operator

pytestmark = pytest.mark.integration
ROUNDS = "healthgate_status_round_duration_seconds_count"


def rounds(operator: Operator) -> float:
    for line in operator.metrics().splitlines():
        if line.startswith(ROUNDS):
            return float(line.split()[-1])
    return 0.0


def wait_rounds(operator: Operator, count: int) -> None:
    """Until ``count`` more status rounds (each refreshes every gate) have ended."""
    target = rounds(operator) + count
    wait_for(f"{count} status rounds", lambda: rounds(operator) >= target, timeout=60)


def test_an_unchanged_status_is_not_written_again_and_a_change_is(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    k8s.apply(objects.gate("api", namespace))
    wait_for("the first status", lambda: (k8s.get("hg", "api", namespace) or {}).get("status"))
    wait_rounds(operator, 2)  # reconcile and status settle
    settled = k8s.cluster.status_writes(namespace, "api")
    assert settled >= 1

    wait_rounds(operator, 3)
    assert k8s.cluster.status_writes(namespace, "api") == settled

    # A selected pod (not injected: opted out) changes status.pods: that one is written.
    k8s.apply(objects.pod("p", namespace, annotations={"healthgate.io/inject": "false"}))
    wait_for(
        "the pod counted",
        lambda: (
            (k8s.get("hg", "api", namespace) or {}).get("status", {}).get("pods", {}).get("total")
            == 1
        ),
    )
    assert k8s.cluster.status_writes(namespace, "api") > settled
