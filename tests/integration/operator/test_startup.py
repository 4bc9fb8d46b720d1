"""Start-up failures that no retry fixes stop the operator once, saying why (issue 11).

A taken metrics port used to make Kopf retry the startup handler forever, building another API
client and gate cache on each try. The process under test is the real ``healthgate-operator``;
it fails before it talks to any API server, so its kubeconfig points at a closed loopback port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def closed_kubeconfig(tmp_path: Path) -> dict[str, str]:
    """An environment whose kubeconfig names a closed loopback port: no API server is reached."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "none"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}


def test_a_taken_metrics_port_stops_the_operator_once_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                BIN / "healthgate-operator",
                "--standalone",
                "--all-namespaces",
                "--listen-host=127.0.0.1",
                "--webhook-host=127.0.0.1",
                f"--metrics-port={port}",
                "--health-port=0",
                "--webhook-port=0",
            ],
            env=closed_kubeconfig(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,  # before the fix: retried forever, never exited
            check=False,
        )
    assert proc.returncode == 1
    assert f"healthgate-operator: --metrics-port: cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_out_of_range_flag_is_a_usage_error_before_anything_starts(tmp_path: Path) -> None:
    """Before: a zero --health-timeout was taken and the operator went on starting."""
    proc = subprocess.run(
        [BIN / "healthgate-operator", "--standalone", "-A", "--health-timeout=0"],
        env={**closed_kubeconfig(tmp_path), "HEALTHGATE_METRICS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "healthgate-operator: error: --health-timeout: must be above 0" in proc.stderr
    assert "Traceback" not in proc.stderr
