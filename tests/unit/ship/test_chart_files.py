"""The chart's static files: metadata, CRD copies, documented values, schema coverage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "healthgate"
# Maps whose keys are free-form (labels, annotations, resource quantities): documented as a whole.
FREE_FORM = frozenset(
    {
        "commonLabels", "podAnnotations", "podLabels", "nodeSelector", "affinity",
        "podSecurityContext", "securityContext", "labels", "annotations", "requests", "limits",
    }
)  # fmt: skip


def leaves(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in FREE_FORM:
            yield from leaves(value, f"{path}.")
        else:
            yield path


def documented() -> set[str]:
    text = (CHART / "values.yaml").read_text()
    return set(re.findall(r"^\s*## @param (\S+) \S", text, flags=re.M))


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.30.0-0"  # ValidatingAdmissionPolicy GA
    assert chart["appVersion"] == "0.1.0"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject


@pytest.mark.parametrize("name", ["healthgate.io_healthgates.yaml", "kopf.dev_peerings.yaml"])
def test_chart_crds_equal_deploy_crds(name: str) -> None:
    assert (CHART / "crds" / name).read_bytes() == (ROOT / "deploy" / "crds" / name).read_bytes()


def _covers(param: str, path: str) -> bool:
    """A param documents a path itself or, for free-form maps, one of its default keys."""
    return param == path or param.startswith(path + ".")


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    paths = set(leaves(values))
    params = documented()
    missing = {p for p in paths if not any(_covers(d, p) for d in params)}
    assert not missing, f"values without ## @param: {sorted(missing)}"
    stale = {d for d in params if not any(_covers(d, p) for p in paths)}
    assert not stale, f"## @param for values that do not exist: {sorted(stale)}"


def test_schema_covers_every_value_and_rejects_unknown_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    for path in leaves(values):
        node = schema
        for part in path.split("."):
            assert part in node.get("properties", {}), f"{path} missing from values.schema.json"
            node = node["properties"][part]


def test_templates_use_only_prefixed_helpers() -> None:
    defined = re.findall(r'define "([^"]+)"', (CHART / "templates" / "_helpers.tpl").read_text())
    assert defined
    assert all(name.startswith("healthgate.") for name in defined)
    for template in (CHART / "templates").rglob("*"):
        if template.is_file():
            for used in re.findall(r'include "([^"]+)"', template.read_text()):
                assert used in defined, (template.name, used)


def test_notes_and_helm_test_exist() -> None:
    assert (CHART / "templates" / "NOTES.txt").is_file()
    tests = list((CHART / "templates" / "tests").glob("*.yaml"))
    assert tests
    assert all("helm.sh/hook: test" in t.read_text() for t in tests)


def test_admission_templates_use_the_operators_names() -> None:
    """The policies and webhooks are YAML, the operator is Python: the names must agree."""
    from healthgate_operator import constants  # noqa: PLC0415 (only this test needs it)

    policies = (CHART / "templates" / "admission-policies.yaml").read_text()
    restart = f"'{constants.ANNOTATION_RESTARTED_AT}', '{constants.ANNOTATION_RESTARTED_FOR}'"
    assert restart in policies
    label = f"[?'{constants.LABEL_MANAGED_BY}'].orValue('')\n        == '{constants.MANAGER}'"
    assert policies.count(label) == 2
    suffix = constants.configmap_name("")
    assert f"endsWith('{suffix}')" in policies
    assert f"r.name + '{suffix}'" in policies
    assert f"r.apiVersion.startsWith('{constants.GROUP}/') && r.kind == '{constants.KIND}'" in (
        policies
    )
    hooks = (CHART / "templates" / "admission.yaml").read_text()
    assert f'"path" "{constants.WEBHOOK_HANDLER_ID}"' in hooks
    assert f'"path" "{constants.VALIDATE_HANDLER_ID}"' in hooks
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["webhook"]["configurationName"] == constants.WEBHOOK_CONFIGURATION
