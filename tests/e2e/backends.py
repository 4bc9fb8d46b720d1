"""Where the end-to-end suite runs: the local environment, or a kind cluster with the chart.

``HEALTHGATE_E2E_KUBECONFIG`` chooses (:func:`from_env`). Unset, the suite runs against the local
environment (:class:`LocalBackend`): the session's own API server and local node, an operator
process and a loopback Redis, as CI runs it here. Set (``make kind-e2e`` sets it), the suite runs
against that cluster (:class:`KindBackend`): the chart-installed operator, Redis deployed in the
test namespace, sidecars read through the API server's pod proxy.

Both are a :class:`Cluster` (kubectl with an admin kubeconfig) plus what differs between them;
the tests do not ask which one they got, except for the few checks that only mean something
locally (:attr:`E2EBackend.loopback_pods`, :meth:`E2EBackend.local_only`).

Kind mode cannot run on the development machine (no Docker engine): CI runs local mode, and
``tests/unit/ship/test_kind_script.py`` checks kind mode's selection and what it deploys.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NoReturn, Protocol

import pytest
import yaml

from healthgate_operator import constants
from tests.env import common, kube, redis
from tests.env import operator as operator_env
from tests.env.node import launcher

Json = dict[str, Any]

KUBECONFIG_VAR = "HEALTHGATE_E2E_KUBECONFIG"
SIDECAR_IMAGE_VAR = "HEALTHGATE_E2E_SIDECAR_IMAGE"
REDIS_IMAGE_VAR = "HEALTHGATE_E2E_REDIS_IMAGE"
DEFAULT_REDIS_IMAGE = "redis:7-alpine"
CRD = f"{constants.PLURAL}.{constants.GROUP}"


class Cluster:
    """kubectl helpers on the cluster under test (admin identity)."""

    def __init__(self, kubectl: str, kubeconfig: Path) -> None:
        self.kubectl_path = kubectl
        self.kubeconfig = kubeconfig

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.kubectl(*args, input=input, check=check).stdout

    def apply(self, *manifests: Json) -> None:
        self.run("apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    def json(self, *args: str) -> Json:
        loaded: Json = json.loads(self.run(*args, "-o", "json"))
        return loaded

    def pods(self, namespace: str, app: str) -> list[Json]:
        items: list[Json] = self.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]


class E2ERedis(Protocol):
    """A Redis the sidecars can reach at ``url``, which a test may stop and start again."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...


def read_health(url: str, timeout: float) -> Json:
    """A sidecar's /health JSON; a 503 (not ready) still carries it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http only
            body: Json = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        body = json.loads(err.read())
    return body


def sidecar_port(pod: Json) -> str:
    return str(pod["metadata"]["annotations"]["prometheus.io/port"])


def pod_proxy_path(pod: Json) -> str:
    """The API server's proxy path to a pod's sidecar /health."""
    meta = pod["metadata"]
    return (
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}:{sidecar_port(pod)}"
        "/proxy/health"
    )


class E2EBackend(Cluster, ABC):
    """The cluster under test and the few things that depend on where it runs."""

    #: The app container's image; its command is ``sleep infinity`` in both modes.
    app_image: str
    #: Pods get loopback IPs (127.0.x.y): true of the local node only.
    loopback_pods: bool
    #: Seconds to wait for a sidecar's /health answer.
    health_timeout: float = 2.0
    #: ``spec.sidecar`` of the suite's gates: where the backend needs more than the defaults.
    gate_sidecar: ClassVar[Json] = {}

    def prepare(self) -> None:
        """Once per session, before any test: install or check what the suite relies on."""

    def close(self) -> None:
        """At the end of the session: stop what :meth:`prepare` or the tests started."""

    @abstractmethod
    def operator(self) -> contextlib.AbstractContextManager[None]:
        """A running operator for one test module (started here, or checked to be there)."""

    @abstractmethod
    def redis(self, namespace: str) -> contextlib.AbstractContextManager[E2ERedis]:
        """A Redis of a test module's own, reachable from the pods of ``namespace``."""

    @abstractmethod
    def sidecar_url(self, pod: Json) -> str:
        """Where the test process reads ``pod``'s sidecar /health."""

    def sidecar_health(self, pod: Json) -> Json:
        return read_health(self.sidecar_url(pod), self.health_timeout)

    @abstractmethod
    def local_only(self, reason: str) -> LocalBackend:
        """This backend if it is the local one; otherwise skip the test, saying why."""


