"""Install HealthGate into the local control plane and run the operator as a real process.

Used by the end-to-end tests and ``make demo``. The operator runs as ``healthgate-operator``
with the least-privilege identity of ``deploy/rbac.yaml`` (a service-account token from
``kubectl create token``), exactly the permissions a cluster install grants it, and the API
server calls its webhook over TLS on loopback. The webhook configurations and admission
policies are the chart's own (``helm template``), as an install creates them: the operator can
only publish its caBundle into them.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from healthgate_operator import certs
from tests.env import common, kube, versions

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OPERATOR_NS = "healthgate-system"
CHART = ROOT / "charts" / "healthgate"
# With this release name the chart's service account and roles are deploy/rbac.yaml's names, so
# the admission policies it renders match the token the operator runs with.
RELEASE = "healthgate-operator"
ADMISSION_TEMPLATES = ("templates/admission.yaml", "templates/admission-policies.yaml")
T = TypeVar("T")
Json = dict[str, Any]
# The operator's entry point, run with ``python -c``; BLOCK_CLIENT_LIBRARY makes
# kubernetes_asyncio unimportable (None in sys.modules), as in the image.
ENTRY = "import sys\nfrom healthgate_operator.cli import main\nsys.exit(main())\n"
BLOCK_CLIENT_LIBRARY = "import sys\nsys.modules['kubernetes_asyncio'] = None\n"


def install(cluster: kube.KubeCluster) -> None:
    """Apply the CRDs and RBAC from ``deploy/`` as a user would, and wait until served."""
    cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
    cluster.wait_established()
    cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "rbac.yaml"))
    common.wait_for(
        "the HealthGate API",
        lambda: cluster.kubectl("get", "healthgates", "-A", check=False).returncode == 0,
        timeout=60,
    )


def admission_objects(cluster: kube.KubeCluster, *, url: str, values: Json) -> list[Json]:
    """The install's webhook configurations and admission policies, rendered by the chart.

    One change: the webhooks call ``url`` (the operator on loopback) instead of the Service,
    which nothing routes here. ``values`` are chart values (``webhook.failurePolicy``, ...).
    """
    args = ["template", RELEASE, str(CHART), "-n", OPERATOR_NS]
    args += ["--kube-version", versions.KUBERNETES.lstrip("v")]
    for template in ADMISSION_TEMPLATES:
        args += ["--show-only", template]
    for key, value in values.items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    objects = [doc for doc in yaml.safe_load_all(cluster.helm(*args).stdout) if doc]
    for obj in objects:
        for hook in obj.get("webhooks", []):
            path = hook["clientConfig"].pop("service")["path"]
            hook["clientConfig"]["url"] = url.rstrip("/") + path
    return objects


def install_admission(cluster: kube.KubeCluster, *, url: str, values: Json) -> None:
    """Apply :func:`admission_objects`; an applied caBundle survives (apply leaves it alone)."""
    items = admission_objects(cluster, url=url, values=values)
    manifest = {"apiVersion": "v1", "kind": "List", "items": items}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def service_account_kubeconfig(cluster: kube.KubeCluster, path: Path) -> Path:
    """A kubeconfig holding the operator service account's token (no admin rights)."""
    token = cluster.kubectl(
        "create", "token", "healthgate-operator", "-n", OPERATOR_NS, "--duration=4h"
    ).stdout.strip()
    admin = json.loads(cluster.kubeconfig.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "healthgate-operator", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "healthgate-operator"}}],
        "current-context": "c",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


@dataclass
class OperatorProcess:
    """A ``healthgate-operator`` process; restartable on the same ports.

    ``args`` are the scope and peering flags (all namespaces, standalone by default); the
    ports, certificate and identity flags are added here.
    """

    cluster: kube.KubeCluster
    kubeconfig: Path
    workdir: Path
    args: list[str] = field(default_factory=lambda: ["--all-namespaces", "--standalone"])
    admission_values: Json = field(default_factory=dict)
    """Chart values of the installed webhook configurations (the same for every replica)."""
    status_interval: float = 2.0
    sidecar_image: str = "ghcr.io/healthgate/healthgate:0.1.0"
    name: str = "healthgate-operator"
    webhook_port: int = field(default_factory=common.free_port)
    metrics_port: int = field(default_factory=common.free_port)
    health_port: int = field(default_factory=common.free_port)
    process: common.Process | None = None
    starts: int = 0
    client_library: bool = False
    """False: kubernetes_asyncio is blocked from import, as in the image, which lacks the
    optional extra; so the tests log in the way a cluster install does."""
    prelude: str = ""
    """Python run before the entry point (benchmarks: tracemalloc)."""

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.popen.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def webhook_url(self) -> str:
        """Where the API server calls this operator: ``--webhook-url`` if given, else loopback."""
        given = [a.split("=", 1)[1] for a in self.args if a.startswith("--webhook-url=")]
        return given[-1] if given else f"https://127.0.0.1:{self.webhook_port}"

    def argv(self) -> list[str | Path]:
        code = ("" if self.client_library else BLOCK_CLIENT_LIBRARY) + self.prelude + ENTRY
        return [
            sys.executable,
            "-c",
            code,
            "--webhook-host=127.0.0.1",
            f"--webhook-port={self.webhook_port}",
            "--listen-host=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            f"--health-port={self.health_port}",
            f"--status-interval={self.status_interval}",
            "--health-timeout=0.5",
            f"--operator-namespace={OPERATOR_NS}",
            f"--sidecar-image={self.sidecar_image}",
            f"--webhook-cert={self.workdir / 'tls.crt'}",
            f"--webhook-key={self.workdir / 'tls.key'}",
            *self.args,
        ]

    def start(self) -> None:
        """Install the webhook configurations (as the install does), start, and wait until the
        operator has published its caBundle into them (it serves then)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        install_admission(self.cluster, url=self.webhook_url, values=self.admission_values)
        if not (self.workdir / "tls.crt").exists():
            # Files, as a production install mounts from a Secret: every replica serves the
            # same certificate, so replicas agree on the webhook configuration's caBundle.
            certs.write_self_signed(self.workdir, ["127.0.0.1"])
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {"KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.process = common.spawn(self.name, self.argv(), log_dir=self.workdir, env=env)
        self.starts += 1
        common.wait_until(
            f"{self.name}'s webhook configuration",
            lambda: "Webhook configuration applied" in self.log(offset),
            timeout=60,
            proc=self.process,
        )

    def log(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def http(self, port: int, path: str, *, timeout: float = 5) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return str(resp.read().decode())

    def metrics(self, *, timeout: float = 5) -> str:
        return self.http(self.metrics_port, "/metrics", timeout=timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)
            self.process = None

    def close(self) -> None:
        """Stop for good, and take the webhook configurations along (as uninstalling does):
        the HealthGate webhook fails closed, so gates of later tests would wait on nobody."""
        self.stop()
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            self.cluster.kubectl("delete", kind, "healthgate.io", "--ignore-not-found")
