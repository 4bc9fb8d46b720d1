"""Two active shards split the gates: each gate has exactly one writer; admission is not split.

Runs on a control plane of its own: the session's operator serves every namespace and would
handle these gates too. The operators run with the chart's RBAC for ``shards=2`` (peering
objects ``healthgate-shard-0`` and ``-1``), so the test also proves that the chart grants them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from healthgate_operator import directives, sharding
from tests.env import kube
from tests.env import operator as operator_env
from tests.env.common import wait_for
from tests.integration.operator import objects

pytestmark = pytest.mark.integration
Json = dict[str, Any]
NS = "split"
GATES = [f"gate-{i}" for i in range(8)]
DIRECTIVE_KEY = ed25519.Ed25519PrivateKey.generate()
TCP: Json = {"name": "db", "type": "tcp", "tcp": {"host": "127.0.0.1", "port": 1}}


@pytest.fixture
def own_cluster(env_root: Path) -> Iterator[kube.KubeCluster]:
    cluster = kube.start(env_root / "shards-kube", controllers=False)
    try:
        operator_env.install(cluster)
        rbac = cluster.helm(
            "template", operator_env.RELEASE, str(operator_env.CHART),
            "-n", operator_env.OPERATOR_NS, "--set", "shards=2",
            "--show-only", "templates/rbac.yaml",
        ).stdout  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=rbac)
        cluster.kubectl("create", "namespace", NS)
        # No controller-manager here: the pods' service account is made by hand.
        cluster.kubectl("create", "serviceaccount", "default", "-n", NS)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def shards(
    own_cluster: kube.KubeCluster, env_root: Path
) -> Iterator[list[operator_env.OperatorProcess]]:
    workdir = env_root / "shards-operator"
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = operator_env.service_account_kubeconfig(own_cluster, workdir / "op.kubeconfig")
    key_file = workdir / "directive.pem"  # the chart's directive-key Secret, in every replica
    key_file.write_bytes(
        DIRECTIVE_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    def replica(index: int, priority: int, name: str) -> operator_env.OperatorProcess:
        return operator_env.OperatorProcess(
            cluster=own_cluster,
            kubeconfig=kubeconfig,
            workdir=workdir,  # one certificate, as replicas mount one Secret
            name=name,
            args=[
                "--all-namespaces",
                "--shard-count=2",
                f"--shard-index={index}",
                f"--priority={priority}",
                f"--directive-key={key_file}",
            ],
            status_interval=1,
        )

    # Shard 0 gets a standby (lower priority, same peering object); shard 1 runs alone.
    ops = [
        replica(0, 100, "healthgate-operator-shard-0"),
        replica(0, 1, "healthgate-operator-shard-0-standby"),
        replica(1, 100, "healthgate-operator-shard-1"),
    ]
    try:
        for op in ops:
            op.start()  # the last one started is the one the API server calls
        yield ops
    finally:
        for op in ops:
            op.close()


def gate_of(cluster: kube.KubeCluster, name: str) -> Json:
    proc = cluster.kubectl("get", "hg", name, "-n", NS, "-o", "json")
    return dict(json.loads(proc.stdout))


def handled(log: str, handler: str) -> set[str]:
    """Gates a Kopf log says ``handler`` succeeded for (Kopf prefixes lines with [ns/name])."""
    found = re.findall(rf"\[{NS}/([\w-]+)\] Handler '{handler}' succeeded", log)
    return set(found)


def metric_gates(text: str) -> set[str]:
    """Gates whose series this operator exports: set only after it wrote their status."""
    return set(re.findall(rf'healthgate_gate_status\{{name="([\w-]+)",namespace="{NS}"', text))


def exports(op: operator_env.OperatorProcess, gates: set[str]) -> Callable[[], bool]:
    return lambda: metric_gates(op.metrics()) == gates


def test_two_shards_split_the_gates_and_admission_serves_all(
    own_cluster: kube.KubeCluster, shards: list[operator_env.OperatorProcess]
) -> None:
    """Shard 1's replica (started last) is the one the API server calls for admission."""
    cluster = own_cluster
    owners = {name: sharding.shard_of(NS, name, 2) for name in GATES}
    assert set(owners.values()) == {0, 1}  # the names are chosen so that both shards own some
    for name in GATES:
        gate = objects.gate(name, NS, app=name, dependencies=[TCP])
        cluster.kubectl("apply", "-f", "-", input=json.dumps(gate))

    def reconciled() -> bool:
        return all(gate_of(cluster, n).get("status", {}).get("configMap") for n in GATES)

    wait_for("every gate reconciled", reconciled, timeout=60)
    # A pod of a gate shard 0 owns, admitted by shard 1 (the API server calls the last started).
    target = next(n for n in GATES if owners[n] == 0)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(objects.pod("p", NS, app=target)))
    pod = json.loads(cluster.kubectl("get", "pod", "p", "-n", NS, "-o", "json").stdout)
    assert len(objects.sidecars(pod)) == 1
    wait_for(
        "the owner's status to count the injected pod",
        lambda: gate_of(cluster, target).get("status", {}).get("pods", {}).get("injected") == 1,
    )
    # Each status has one writer: a replica exports a gate's series only after writing its
    # status, and a series never goes away while the gate exists.
    active, standby = [shards[0], shards[2]], shards[1]
    for index, op in enumerate(active):
        mine = {n for n, owner in owners.items() if owner == index}
        wait_for(f"every gate of shard {index} refreshed", exports(op, mine))
        assert handled(op.log(), "reconcile") == mine  # the other shard's gates: never
    # Per shard, active/standby: shard 0's standby shares its peering object and does nothing,
    # while shard 1's replica, alone in its own object, works.
    priorities = {
        index: sorted(p["priority"] for p in (peering(cluster, index).get("status") or {}).values())
        for index in (0, 1)
    }
    assert priorities == {0: [1, 100], 1: [100]}
    assert "Handler 'reconcile'" not in standby.log()
    assert metric_gates(standby.metrics()) == set()
    # Whichever shard signs for a gate, its sidecars trust that one shared key.
    trusted = {tuple(published_keys(cluster, name)) for name in GATES}
    assert trusted == {(directives.raw_public(DIRECTIVE_KEY.public_key()),)}


def published_keys(cluster: kube.KubeCluster, gate: str) -> list[str]:
    proc = cluster.kubectl("get", "configmap", f"{gate}-healthgate", "-n", NS, "-o", "json")
    rendered = yaml.safe_load(json.loads(proc.stdout)["data"]["config.yaml"])
    return list(rendered["directives"]["publicKeys"])


def peering(cluster: kube.KubeCluster, index: int) -> Json:
    proc = cluster.kubectl("get", "clusterkopfpeering", f"healthgate-shard-{index}", "-o", "json")
    return dict(json.loads(proc.stdout))
