"""handlers.guard_outage: what the status loop remembers, whom it tells, what the ConfigMap says."""

from __future__ import annotations

from typing import Any

from healthgate_operator.builders import injection
from healthgate_operator.config import OperatorConfig
from healthgate_operator.handlers import guard_outage
from healthgate_operator.runtime import Runtime
from tests.unit.operator.conftest import make_pod
from tests.unit.operator.test_injection import inject

Json = dict[str, Any]


def gate(shared: Json | None = None, status: Json | None = None) -> Json:
    spec: Json = {"dependencies": [{"name": "cache"}]}
    if shared is not None:
        spec["sharedOutage"] = shared
    return {"metadata": {"name": "api", "uid": "u-1"}, "spec": spec, "status": status or {}}


def test_after_a_restart_the_shared_state_comes_from_the_written_status() -> None:
    memory: dict[str, Any] = {}
    tracker = guard_outage.tracker(memory, gate(status={"sharedOutage": ["cache"]}))
    assert tracker.active == {"cache"}
    # Then the loop's own memory wins over an older body.
    tracker.active.clear()
    assert guard_outage.tracker(memory, gate(status={"sharedOutage": ["cache"]})).active == set()


def test_fail_closed_gates_name_no_key_in_their_configmap() -> None:
    runtime = Runtime(config=OperatorConfig())
    settings = guard_outage.settings(runtime, gate())
    assert settings == {"gate": "u-1", "publicKeys": [runtime.signer.public_key]}
    assert guard_outage.settings(runtime, gate({"policy": "FailClosed"})) is None


def test_directives_go_to_every_pod_the_gate_injected_that_has_an_ip() -> None:
    injected = inject(make_pod("a"))
    injected["status"] = {"podIP": "127.0.0.2"}
    no_ip = inject(make_pod("b"))
    plain = make_pod("c")
    plain["status"] = {"podIP": "127.0.0.3"}
    found = guard_outage.targets("tta-api", 9999, [injected, no_ip, plain])
    assert found == [("127.0.0.2", injection.pod_sidecar_port(injected))]
