"""builders.admission: every reason to inject or not, without a cluster."""

from __future__ import annotations

import copy

from healthgate_operator.builders import admission, injection
from tests.unit.operator.conftest import SPEC, make_gate, make_pod

IMAGE = "img:1"


def decide(pod: dict, gates: list[dict], namespace: str = "tta") -> admission.Decision:  # type: ignore[type-arg]
    return admission.decide(
        pod,
        namespace,
        gates,
        defaults=injection.SidecarDefaults(image=IMAGE),
        allowed_images=(IMAGE, "registry.example/healthgate:*"),
        skip_namespaces=("ops",),
    )


def test_injects_the_selected_pod() -> None:
    decision = decide(make_pod(), [make_gate()])
    assert decision.reason == "injected"
    assert decision.gate == "tta-api"
    assert decision.pod is not None
    assert decision.warnings == []


def test_no_gate_selects() -> None:
    assert decide(make_pod(labels={"app": "other"}), [make_gate()]).reason == "no-gate"


def test_opt_out_annotation() -> None:
    pod = make_pod(annotations={"healthgate.io/inject": "false"})
    assert decide(pod, [make_gate()]).reason == "opted-out"


def test_system_and_operator_namespaces() -> None:
    for namespace in ("kube-system", "kube-public", "kube-node-lease", "ops"):
        assert decide(make_pod(), [make_gate()], namespace).reason == "system-namespace"


def test_idempotent_on_an_injected_pod() -> None:
    first = decide(make_pod(), [make_gate()])
    assert first.pod is not None
    assert decide(first.pod, [make_gate()]).reason == "already-injected"


def test_two_gates_alphabetically_first_wins_with_a_warning() -> None:
    gates = [make_gate("zeta"), make_gate("alpha")]
    decision = decide(make_pod(), gates)
    assert decision.gate == "alpha"
    assert decision.pod is not None
    assert decision.pod["metadata"]["annotations"]["healthgate.io/gate"] == "alpha"
    assert "zeta" in decision.warnings[0]
    assert "alpha" in decision.warnings[0]


def test_deleting_gates_are_ignored() -> None:
    gate = make_gate()
    gate["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert decide(make_pod(), [gate]).reason == "no-gate"


def test_invalid_spec_admits_unchanged_with_warning() -> None:
    spec = copy.deepcopy(SPEC)
    spec["dependencies"][0]["timeoutSeconds"] = 99
    decision = decide(make_pod(), [make_gate(spec=spec)])
    assert decision.reason == "invalid-spec"
    assert decision.pod is None
    assert "timeoutSeconds" in decision.warnings[0]


def test_port_clash_admits_unchanged_with_warning() -> None:
    pod = make_pod()
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 8086}]
    decision = decide(pod, [make_gate()])
    assert decision.reason == "port-conflict"
    assert decision.pod is None
    assert "8086" in decision.warnings[0]


def test_a_gate_not_reconciled_does_not_inject() -> None:
    """Its ConfigMap may be missing: an injected pod would hang in Init:ContainerCreating."""
    decision = decide(make_pod(), [make_gate(reconciled=False)])
    assert decision.reason == "not-reconciled"
    assert decision.pod is None
    assert "not Reconciled" in decision.warnings[0]
    no_status = make_gate()
    del no_status["status"]
    assert decide(make_pod(), [no_status]).reason == "not-reconciled"


def test_a_gate_naming_an_image_not_allowed_does_not_inject() -> None:
    # A gate from before the installer narrowed --allowed-sidecar-images still exists.
    gate = make_gate()
    gate["spec"]["sidecar"] = {"image": "evil.example/miner:1"}
    decision = decide(make_pod(), [gate])
    assert (decision.reason, decision.gate, decision.pod) == ("image-not-allowed", "tta-api", None)
    assert "'evil.example/miner:1'" in decision.warnings[0]
    gate["spec"]["sidecar"] = {"image": "registry.example/healthgate:2"}  # matches a pattern
    assert decide(make_pod(), [gate]).reason == "injected"
