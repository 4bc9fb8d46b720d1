"""Fixtures for the local-environment integration tests: the local node on the real cluster.

``local_node`` lives here for now; the end-to-end tests will want it too, so it belongs next to
``kube_cluster`` in ``tests/conftest.py`` eventually (it only needs ``kube_cluster`` and
``env_root``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env import common, kube
from tests.env.node import launcher


@pytest.fixture(scope="session")
def local_node(kube_cluster: kube.KubeCluster, env_root: Path) -> Iterator[launcher.LocalNode]:
    """One emulated node (``tests/env/node``) serving every pod the scheduler binds to it.

    The back-off is 2 s instead of the kubelet's 10 s so tests that crash a container twice
    do not wait; everything else is as the kubelet does it.
    """
    node = launcher.LocalNode(kube_cluster, name="local-node", workdir=env_root / "node", backoff=2)
    try:
        node.start()
    except common.EnvMissing as exc:
        node.stop()
        pytest.fail(f"the local node could not be started: {exc}", pytrace=False)
    yield node
    node.stop()
