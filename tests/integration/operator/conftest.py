"""Fixtures for the operator against the real control plane of ``kube_cluster``.

The operator runs as a real ``healthgate-operator`` subprocess with the least-privilege identity
of ``deploy/rbac.yaml`` (a service account token from ``kubectl create token``) under the
chart's admission policies, so every test also proves that RBAC and the policies suffice.
The API server calls its webhook over TLS on loopback.
Sidecars run as real ``healthgate-sidecar`` processes on distinct loopback addresses standing in
for pod IPs (the pods have no kubelet; tests patch ``status.podIP`` to those addresses).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.env import common, kube
from tests.env import operator as operator_env
from tests.env.common import wait_for

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
OPERATOR_NS = "healthgate-system"
SIDECAR_IMAGE = "registry.invalid/healthgate:test"
SIDECAR_PORT = 8087
Json = dict[str, Any]
SIDECAR_RESOURCES: Json = {"requests": {"cpu": "5m", "memory": "40Mi"}}
OPT_OUT_LABEL = "healthgate-tests/no-inject"
NAMESPACE_SELECTOR = {"matchExpressions": [{"key": OPT_OUT_LABEL, "operator": "DoesNotExist"}]}
# Every operator of these tests (replicas of one install agree on their flags): non-default
# sidecar defaults, so the tests can tell the flags reached the pods.
OPERATOR_ARGS = [
    f"--sidecar-port={SIDECAR_PORT}",
    f"--sidecar-resources={json.dumps(SIDECAR_RESOURCES)}",
]
# The installed webhook configurations' chart values: a namespace opt-out label, so the tests
# can tell the value reached the API server.
ADMISSION_VALUES: Json = {"webhook.namespaceSelector": NAMESPACE_SELECTOR}
T = TypeVar("T")

pytestmark = pytest.mark.integration


@dataclass
class Kube:
    """kubectl helpers on top of the session cluster (admin identity)."""

    cluster: kube.KubeCluster

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl(*args, input=input, check=check).stdout

    def apply(
        self, manifest: Json | str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.cluster.kubectl("apply", "-f", "-", input=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> Json | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        proc = self.cluster.kubectl(*args, check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def fetch(self, kind: str, name: str, namespace: str | None = None) -> Json:
        """:meth:`get` for an object the test expects to exist: fails naming it when absent."""
        found = self.get(kind, name, namespace)
        assert found is not None, f"{kind} {namespace or ''}/{name} does not exist"
        return found

    def create(self, manifest: Json) -> Json:
        """Apply ``manifest``; the object as stored, after admission (e.g. an injected pod)."""
        self.apply(manifest)
        meta = manifest["metadata"]
        return self.fetch(manifest["kind"], meta["name"], meta.get("namespace"))

    def items(self, kind: str, namespace: str, *extra: str) -> list[Json]:
        out = self.run("get", kind, "-n", namespace, "-o", "json", *extra)
        items: list[Json] = json.loads(out)["items"]
        return items

    def patch_status(self, kind: str, name: str, namespace: str, status: Json) -> None:
        self.run(
            "patch", kind, name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip


Operator = operator_env.OperatorProcess


@pytest.fixture(scope="session")
def k8s(kube_cluster: kube.KubeCluster) -> Kube:
    """The cluster with the CRDs and the operator's RBAC installed (as a user would)."""
    k = Kube(kube_cluster)
    k.run("apply", "-f", str(ROOT / "deploy" / "crds"))
    kube_cluster.wait_established()
    k.run("apply", "-f", str(ROOT / "deploy" / "rbac.yaml"))
    # The installer's opt-in for spec.rollout.restartOnChange (tests that need it absent unbind it).
    k.run("apply", "-f", str(ROOT / "deploy" / "restart-workloads" / "rbac.yaml"))
    # Established comes before the OpenAPI document that `kubectl explain` reads is published.
    wait_for(
        "the published OpenAPI schema",
        lambda: kube_cluster.kubectl("explain", "healthgate.spec", check=False).returncode == 0,
        timeout=60,
    )
    return k


@pytest.fixture(scope="session")
def operator(k8s: Kube, env_root: Path) -> Iterator[Operator]:
    workdir = env_root / "operator"
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = operator_env.service_account_kubeconfig(
        k8s.cluster, workdir / "operator.kubeconfig"
    )
    op = Operator(
        cluster=k8s.cluster,
        kubeconfig=kubeconfig,
        workdir=workdir,
        args=["--priority=100", *OPERATOR_ARGS],
        admission_values=ADMISSION_VALUES,
        status_interval=1,
        sidecar_image=SIDECAR_IMAGE,
    )
    op.start()
    yield op
    op.close()
    if os.environ.get("HEALTHGATE_KEEP_ENV") == "1":
        print(f"operator log: {op.log_path}")


@pytest.fixture
def namespace(k8s: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test (names from the test, for readable logs)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"{slug}-{uuid.uuid4().hex[:5]}".strip("-")
    k8s.run("create", "namespace", name)
    # Pods are refused until the controller-manager has made the default service account.
    wait_for("the default service account", lambda: k8s.get("serviceaccount", "default", name))
    yield name
    k8s.run("delete", "namespace", name, "--wait=false", check=False)


@dataclass
class Sidecar:
    process: common.Process
    host: str
    port: int


@pytest.fixture
def make_sidecar(env_root: Path) -> Iterator[Callable[..., Sidecar]]:
    """Start real ``healthgate-sidecar serve`` processes on loopback addresses."""
    started: list[Sidecar] = []

    def make(config_text: str, host: str, port: int, env: dict[str, str]) -> Sidecar:
        workdir = env_root / f"sidecar-{host}-{port}-{uuid.uuid4().hex[:4]}"
        workdir.mkdir(parents=True)
        config = workdir / "config.yaml"
        config.write_text(config_text)
        argv: list[str | Path] = [BIN / "healthgate-sidecar", "serve", "--config", config]
        argv += ["--host", host, "--port", str(port)]
        process = common.spawn("sidecar", argv, log_dir=workdir, env=env)
        common.wait_until(
            "healthgate-sidecar", lambda: common.port_open(host, port), timeout=20, proc=process
        )
        sidecar = Sidecar(process=process, host=host, port=port)
        started.append(sidecar)
        return sidecar

    yield make
    for sidecar in started:
        sidecar.process.stop()
