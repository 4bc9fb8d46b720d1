"""The whole flow as users run it, in one of two places (``backends.py``).

Local mode (the default, what CI runs): the real control plane and the real node (kubelet,
containerd, CNI, kube-proxy; ``tests/env/realnode``), HealthGate installed by ``helm install
charts/healthgate`` from the image our Dockerfile builds. Pods come from a Deployment through
kube-controller-manager, are scheduled onto the node, get the sidecar from the chart's webhook
(reached through its Service), and the kubelet runs them and executes their probes.

Kind mode (``HEALTHGATE_E2E_KUBECONFIG`` set, by ``make kind-e2e``): the same tests against a
kind cluster with the chart installed; nothing of the local environment is started.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env.common import wait_for
from tests.env.incluster import ChartOperator

from .backends import E2EBackend, E2ERedis, from_env
from .local import LocalBackend


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest, env_root: Path) -> Iterator[E2EBackend]:
    """The cluster under test, prepared: in local mode the session's control plane with the real
    node and the images imported; in kind mode the cluster the variable points at."""

    def local() -> LocalBackend:
        # Requested here, not as arguments: kind mode must not start them.
        return LocalBackend(
            request.getfixturevalue("kube_cluster"),
            request.getfixturevalue("real_node"),
            env_root,
        )

    backend = from_env(os.environ, workdir=env_root / "e2e", local=local)
    try:
        backend.prepare()
        yield backend
    finally:
        backend.close()


# Module scope, serving the module's namespace: the integration suite runs its own operators in
# the same session, and two operators of one namespace would fight over its gates.
@pytest.fixture(scope="module")
def healthgate_operator(e2e: E2EBackend, e2e_namespace: str) -> Iterator[ChartOperator]:
    with e2e.operator(e2e_namespace) as release:
        yield release


@pytest.fixture(scope="module")
def e2e_redis(e2e: E2EBackend, e2e_namespace: str) -> Iterator[E2ERedis]:
    """A Redis of the module's own, which its tests stop and start."""
    with e2e.redis(e2e_namespace) as server:
        yield server


@pytest.fixture(scope="module")
def e2e_namespace(e2e: E2EBackend, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.split(".")[-1].lower())[:30]
    name = f"{slug.strip('-')}-{uuid.uuid4().hex[:5]}"
    e2e.run("create", "namespace", name)
    wait_for(
        "the default service account",
        lambda: e2e.run("get", "sa", "default", "-n", name, check=False),
    )
    yield name
    e2e.run("delete", "namespace", name, "--wait=false", check=False)
