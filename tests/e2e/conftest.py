"""The whole flow as users run it: the real control plane, the local node, the operator.

Pods come from a Deployment through kube-controller-manager, are scheduled by kube-scheduler onto
the local node (``tests/env/node``, the one emulated part), get the sidecar from the operator's
webhook, and run it as a real process whose probes the node executes.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.env import common, kube, redis
from tests.env import operator as operator_env
from tests.env.common import wait_for
from tests.env.node import launcher

Json = dict[str, Any]


class Cluster:
    """kubectl helpers on the session cluster (admin identity)."""

    def __init__(self, cluster: kube.KubeCluster) -> None:
        self.cluster = cluster

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl(*args, input=input, check=check).stdout

    def apply(self, *manifests: Json) -> None:
        self.run("apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    def json(self, *args: str) -> Json:
        loaded: Json = json.loads(self.run(*args, "-o", "json"))
        return loaded

    def pods(self, namespace: str, app: str) -> list[Json]:
        items: list[Json] = self.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="session")
def e2e(kube_cluster: kube.KubeCluster, local_node: launcher.LocalNode) -> Cluster:
    """The cluster with a local node, and the CRDs and RBAC installed from deploy/."""
    operator_env.install(kube_cluster)
    return Cluster(kube_cluster)


# Module scope: the integration suite runs its own operator later in the session, and two
# operators on one cluster would both reconcile every gate and fight over the webhook.
@pytest.fixture(scope="module")
def healthgate_operator(e2e: Cluster, env_root: Path) -> Iterator[operator_env.OperatorProcess]:
    workdir = env_root / "e2e-operator"
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = operator_env.service_account_kubeconfig(
        e2e.cluster, workdir / "operator.kubeconfig"
    )
    op = operator_env.OperatorProcess(
        cluster=e2e.cluster, kubeconfig=kubeconfig, workdir=workdir, status_interval=1
    )
    try:
        op.start()
    except common.EnvMissing as exc:
        op.stop()
        pytest.fail(f"healthgate-operator could not be started: {exc}", pytrace=False)
    yield op
    op.stop()


@pytest.fixture(scope="module")
def e2e_redis(env_root: Path) -> Iterator[redis.RedisServer]:
    """A Redis of the module's own, which its tests stop and start."""
    server = redis.start(Path(tempfile.mkdtemp(dir=env_root, prefix="e2e-redis-")))
    yield server
    if server.process is not None:
        server.thaw()
    server.stop()


@pytest.fixture(scope="module")
def e2e_namespace(e2e: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.split(".")[-1].lower())[:30]
    name = f"{slug.strip('-')}-{uuid.uuid4().hex[:5]}"
    e2e.run("create", "namespace", name)
    wait_for(
        "the default service account",
        lambda: e2e.run("get", "sa", "default", "-n", name, check=False),
    )
    yield name
    e2e.run("delete", "namespace", name, "--wait=false", check=False)
