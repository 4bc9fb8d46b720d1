"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and, optionally, controllers.

The binaries are built from the Go module proxy (``build-go.sh``) and cached by version. The API
server runs with RBAC, a client-certificate admin identity (``system:masters``) and service-account
signing keys; a kubeconfig is written for kubectl, helm and the Python clients. Controllers are one
more step each (:func:`KubeCluster.start_controller_manager`, :func:`KubeCluster.start_scheduler`),
so the end-to-end environment can add them without touching the rest.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.env import common, pki, versions

# RFC 2544's benchmarking range (198.18.0.0/15): pods use its lower half (tests/env/realnode).
SERVICE_CIDR = "198.19.0.0/16"
API_HOSTS = (
    "127.0.0.1",
    "localhost",
    "198.19.0.1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

KUBELET_CLIENT = "kube-apiserver-kubelet-client"


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    helm: Path


def ensure_installed() -> Binaries:
    """Build (once, cached) everything the control plane needs; print progress while building."""
    k8s = common.go_component(
        "kubernetes", versions.KUBERNETES, revision=versions.KUBERNETES_REVISION
    )
    etcd = common.go_component("etcd", versions.ETCD)
    helm = common.go_component("helm", versions.HELM, revision=versions.HELM_REVISION)
    return Binaries(
        kube_apiserver=k8s / "kube-apiserver",
        kube_controller_manager=k8s / "kube-controller-manager",
        kube_scheduler=k8s / "kube-scheduler",
        kubectl=k8s / "kubectl",
        etcd=etcd / "etcd",
        helm=helm / "helm",
    )


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {
            "level": "Metadata",
            "verbs": ["patch", "update"],
            "resources": [{"group": "healthgate.io", "resources": ["healthgates/status"]}],
        },
        {"level": "None"},
    ],
}


def _audit_policy(workdir: Path) -> Path:
    path = workdir / "audit-policy.json"
    path.write_text(json.dumps(AUDIT_POLICY))
    return path


@dataclass
class KubeCluster:
    """A running control plane and the files a client needs to reach it."""

    workdir: Path
    bins: Binaries
    server: str
    kubeconfig: Path
    ca: pki.CertificateAuthority
    processes: list[common.Process] = field(default_factory=list)

    @property
    def audit_log(self) -> Path:
        """JSON lines: every patch or update of a HealthGate's status (see AUDIT_POLICY)."""
        return self.workdir / "audit.log"

    def status_writes(self, namespace: str, name: str) -> int:
        """Writes of one HealthGate's status the API server has answered so far."""
        if not self.audit_log.exists():
            return 0
        count = 0
        for line in self.audit_log.read_text().splitlines():
            ref = json.loads(line).get("objectRef") or {}
            if (ref.get("namespace"), ref.get("name")) == (namespace, name):
                count += 1
        return count

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster."""
        proc = subprocess.run(
            [str(self.bins.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def wait_established(self, *crds: str, timeout: float = 60) -> None:
        """``kubectl wait --for=condition=Established`` on ``crds`` (``--all`` when none).

        kubectl fails at once ("status.conditions accessor error: <nil>") when it reads a CRD
        whose status the API server has not written yet, which a large CRD just applied hits
        often enough to fail a test session: that error is retried until ``timeout``.
        """
        targets = list(crds) or ["crd", "--all"]
        deadline = time.monotonic() + timeout
        while True:
            left = max(1, int(deadline - time.monotonic()))
            wait = ("wait", "--for=condition=Established", f"--timeout={left}s", *targets)
            proc = self.kubectl(*wait, check=False)
            if proc.returncode == 0:
                return
            if "accessor error" not in proc.stderr or time.monotonic() > deadline:
                raise AssertionError(f"kubectl {' '.join(wait)} failed:\n{proc.stderr}")
            time.sleep(0.2)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real helm against this cluster, with its state inside the run directory."""
        home = self.workdir / "helm"
        env = {
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(home),  # client-go's discovery cache goes to $HOME/.kube
            "PATH": "/usr/bin:/bin",
        }
        proc = subprocess.run(
            [str(self.bins.helm), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def start_controller_manager(self) -> None:
        """Controllers: service accounts, Deployments to Pods, owner-reference GC."""
        self._start_component(
            "kube-controller-manager",
            self.bins.kube_controller_manager,
            f"--service-account-private-key-file={self.workdir / 'pki' / 'sa.key'}",
            f"--root-ca-file={self.ca.cert}",
            f"--cluster-signing-cert-file={self.ca.cert}",
            f"--cluster-signing-key-file={self.ca.key}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
        )

    def start_scheduler(self) -> None:
        self._start_component("kube-scheduler", self.bins.kube_scheduler)

    def _start_component(self, name: str, binary: Path, *flags: str) -> None:
        """A control-plane component on its own client certificate, loopback, no election."""
        config = self._component_kubeconfig(name)
        proc = common.spawn(
            name,
            [
                binary,
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={common.free_port()}",
                "--leader-elect=false",
                *flags,
            ],
            log_dir=self.workdir,
        )
        self.processes.append(proc)

    def _apiserver(self) -> common.Process:
        return next(p for p in self.processes if p.name == "kube-apiserver")

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver gracefully (SIGTERM), as a control-plane upgrade or crash does."""
        self._apiserver().stop(timeout=60)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again with the same flags, port and etcd; wait until ready."""
        old = self._apiserver()
        proc = common.spawn("kube-apiserver", old.popen.args, log_dir=self.workdir)  # type: ignore[arg-type]
        self.processes[self.processes.index(old)] = proc
        common.wait_until(
            "kube-apiserver after a restart",
            lambda: self.kubectl("get", "--raw=/readyz", check=False).returncode == 0,
            timeout=90,
            proc=proc,
            interval=1.0,
        )

    def _component_kubeconfig(self, component: str) -> Path:
        pair = self.ca.issue(component, f"system:{component}", client=True)
        path = self.workdir / f"{component}.kubeconfig"
        write_kubeconfig(path, server=self.server, ca=self.ca.pem, client=pair, user=component)
        return path

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


def write_kubeconfig(path: Path, *, server: str, ca: bytes, client: pki.KeyPair, user: str) -> None:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "healthgate-local",
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert.read_bytes()),
                    "client-key-data": b64(client.key.read_bytes()),
                },
            }
        ],
        "contexts": [
            {"name": "healthgate-local", "context": {"cluster": "healthgate-local", "user": user}}
        ],
        "current-context": "healthgate-local",
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML: every client reads it
    path.chmod(0o600)


