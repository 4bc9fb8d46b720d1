"""A third-party review of the manifests: checkov's Kubernetes checks on every ci/ scenario.

The chart passes every check, or the check is skipped here with the reason. Checkov runs
offline: no policy download, no update check, and any attempt at the network goes to a closed
loopback proxy (tests send traffic only to loopback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ship.conftest import CI_VALUES, Json, api_versions_for, as_yaml

pytestmark = pytest.mark.integration
Render = Callable[..., list[Json]]
CHECKOV = Path(sys.executable).parent / "checkov"

# Checks the chart does not pass, on purpose. Each reason is the decision, not an excuse.
SKIPS = {
    "CKV_K8S_11": "no CPU limit by default (resources.limits.cpu): CFS throttling of the "
    "operator delays every pod admission; a CPU request reserves what it needs",
    "CKV_K8S_43": "image by tag by default: a digest is one value away (image.digest), but the "
    "chart cannot know the digest of the image you build or mirror",
    "CKV_K8S_15": "imagePullPolicy IfNotPresent: with a digest or an immutable release tag, "
    "Always only adds a registry round-trip to every start (and an outage to every restart)",
    "CKV_K8S_155": "the operator may get/patch/update exactly its two webhook configurations, "
    "by resourceNames, to publish its caBundle; it cannot create any, and the admission policy "
    "<release>-webhooks lets it change nothing but the caBundle",
    "CKV2_K8S_6": "the operator's NetworkPolicy is opt-in (networkPolicy.enabled): the API "
    "server's address and the CNI differ per cluster; with it on, only the helm test pod, which "
    "runs for seconds, is left without one (checked below)",
    "CKV_K8S_38": "the operator is a Kubernetes client: it needs its service account token "
    "(the helm test pod, which does not, sets automountServiceAccountToken: false)",
}
# Checks that apply to the `helm test` pod, which runs once, for seconds, and exits.
TEST_POD_SKIPS = {
    "CKV_K8S_8": "the helm test pod runs a single request and exits: no liveness probe",
    "CKV_K8S_9": "the helm test pod receives no traffic: no readiness probe",
}


def run_checkov(directory: Path) -> Json:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "BC_SKIP_MAPPING": "TRUE",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    args = [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes"]
    args += ["--skip-download", "--compact", "--quiet", "-o", "json"]
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,
    )
    assert proc.stdout.strip(), proc.stderr
    parsed: Any = json.loads(proc.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    report: Json = next(r for r in reports if r.get("check_type") == "kubernetes")
    return report


@pytest.fixture(scope="module")
def checkov_report(render: Render, tmp_path_factory: pytest.TempPathFactory) -> Json:
    """One checkov run over every scenario: most of a run is checkov loading itself, so both
    tests share one (tests/conftest.py keeps them on one pytest-xdist worker). Each scenario is
    a release and a namespace of its own, named after it: checkov's graph checks link objects
    across files by their labels, and one scenario's NetworkPolicy must not cover another
    scenario's pods."""
    directory = tmp_path_factory.mktemp("checkov")
    for values in [None, *CI_VALUES]:
        name = scenario(values)
        objects = render(
            values, api_versions=api_versions_for(values), namespace=name, release=name
        )
        (directory / f"{name}.yaml").write_text(as_yaml(objects))
    return run_checkov(directory)


def scenario(values: Path | None) -> str:
    """A scenario's file and namespace name: ``defaults`` or the values file's stem."""
    return "defaults" if values is None else values.stem


def test_checkov_passes_every_scenario(checkov_report: Json) -> None:
    report = checkov_report
    failed = []
    for check in report["results"]["failed_checks"]:
        check_id, resource = check["check_id"], check["resource"]
        if check_id in SKIPS:
            continue
        if check_id in TEST_POD_SKIPS and "-test-metrics" in resource:
            continue
        failed.append(f"{check_id} {check['check_name']}: {resource} ({check['file_path']})")
    assert failed == [], "\n".join(failed)
    assert report["summary"]["passed"] > 100  # the review really ran
    # With networkPolicy.enabled the operator's pods are covered (the skip is for the default).
    uncovered = {
        c["resource"]
        for c in report["results"]["failed_checks"]
        if c["check_id"] == "CKV2_K8S_6" and "network-policy" in c["file_path"]
    }
    name = "network-policy-values"
    assert uncovered == {f"Pod.{name}.{name}-healthgate-test-metrics"}


def test_every_skip_is_still_needed(checkov_report: Json) -> None:
    """A skip whose check now passes on the default values goes: the list stays the list of
    decisions."""
    failing = {
        c["check_id"]
        for c in checkov_report["results"]["failed_checks"]
        if Path(c["file_path"]).name == "defaults.yaml"
    }
    assert set(SKIPS) | set(TEST_POD_SKIPS) <= failing