class LocalBackend(E2EBackend):
    """The local environment: the session's API server and local node, an operator process."""

    app_image = "example.invalid/story-api:1"  # never pulled: the local node only reports it
    loopback_pods = True
    # The local node runs containers as host processes and rewrites only the command line and
    # env to its volume directories; a projected Secret volume's path inside the rendered
    # config would point at nothing. Secrets as env vars keep the flow real there; rotation
    # through files is tested with the sidecar process (tests/integration/sidecar).
    gate_sidecar: ClassVar[Json] = {"secretsAs": "env"}

    def __init__(
        self, kube_cluster: kube.KubeCluster, node: launcher.LocalNode, env_root: Path
    ) -> None:
        super().__init__(str(kube_cluster.bins.kubectl), kube_cluster.kubeconfig)
        self.kube_cluster = kube_cluster
        self.node = node
        self.env_root = env_root

    def prepare(self) -> None:
        """The CRDs and RBAC from deploy/, as a user installs them."""
        operator_env.install(self.kube_cluster)

    @contextlib.contextmanager
    def operator(self) -> Iterator[None]:
        workdir = self.env_root / "e2e-operator"
        workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = operator_env.service_account_kubeconfig(
            self.kube_cluster, workdir / "operator.kubeconfig"
        )
        op = operator_env.OperatorProcess(
            cluster=self.kube_cluster, kubeconfig=kubeconfig, workdir=workdir, status_interval=1
        )
        try:
            op.start()
        except common.EnvMissing as exc:
            op.stop()
            pytest.fail(f"healthgate-operator could not be started: {exc}", pytrace=False)
        try:
            yield
        finally:
            op.close()

    @contextlib.contextmanager
    def redis(self, namespace: str) -> Iterator[E2ERedis]:
        server = redis.start(Path(tempfile.mkdtemp(dir=self.env_root, prefix="e2e-redis-")))
        try:
            yield server
        finally:
            if server.process is not None:
                server.thaw()
            server.stop()

    def sidecar_url(self, pod: Json) -> str:
        return f"http://{pod['status']['podIP']}:{sidecar_port(pod)}/health"

    def local_only(self, reason: str) -> LocalBackend:
        return self


@dataclass(frozen=True)
class KindSettings:
    """What kind mode reads from the environment (``hack/kind-e2e.sh`` sets the first two)."""

    kubeconfig: Path
    sidecar_image: str
    redis_image: str = DEFAULT_REDIS_IMAGE
    kubectl: str = "kubectl"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> KindSettings | None:
        """None unless ``HEALTHGATE_E2E_KUBECONFIG`` is set (and not empty)."""
        if not kind_mode(environ):
            return None
        image = environ.get(SIDECAR_IMAGE_VAR, "")
        if not image:
            pytest.fail(
                f"kind mode ({KUBECONFIG_VAR} is set) needs {SIDECAR_IMAGE_VAR}: the HealthGate "
                "image loaded into the cluster, which the app containers run "
                "(hack/kind-e2e.sh sets both)",
                pytrace=False,
            )
        return cls(
            kubeconfig=Path(environ[KUBECONFIG_VAR]),
            sidecar_image=image,
            redis_image=environ.get(REDIS_IMAGE_VAR) or DEFAULT_REDIS_IMAGE,
        )


class KindRedis:
    """Redis as a Deployment and Service ``redis`` in a test namespace, with a password.

    Stopping scales it to 0 and waits until its pod is gone; starting scales it back to 1 and
    waits until it is ready.
    """

    name = "redis"
    port = 6379

    def __init__(self, cluster: Cluster, namespace: str, image: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.image = image
        self.password = redis.PASSWORD

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.name}.{self.namespace}.svc:{self.port}/0"

    def manifests(self) -> list[Json]:
        labels = {"app": self.name}
        meta = {"name": self.name, "namespace": self.namespace, "labels": labels}
        container = {
            "name": "redis",
            "image": self.image,
            "args": ["redis-server", "--requirepass", self.password, "--save", ""],
            "ports": [{"name": "redis", "containerPort": self.port}],
            "readinessProbe": {"tcpSocket": {"port": self.port}, "periodSeconds": 1},
        }
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "redis", "port": self.port}]},
        }
        return [deployment, service]

    def deploy(self) -> None:
        self.cluster.apply(*self.manifests())
        self._wait_ready()

    def stop(self) -> None:
        self._scale(0)
        common.wait_for(
            "the Redis pod gone",
            lambda: (
                self.cluster.run(
                    "get", "pods", "-n", self.namespace, "-l", f"app={self.name}", "-o", "name"
                )
                == ""
            ),
            timeout=120,
        )

    def start(self) -> None:
        self._scale(1)
        self._wait_ready()

    def _scale(self, replicas: int) -> None:
        self.cluster.run(
            "scale", f"deployment/{self.name}", "-n", self.namespace, f"--replicas={replicas}"
        )

    def _wait_ready(self) -> None:
        # The first start pulls the image into the kind node.
        self.cluster.kubectl(
            "rollout",
            "status",
            f"deployment/{self.name}",
            "-n",
            self.namespace,
            "--timeout=240s",
            timeout=250,
        )


