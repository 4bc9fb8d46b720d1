"""Fixtures for the tests of the local environment itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.env import kube
from tests.env.common import wait_for


@pytest.fixture
def namespace(kube_cluster: kube.KubeCluster) -> Iterator[str]:
    """A namespace of its own, ready for pods (its default service account exists)."""
    name = f"env-{uuid.uuid4().hex[:6]}"
    kube_cluster.kubectl("create", "namespace", name)
    wait_for(
        "the default service account",
        lambda: (
            kube_cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0
        ),
    )
    yield name
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
