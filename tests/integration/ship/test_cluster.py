"""The chart, the kustomize base and the examples against the real API server (kube_cluster).

Objects of the Prometheus Operator and cert-manager (FOREIGN_KINDS) are not served by this API
server, so they are checked client-side only (rendering, promtool); everything else is dry-run
server-side, which runs defaulting, validation and admission (Pod Security included).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from healthgate_operator import config
from tests.env import kube
from tests.integration.ship.conftest import (
    CHART,
    CI_VALUES,
    DEPLOY,
    FOREIGN_KINDS,
    ROOT,
    Json,
    api_versions_for,
    as_yaml,
    by_kind,
    run,
)

pytestmark = pytest.mark.integration
Render = Callable[..., list[Json]]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
POLICIES = ("configmaps", "workloads", "webhooks")


def _fresh_namespace(cluster: kube.KubeCluster, labels: dict[str, str] | None = None) -> str:
    name = f"ship-{uuid.uuid4().hex[:8]}"
    namespace: Json = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if labels:
        namespace["metadata"]["labels"] = labels
    cluster.kubectl("apply", "-f", "-", input=json.dumps(namespace))
    # Pods need their service account to exist even in a dry-run; do not wait for the controller.
    cluster.kubectl("create", "serviceaccount", "default", "-n", name, check=False)
    return name


@pytest.fixture(scope="module")
def cluster(kube_cluster: kube.KubeCluster) -> kube.KubeCluster:
    """The control plane with the chart's CRDs installed (they equal deploy/crds)."""
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    kube_cluster.wait_established(
        "crd/healthgates.healthgate.io", "crd/clusterkopfpeerings.kopf.dev"
    )
    return kube_cluster


@pytest.fixture
def namespace(cluster: kube.KubeCluster) -> Iterator[str]:
    name = _fresh_namespace(cluster)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def restricted_namespace(cluster: kube.KubeCluster) -> Iterator[str]:
    name = _fresh_namespace(cluster, {"pod-security.kubernetes.io/enforce": "restricted"})
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def dry_run(cluster: kube.KubeCluster, objects: list[Json], namespace: str | None = None) -> str:
    args = ["apply", "--dry-run=server", "-f", "-"]
    if namespace:
        args += ["-n", namespace]
    proc = cluster.kubectl(*args, input=as_yaml(objects), check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def pod_of(deployment: Json, namespace: str) -> Json:
    """The Deployment's pod template as a Pod: Pod Security enforces on pods, not Deployments."""
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pod-security-probe", "namespace": namespace, **template["metadata"]},
        "spec": template["spec"],
    }


@pytest.mark.parametrize(
    "values", [None, *CI_VALUES], ids=["defaults", *(p.stem for p in CI_VALUES)]
)
def test_chart_objects_pass_server_side_dry_run(
    cluster: kube.KubeCluster, render: Render, namespace: str, values: Path | None
) -> None:
    objects = render(values, api_versions=api_versions_for(values), namespace=namespace)
    served = [o for o in objects if o["kind"] not in FOREIGN_KINDS]
    # The helm test pod's service account must exist for real (a dry-run creates nothing).
    cluster.kubectl("apply", "-f", "-", input=as_yaml(by_kind(objects, "ServiceAccount")))
    out = dry_run(cluster, served)
    assert out.count("(server dry run)") == len(served), out
    assert "Warning" not in out, out


@pytest.mark.parametrize(
    "values", [None, *CI_VALUES], ids=["defaults", *(p.stem for p in CI_VALUES)]
)
def test_chart_pods_pass_pod_security_restricted(
    cluster: kube.KubeCluster, render: Render, restricted_namespace: str, values: Path | None
) -> None:
    objects = render(values, namespace=restricted_namespace)
    # The pods' service account must exist for real (a dry-run creates nothing).
    cluster.kubectl("apply", "-f", "-", input=as_yaml(by_kind(objects, "ServiceAccount")))
    pods = [pod_of(d, restricted_namespace) for d in by_kind(objects, "Deployment")]
    pods += by_kind(objects, "Pod")  # the helm test pod
    out = dry_run(cluster, by_kind(objects, "Deployment") + pods)
    assert "would violate PodSecurity" not in out, out