class KindBackend(E2EBackend):
    """A cluster with the chart installed (``make kind-e2e``): nothing is started locally but
    ``kubectl proxy``, through which the test process reaches the pods."""

    loopback_pods = False
    health_timeout = 5.0  # through kubectl proxy and the API server

    def __init__(self, settings: KindSettings, workdir: Path) -> None:
        super().__init__(settings.kubectl, settings.kubeconfig)
        self.settings = settings
        self.app_image = settings.sidecar_image  # it has coreutils' sleep, and is in the nodes
        self.workdir = workdir
        self._proxy: common.Process | None = None
        self._proxy_url = ""

    def _fail(self, message: str) -> NoReturn:
        pytest.fail(f"kind mode ({KUBECONFIG_VAR}={self.kubeconfig}): {message}", pytrace=False)

    def prepare(self) -> None:
        if shutil.which(self.kubectl_path) is None:
            self._fail(f"{self.kubectl_path} is not on PATH")
        if not self.kubeconfig.is_file():
            self._fail("the kubeconfig file does not exist")
        reachable = self.kubectl("get", "--raw", "/readyz", check=False, timeout=30)
        if reachable.returncode != 0:
            self._fail(f"the cluster is not reachable:\n{reachable.stderr}")

    @contextlib.contextmanager
    def operator(self) -> Iterator[None]:
        """The chart's operator: its CRD established and its webhook configuration applied."""
        established = self.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD}", check=False
        )
        if established.returncode != 0:
            self._fail(
                f"the CRD {CRD} is not established; install the chart first "
                f"(helm upgrade --install healthgate charts/healthgate, as hack/kind-e2e.sh "
                f"does):\n{established.stderr}"
            )
        name = constants.WEBHOOK_CONFIGURATION

        def webhook_applied() -> bool:
            """The chart ships the configuration; the running operator publishes its CA."""
            found = self.kubectl(
                "get", "mutatingwebhookconfiguration", name, "-o", "json", check=False
            )
            if found.returncode != 0:
                return False
            hooks = json.loads(found.stdout).get("webhooks") or []
            return bool(hooks) and all(h["clientConfig"].get("caBundle") for h in hooks)

        try:
            common.wait_for("the webhook configuration", webhook_applied, timeout=60)
        except AssertionError:
            self._fail(
                f"no MutatingWebhookConfiguration {name} with a caBundle: "
                "the chart-installed operator publishes its CA once it runs; check "
                "`kubectl -n healthgate-system get pods` and their logs"
            )
        yield

    @contextlib.contextmanager
    def redis(self, namespace: str) -> Iterator[E2ERedis]:
        server = KindRedis(self, namespace, self.settings.redis_image)
        server.deploy()
        yield server  # deleted with the namespace

    def proxy_url(self) -> str:
        """``kubectl proxy``'s address, started on first use.

        Not ``kubectl get --raw``: client-go drops the body of a non-2xx answer that is not
        text, and a sidecar that is not ready answers /health with 503 and its JSON.
        """
        if self._proxy is None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._proxy = proc = common.spawn(
                "kubectl-proxy",
                [
                    self.kubectl_path,
                    f"--kubeconfig={self.kubeconfig}",
                    "proxy",
                    "--address=127.0.0.1",
                    "--port=0",
                ],
                log_dir=self.workdir,
            )
            serving = re.compile(r"Starting to serve on (127\.0\.0\.1:\d+)")
            common.wait_until(
                "kubectl proxy",
                lambda: serving.search(proc.log_tail()) is not None,
                timeout=30,
                proc=proc,
            )
            match = serving.search(proc.log_tail())
            assert match is not None
            self._proxy_url = f"http://{match.group(1)}"
        return self._proxy_url

    def sidecar_url(self, pod: Json) -> str:
        return self.proxy_url() + pod_proxy_path(pod)

    def local_only(self, reason: str) -> LocalBackend:
        pytest.skip(f"kind mode: {reason}")

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None


def kind_mode(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the suite runs against a kind cluster (``HEALTHGATE_E2E_KUBECONFIG`` set)."""
    return bool(environ.get(KUBECONFIG_VAR))


def from_env(
    environ: Mapping[str, str], *, workdir: Path, local: Callable[[], E2EBackend]
) -> E2EBackend:
    """The kind backend if ``HEALTHGATE_E2E_KUBECONFIG`` is set, else ``local()``.

    Nothing here touches a cluster; ``local`` is only called in local mode, so the fixtures of
    the local environment are requested only then.
    """
    settings = KindSettings.from_env(environ)
    if settings is None:
        return local()
    return KindBackend(settings, workdir)
