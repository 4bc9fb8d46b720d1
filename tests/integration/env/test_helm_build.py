"""The helm that tests/env builds knows a current Kubernetes version, as a released helm does.

Helm's Makefile sets the default ``.Capabilities.KubeVersion`` from its client-go at build time;
a plain ``go install`` leaves 1.20, and our chart's ``kubeVersion: >=1.29.0-0`` then fails
``helm template`` unless ``--kube-version`` is given.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.env import common, kube

pytestmark = pytest.mark.integration
CHART = Path(__file__).resolve().parents[3] / "charts" / "healthgate"


def test_helm_template_needs_no_kube_version(tmp_path: Path) -> None:
    try:
        helm = kube.ensure_installed().helm
    except common.EnvMissing as exc:
        pytest.fail(f"helm could not be built: {exc}", pytrace=False)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HELM_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [helm, "template", "hg", CHART], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "kind: Deployment" in proc.stdout
