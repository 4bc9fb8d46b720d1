"""The HealthGate webhook with real users: a gate gives its author no power they did not have.

Users are client certificates signed by the test API server's CA (as ``kubectl`` users are on
many clusters), bound to Roles in the test's namespace; the API server authenticates them, sends
their identity to the operator's validating webhook, and the operator asks the API server
(SubjectAccessReview) what they may do.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.env import kube
from tests.integration.operator import objects
from tests.integration.operator.conftest import SIDECAR_IMAGE, Kube, Operator

pytestmark = pytest.mark.integration
Json = dict[str, Any]
GATES_ONLY = [{"apiGroups": ["healthgate.io"], "resources": ["healthgates"], "verbs": ["*"]}]
PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]
WORKLOADS = [
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["patch"]}
]
User = Callable[[list[Json]], Path]


@pytest.fixture
def user(k8s: Kube, namespace: str, tmp_path: Path) -> User:
    """A real user (client certificate) allowed exactly ``rules`` in ``namespace``."""

    def make(rules: list[Json]) -> Path:
        name = f"tenant-{uuid.uuid4().hex[:6]}"
        pair = k8s.cluster.ca.issue(name, name, orgs=("tenants",), client=True)
        path = tmp_path / f"{name}.kubeconfig"
        kube.write_kubeconfig(
            path, server=k8s.cluster.server, ca=k8s.cluster.ca.pem, client=pair, user=name
        )
        role: Json = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": rules,
        }
        binding: Json = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        }
        k8s.apply(role)
        k8s.apply(binding)
        return path

    return make


def apply_as(k8s: Kube, kubeconfig: Path, manifest: Json) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(k8s.cluster.bins.kubectl), f"--kubeconfig={kubeconfig}", "apply", "-f", "-"],
        input=yaml.safe_dump(manifest),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_user_who_may_only_create_gates_is_refused(
    k8s: Kube, operator: Operator, namespace: str, user: User
) -> None:
    tenant = user(GATES_ONLY)
    proc = apply_as(k8s, tenant, objects.gate("api", namespace))
    assert proc.returncode != 0
    assert 'admission webhook "validate.healthgate.io" denied the request' in proc.stderr
    assert "spec.selector" in proc.stderr
    assert "missing permission: create pods" in proc.stderr
    assert k8s.get("hg", "api", namespace) is None


def test_a_user_who_may_create_pods_may_create_a_gate(
    k8s: Kube, operator: Operator, namespace: str, user: User
) -> None:
    author = user(GATES_ONLY + PODS)
    proc = apply_as(k8s, author, objects.gate("api", namespace))
    assert proc.returncode == 0, proc.stderr
    # ... but not one that restarts workloads they may not patch.
    restarting = objects.gate("web", namespace, rollout={"restartOnChange": True})
    proc = apply_as(k8s, author, restarting)
    assert proc.returncode != 0
    assert "spec.rollout.restartOnChange" in proc.stderr
    assert "missing permission: patch deployments.apps" in proc.stderr


def test_restart_on_change_needs_patch_on_the_workloads(
    k8s: Kube, operator: Operator, namespace: str, user: User
) -> None:
    author = user(GATES_ONLY + PODS + WORKLOADS)
    restarting = objects.gate("web", namespace, rollout={"restartOnChange": True})
    proc = apply_as(k8s, author, restarting)
    assert proc.returncode == 0, proc.stderr


def test_an_edit_is_checked_like_a_create(
    k8s: Kube, operator: Operator, namespace: str, user: User
) -> None:
    """A gate an admin created cannot be repurposed by someone who may only edit gates."""
    k8s.apply(objects.gate("api", namespace))
    tenant = user(GATES_ONLY)
    edited = objects.gate("api", namespace, app="web")
    proc = apply_as(k8s, tenant, edited)
    assert proc.returncode != 0
    assert "missing permission: create pods" in proc.stderr
    gate = k8s.get("hg", "api", namespace)
    assert gate is not None
    assert gate["spec"]["selector"] == {"matchLabels": {"app": "api"}}


def test_sidecar_image_must_be_on_the_installers_allow_list(
    k8s: Kube, operator: Operator, namespace: str
) -> None:
    """Even for an admin: the installer decides which images run in other people's pods."""
    evil = objects.gate("api", namespace, sidecar={"image": "evil.example/implant:1"})
    proc = k8s.apply(evil, check=False)
    assert proc.returncode != 0
    assert "spec.sidecar.image: 'evil.example/implant:1' is not allowed" in proc.stderr
    own = objects.gate("api", namespace, sidecar={"image": SIDECAR_IMAGE})
    assert k8s.apply(own, check=False).returncode == 0