def test_restricted_namespace_really_enforces(
    cluster: kube.KubeCluster, restricted_namespace: str
) -> None:
    """Control: a pod running as root is refused there, so the test above can fail."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": restricted_namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    proc = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
    )
    assert proc.returncode != 0
    assert "violates PodSecurity" in proc.stderr


def test_helm_install_serves_the_crd(
    cluster: kube.KubeCluster, namespace: str, tmp_path: Path
) -> None:
    def helm(*args: str) -> str:
        proc = run([cluster.bins.helm, *args], home=tmp_path, kubeconfig=cluster.kubeconfig)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    # A node selector no node has: the operator pods stay Pending, so this install cannot start
    # a second operator next to the ones other tests run.
    release = f"hg-{namespace[-8:]}"
    hooks = f"{release}.healthgate.io"  # apart from the session operator's healthgate.io
    helm(
        "install", release, str(CHART), "-n", namespace,
        "--set", "nodeSelector.healthgate\\.io/ship-test=never",
        "--set", f"webhook.configurationName={hooks}",
        # Its webhooks serve only a namespace that never exists: the API server must never call
        # the release's Service (no operator runs behind it, and its address leads off-machine).
        "--set", "watchNamespaces={healthgate-no-such-namespace}",
    )  # fmt: skip
    shipped = [
        ("mutatingwebhookconfiguration", hooks),
        ("validatingwebhookconfiguration", hooks),
        *(("validatingadmissionpolicy", f"{release}-healthgate-{p}") for p in POLICIES),
        *(("validatingadmissionpolicybinding", f"{release}-healthgate-{p}") for p in POLICIES),
    ]
    try:
        status = json.loads(helm("status", release, "-n", namespace, "-o", "json"))
        assert status["info"]["status"] == "deployed"
        assert (
            f'ValidatingWebhookConfiguration "{hooks}" (failurePolicy Fail)'
            in (status["info"]["notes"])
        )
        for kind, name in shipped:
            assert cluster.kubectl("get", kind, name, check=False).returncode == 0, (kind, name)
        crd = json.loads(
            cluster.kubectl("get", "crd", "healthgates.healthgate.io", "-o", "json").stdout
        )
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert crd["spec"]["versions"][0]["served"] is True
        listed = cluster.kubectl("get", "healthgates", "-n", namespace, "-o", "json")
        assert json.loads(listed.stdout)["items"] == []
        deployment = cluster.kubectl(
            "get", "deployment", f"{release}-healthgate", "-n", namespace, "-o", "json"
        )
        assert json.loads(deployment.stdout)["spec"]["replicas"] == 2
        helm("uninstall", release, "-n", namespace)
        for kind, name in shipped:  # uninstall takes what the install shipped
            assert cluster.kubectl("get", kind, name, check=False).returncode != 0, (kind, name)
    finally:
        run([cluster.bins.helm, "uninstall", release, "-n", namespace, "--ignore-not-found"],
            home=tmp_path, kubeconfig=cluster.kubeconfig)  # fmt: skip


def _kustomize(cluster: kube.KubeCluster, path: Path) -> list[Json]:
    proc = cluster.kubectl("kustomize", str(path))
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def test_kustomize_base_renders_and_dry_runs(cluster: kube.KubeCluster) -> None:
    objects = _kustomize(cluster, DEPLOY)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("CustomResourceDefinition") == 3
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service"} <= set(
        kinds
    )
    (deployment,) = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    parsed = config.parse(container["args"], environ={})  # the operator's real flag parser
    assert parsed.webhook.cert is not None
    assert parsed.endpoints.health_port == 8081
    # Namespaced dry-runs need the namespace, and pods their service account, for real; both
    # are the same objects as deploy/rbac.yaml's (which other tests apply as well).
    real = by_kind(objects, "Namespace") + by_kind(objects, "ServiceAccount")
    cluster.kubectl("apply", "-f", "-", input=as_yaml(real))
    out = dry_run(cluster, objects)
    assert out.count("(server dry run)") == len(objects), out
    pod = pod_of(deployment, "healthgate-system")
    out = dry_run(cluster, [pod])
    assert "would violate PodSecurity" not in out


def test_kustomize_cert_manager_component_renders(
    cluster: kube.KubeCluster, tmp_path: Path
) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(DEPLOY, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [base], "components": [f"{base}/cert-manager"]})
    )
    objects = _kustomize(cluster, overlay)
    (certificate,) = by_kind(objects, "Certificate")
    assert certificate["spec"]["secretName"] == "healthgate-webhook-tls"
    (deployment,) = by_kind(objects, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook-tls", "secret": {"secretName": "healthgate-webhook-tls"}} in volumes


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_accepted_by_the_api_server(
    cluster: kube.KubeCluster, namespace: str, example: Path
) -> None:
    assert (example / "README.md").is_file()
    objects: list[Json] = []
    for manifest in sorted(example.glob("*.yaml")):
        objects += [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    assert objects
    out = dry_run(cluster, objects, namespace)
    assert out.count("(server dry run)") == len(objects), out
    # Gates and Secrets are created for real (the API server stores and serves them); workloads
    # only dry-run, so no example pod lands on a node another test runs.
    stored = [o for o in objects if o["kind"] in ("HealthGate", "Secret")]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=as_yaml(stored))
    gates = json.loads(cluster.kubectl("get", "healthgates", "-n", namespace, "-o", "json").stdout)
    expected = {o["metadata"]["name"] for o in objects if o["kind"] == "HealthGate"}
    assert expected
    assert {g["metadata"]["name"] for g in gates["items"]} == expected


def test_all_examples_are_present() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"coding-assistant", "workflow-builder", "customer-chatbot"} <= names
