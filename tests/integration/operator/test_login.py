"""Logging in without kubernetes_asyncio (issue 16): tokens and client certificates on their own,
exec plugins with the optional extra, and a clear error naming the extra without it.

Each case runs in a fresh interpreter, where the client library is made unimportable the way
the image lacks it, and lists gates on the real API server with the operator's own client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.env import kube
from tests.env import operator as operator_env
from tests.env.common import wait_for
from tests.integration.operator.conftest import Kube

pytestmark = pytest.mark.integration
BLOCK = "import sys; sys.modules['kubernetes_asyncio'] = None\n"
LIST_GATES = """
import asyncio, sys
from healthgate_operator import kube

async def main() -> None:
    client = await kube.connect()
    try:
        gates = await client.request("GET", "/apis/healthgate.io/v1alpha1/healthgates")
        print("listed", len(gates["items"]), "loaded:", "kubernetes_asyncio.client" in sys.modules)
    finally:
        await client.close()

asyncio.run(main())
"""


@pytest.fixture(autouse=True)
def served(k8s: Kube) -> None:
    """The gates' storage answers (429 "initializing" just after the CRD is applied)."""
    wait_for(
        "HealthGates served",
        lambda: k8s.cluster.kubectl("get", "healthgates", "-A", check=False).returncode == 0,
        timeout=60,
    )


def run(kubeconfig: Path, *, blocked: bool) -> subprocess.CompletedProcess[str]:
    code = (BLOCK if blocked else "") + LIST_GATES
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def exec_kubeconfig(cluster: kube.KubeCluster, folder: Path) -> Path:
    """The operator's token, handed out by an exec plugin (as cloud CLIs do)."""
    token_config = json.loads(
        operator_env.service_account_kubeconfig(cluster, folder / "token.kubeconfig").read_text()
    )
    token = token_config["users"][0]["user"]["token"]
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    plugin = folder / "plugin.py"
    plugin.write_text(f"print({json.dumps(json.dumps(credential))})\n")
    token_config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    path = folder / "exec.kubeconfig"
    path.write_text(json.dumps(token_config))
    return path


def test_a_token_kubeconfig_needs_no_client_library(k8s: Kube, tmp_path: Path) -> None:
    config = operator_env.service_account_kubeconfig(k8s.cluster, tmp_path / "kubeconfig")
    proc = run(config, blocked=True)
    assert proc.returncode == 0, proc.stderr
    assert "listed" in proc.stdout
    assert "loaded: False" in proc.stdout


def test_client_certificates_need_no_client_library(k8s: Kube) -> None:
    proc = run(k8s.cluster.kubeconfig, blocked=True)
    assert proc.returncode == 0, proc.stderr
    assert "loaded: False" in proc.stdout


def test_an_exec_plugin_works_with_the_client_library(k8s: Kube, tmp_path: Path) -> None:
    proc = run(exec_kubeconfig(k8s.cluster, tmp_path), blocked=False)
    assert proc.returncode == 0, proc.stderr
    assert "listed" in proc.stdout


def test_an_exec_plugin_without_the_client_library_names_the_extra(
    k8s: Kube, tmp_path: Path
) -> None:
    proc = run(exec_kubeconfig(k8s.cluster, tmp_path), blocked=True)
    assert proc.returncode != 0
    assert "healthgate[kubeclient]" in proc.stderr


def test_in_a_pod_the_service_account_files_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-cluster: the address from the pod's environment, the token and CA from the mounted
    service account, read again at each login (the kubelet rotates the token)."""
    from healthgate_operator import login  # noqa: PLC0415 - after the environment is set

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "ca.crt").write_text("not read here")
    (tmp_path / "namespace").write_text("healthgate-system")
    assert login.in_cluster()
    info = login.service_account(tmp_path)
    assert (info.server, info.token, info.default_namespace) == (
        "https://[fd00::1]:6443",
        "first",
        "healthgate-system",
    )
    assert info.ca_path == str(tmp_path / "ca.crt")
    (tmp_path / "token").write_text("rotated")
    assert login.service_account(tmp_path).token == "rotated"
