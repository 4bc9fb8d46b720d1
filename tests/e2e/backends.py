"""Where the end-to-end suite runs: the local environment, or a kind cluster with the chart.

``HEALTHGATE_E2E_KUBECONFIG`` chooses (:func:`from_env`). Unset, the suite runs against the local
environment (:class:`tests.e2e.local.LocalBackend`): the session's own API server and real node
(kubelet, containerd, CNI; ``tests/env/realnode``), as CI runs it here. Set (``make kind-e2e``
sets it), the suite runs against that cluster (:class:`KindBackend`).

Both converge on one path: HealthGate installed by ``helm install charts/healthgate``
(:class:`tests.e2e.chart.ChartOperator`), Redis as a Deployment behind a Service in the test
namespace (:class:`tests.e2e.chart.ClusterRedis`), pods injected by the chart's webhook and
probed by a real kubelet. They differ only in how the cluster and the images are obtained and in
how the test process reaches a pod; the tests do not ask which one they got, except for the few
checks that need this machine (:meth:`E2EBackend.local_only`).

Kind mode cannot run on the development machine (no Docker engine): CI runs local mode, and
``tests/unit/ship/test_kind_script.py`` checks kind mode's selection and what it deploys.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol

import pytest

from healthgate_operator import constants
from tests.env import common
from tests.env.incluster import ChartOperator, Cluster, ClusterRedis, Json

if TYPE_CHECKING:
    from .local import LocalBackend

__all__ = ["Cluster", "Json"]  # what the tests import from here

KUBECONFIG_VAR = "HEALTHGATE_E2E_KUBECONFIG"
SIDECAR_IMAGE_VAR = "HEALTHGATE_E2E_SIDECAR_IMAGE"
REDIS_IMAGE_VAR = "HEALTHGATE_E2E_REDIS_IMAGE"
DEFAULT_REDIS_IMAGE = "redis:7-alpine"
CRD = f"{constants.PLURAL}.{constants.GROUP}"
KIND_RELEASE, KIND_NAMESPACE = "healthgate", "healthgate-system"  # hack/kind-e2e.sh


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


def pod_proxy_path(pod: Json, path: str = "/health") -> str:
    """The API server's proxy path to ``path`` of a pod's sidecar."""
    meta = pod["metadata"]
    return (
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}:{sidecar_port(pod)}"
        f"/proxy{path}"
    )


class E2EBackend(Cluster, ABC):
    """The cluster under test and the few things that depend on where it runs."""

    #: The app container's image (HealthGate's own: it has coreutils' ``sleep``).
    app_image: str
    #: Seconds to wait for a sidecar's /health answer.
    health_timeout: float = 2.0

    def prepare(self) -> None:
        """Once per session, before any test: install or check what the suite relies on."""

    def close(self) -> None:
        """At the end of the session: stop what :meth:`prepare` or the tests started."""

    @abstractmethod
    def operator(self, namespace: str) -> contextlib.AbstractContextManager[ChartOperator]:
        """The chart's operator serving ``namespace``, for one test module."""

    @abstractmethod
    def redis(self, namespace: str) -> contextlib.AbstractContextManager[E2ERedis]:
        """A Redis of a test module's own, reachable from the pods of ``namespace``."""

    def pod_spec(self) -> Json:
        """Pod spec fields every pod of the suite gets (placement, where the backend needs it)."""
        return {}

    @abstractmethod
    def sidecar_url(self, pod: Json, path: str = "/health") -> str:
        """Where the test process reaches ``path`` of ``pod``'s sidecar."""

    def sidecar_health(self, pod: Json) -> Json:
        return read_health(self.sidecar_url(pod), self.health_timeout)

    @abstractmethod
    def local_only(self, reason: str) -> LocalBackend:
        """This backend if it is the local one; otherwise skip the test, saying why."""


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


class KindBackend(E2EBackend):
    """A cluster with the chart installed (``make kind-e2e``): nothing is started locally but
    ``kubectl proxy``, through which the test process reaches the pods."""

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
    def operator(self, namespace: str) -> Iterator[ChartOperator]:
        """The chart's operator (``hack/kind-e2e.sh`` installed it for every namespace): its
        CRD established and its webhook configuration applied."""
        established = self.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD}", check=False
        )
        if established.returncode != 0:
            self._fail(
                f"the CRD {CRD} is not established; install the chart first "
                f"(helm upgrade --install healthgate charts/healthgate, as hack/kind-e2e.sh "
                f"does):\n{established.stderr}"
            )
        release = ChartOperator(
            self, KIND_RELEASE, KIND_NAMESPACE, webhook=constants.WEBHOOK_CONFIGURATION
        )
        try:
            common.wait_for("the webhook configuration", release.webhook_applied, timeout=60)
        except AssertionError:
            self._fail(
                f"no MutatingWebhookConfiguration {release.webhook} with a caBundle: "
                "the chart-installed operator publishes its CA once it runs; check "
                f"`kubectl -n {KIND_NAMESPACE} get pods` and their logs"
            )
        yield release

    @contextlib.contextmanager
    def redis(self, namespace: str) -> Iterator[E2ERedis]:
        server = ClusterRedis(self, namespace, self.settings.redis_image)
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

    def sidecar_url(self, pod: Json, path: str = "/health") -> str:
        return self.proxy_url() + pod_proxy_path(pod, path)

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