def _start_etcd(bins: Binaries, workdir: Path) -> tuple[common.Process, str]:
    client, peer = common.free_port(), common.free_port()
    url = f"http://127.0.0.1:{client}"
    proc = common.spawn(
        "etcd",
        [
            bins.etcd,
            "--name=default",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",  # test data: durability only costs time here
            "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ],
        log_dir=workdir,
    )
    common.wait_until("etcd", lambda: common.port_open("127.0.0.1", client), timeout=30, proc=proc)
    return proc, url


def _apiserver_ready(server: str, ca: Path, admin: pki.KeyPair) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(admin.cert), str(admin.key))
    try:
        with urllib.request.urlopen(f"{server}/readyz", context=context, timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def start(workdir: Path, *, controllers: bool = True) -> KubeCluster:
    """Start etcd and kube-apiserver (and the controllers unless told not to)."""
    bins = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    ca = pki.CertificateAuthority(workdir / "pki")
    serving = ca.issue("apiserver", "kube-apiserver", hosts=API_HOSTS, server=True)
    admin = ca.issue("admin", "healthgate-admin", orgs=("system:masters",), client=True)
    # The API server's identity towards kubelets, whose API authorizes it by a webhook (RBAC).
    to_kubelet = ca.issue("apiserver-kubelet-client", KUBELET_CLIENT, client=True)
    sa = pki.service_account_keys(workdir / "pki")
    etcd, etcd_url = _start_etcd(bins, workdir)
    port = common.free_port()
    server = f"https://127.0.0.1:{port}"
    cluster = KubeCluster(
        workdir=workdir,
        bins=bins,
        server=server,
        kubeconfig=workdir / "kubeconfig",
        ca=ca,
        processes=[etcd],
    )
    try:
        apiserver = common.spawn(
            "kube-apiserver",
            [
                bins.kube_apiserver,
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.cert}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                # Node: a kubelet (system:node:<name>) reaches only its own pods' objects.
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={to_kubelet.cert}",
                f"--kubelet-client-key={to_kubelet.key}",
                f"--kubelet-certificate-authority={ca.cert}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--endpoint-reconciler-type=none",  # loopback cannot be an Endpoints address
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={workdir / 'pki'}",
                # Writes to HealthGate status, so tests can count them per object.
                f"--audit-policy-file={_audit_policy(workdir)}",
                f"--audit-log-path={cluster.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ],
            log_dir=workdir,
        )
        cluster.processes.append(apiserver)
        common.wait_until(
            "kube-apiserver",
            lambda: _apiserver_ready(server, ca.cert, admin),
            timeout=90,
            proc=apiserver,
        )
        write_kubeconfig(
            cluster.kubeconfig, server=server, ca=ca.pem, client=admin, user="healthgate-admin"
        )
        cluster.kubectl(
            "create",
            "clusterrolebinding",
            "healthgate-apiserver-kubelet",
            "--clusterrole=system:kubelet-api-admin",
            f"--user={KUBELET_CLIENT}",
        )
        if controllers:
            cluster.start_controller_manager()
            cluster.start_scheduler()
    except BaseException:
        cluster.stop()
        raise
    return cluster
