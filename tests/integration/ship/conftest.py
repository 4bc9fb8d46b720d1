"""Fixtures of the shipping tests: the real helm and kubectl binaries and the rendered chart.

Rendering and linting need no cluster, so they use the binaries directly (built once and cached
by ``tests/env``); everything server-side goes through the session's ``kube_cluster``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.env import kube

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "healthgate"
DEPLOY = ROOT / "deploy"
KUBE_VERSION = "1.35.0"
MONITORING_API = "monitoring.coreos.com/v1"
# Kinds defined by CRDs that neither kubernetes-validate nor the local API server knows (the
# Prometheus Operator's and cert-manager's). Skipped by this explicit list, nothing else.
FOREIGN_KINDS = frozenset(
    {"ServiceMonitor", "PodMonitor", "PrometheusRule", "Certificate", "Issuer"}
)
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
Json = dict[str, Any]


def api_versions_for(values: Path | None) -> tuple[str, ...]:
    """The monitoring scenario is rendered as if the Prometheus Operator were installed."""
    return (MONITORING_API,) if values is not None and "monitoring" in values.name else ()


@pytest.fixture(scope="session")
def binaries() -> kube.Binaries:
    return kube.ensure_installed()


def run(
    args: Sequence[str | Path], *, home: Path, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A tool with its own HOME: without one, client-go writes .kube/cache into the cwd."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(kubeconfig) if kubeconfig else os.devnull,
    }
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, env=env, timeout=120
    )


@pytest.fixture(scope="session")
def helm(
    binaries: kube.Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.mktemp("helm-home")

    def call(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return run([binaries.helm, *args], home=home)

    return call


@pytest.fixture(scope="session")
def render(
    helm: Callable[..., subprocess.CompletedProcess[str]],
) -> Callable[..., list[Json]]:
    """``helm template`` of the chart as a list of objects; fails the test on a helm error.

    Each distinct rendering runs helm once per session (the tests ask for the same scenarios
    ~80 times); every call parses it afresh, so a test may change the objects it gets."""
    rendered: dict[tuple[str | Path, ...], str] = {}

    def call(
        values: Path | None = None,
        *,
        api_versions: Sequence[str] = (),
        sets: Sequence[str] = (),
        namespace: str = "healthgate-system",
        release: str = "hg",
    ) -> list[Json]:
        args: list[str | Path] = ["template", release, CHART, "-n", namespace]
        args += ["--kube-version", KUBE_VERSION]
        if values is not None:
            args += ["-f", values]
        for api in api_versions:
            args += ["--api-versions", api]
        for assignment in sets:
            args += ["--set", assignment]
        if (key := tuple(args)) not in rendered:
            proc = helm(*args)
            assert proc.returncode == 0, proc.stderr
            rendered[key] = proc.stdout
        return [doc for doc in yaml.safe_load_all(rendered[key]) if doc]

    return call


def by_kind(objects: Sequence[Json], kind: str) -> list[Json]:
    return [obj for obj in objects if obj["kind"] == kind]


def as_yaml(objects: Sequence[Json]) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False)
