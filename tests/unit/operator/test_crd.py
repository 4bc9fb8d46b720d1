"""The generated CRD: committed copies, structural rules, and no drift from the contract."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthgate_operator import crd
from healthgate_operator.crd import secrets
from healthgate_sidecar import contract

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "crds" / crd.CRD_FILE
CHART = ROOT / "charts" / "healthgate" / "crds" / crd.CRD_FILE


@pytest.fixture(scope="module")
def generated() -> str:
    return crd.render_crd()


@pytest.fixture(scope="module")
def schema(generated: str) -> dict[str, Any]:
    version = yaml.safe_load(generated)["spec"]["versions"][0]
    root: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return root


@pytest.fixture(scope="module")
def dependency(schema: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = schema["properties"]["spec"]["properties"]["dependencies"]["items"]
    return item


def test_committed_crd_is_the_generated_one(generated: str) -> None:
    assert DEPLOY.read_text() == generated, (
        "deploy/crds is stale: python -m healthgate_operator.crd > "
        f"{DEPLOY.relative_to(ROOT)} (and copy it to the chart)"
    )


def test_chart_copy_is_byte_identical() -> None:
    assert CHART.read_bytes() == DEPLOY.read_bytes()


def test_module_entry_point_prints_it(generated: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "healthgate_operator.crd"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == generated


def nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, sub in node.get("properties", {}).items():
            yield from nodes(sub, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from nodes(node[key], f"{path}[{key}]")


def test_structural(schema: dict[str, Any]) -> None:
    for path, node in nodes(schema):
        assert "$ref" not in node, path
        if node.get("x-kubernetes-int-or-string"):
            continue
        assert "type" in node, path
        assert ("anyOf" not in node and "additionalProperties" not in node) or (
            node["type"] == "object" and "properties" not in node
        ), path


def test_no_env_or_file_alternatives_reach_the_crd(schema: dict[str, Any]) -> None:
    spec = schema["properties"]["spec"]
    for path, _ in nodes(spec):
        leaf = path.rsplit(".", 1)[-1]
        assert not leaf.endswith(("FromEnv", "File")), path


def contract_models() -> dict[str, dict[str, Any]]:
    return {name: d for name, d in contract.json_schema()["$defs"].items() if name != "Dependency"}


def test_every_contract_field_is_in_the_crd(dependency: dict[str, Any]) -> None:
    """The drift test: a field added to the contract must appear in the CRD (or be mapped)."""
    blocks = {
        name: sub for name, sub in dependency["properties"].items() if sub.get("type") == "object"
    }
    found = 0
    for kind in contract.DEPENDENCY_TYPES:
        block = blocks[kind]
        model = contract.Dependency.model_fields[kind].annotation
        model_schema = contract.json_schema()["$defs"][block_def_name(kind)]
        for field in model_schema["properties"]:
            found += 1
            if field.endswith(secrets.ENV_SUFFIX):
                assert field.removesuffix(secrets.ENV_SUFFIX) + "From" in block["properties"]
            elif field.endswith(secrets.FILE_SUFFIX):
                assert field not in block["properties"]
            else:
                assert field in block["properties"], f"{kind}.{field} missing ({model})"
    assert found > 20
    crd_names = {name.lower() for name in dependency["properties"]}
    for name in contract.json_schema()["$defs"]["Dependency"]["properties"]:
        assert name.lower() in crd_names, name  # neo4J (pydantic's alias) is offered as neo4j


def block_def_name(kind: str) -> str:
    """The $defs name of a type block's model (the annotation is ``Model | None``)."""
    annotation = contract.Dependency.model_fields[kind].annotation
    model = next(a for a in getattr(annotation, "__args__", ()) if a is not type(None))
    return str(model.__name__)


def test_secret_requirements_follow_the_contract(dependency: dict[str, Any]) -> None:
    blocks = dependency["properties"]
    assert "passwordFrom" in blocks["neo4j"]["required"]  # the contract requires a password
    rules = {r["rule"] for r in blocks["redis"]["x-kubernetes-validations"]}
    assert "has(self.url) != has(self.urlFrom)" in rules
    assert "!(has(self.apiKey) && has(self.apiKeyFrom))" not in str(blocks["llm"])
    assert "apiKeyFrom" not in blocks["llm"].get("required", [])


def test_cross_field_rules(dependency: dict[str, Any]) -> None:
    rules = dependency["x-kubernetes-validations"]
    assert len([r for r in rules if r["rule"].startswith("has(self.")]) == len(
        contract.DEPENDENCY_TYPES
    )
    assert any(r["rule"] == "self.timeoutSeconds <= self.intervalSeconds" for r in rules)


def test_names_are_a_list_map(schema: dict[str, Any]) -> None:
    deps = schema["properties"]["spec"]["properties"]["dependencies"]
    assert deps["x-kubernetes-list-type"] == "map"
    assert deps["x-kubernetes-list-map-keys"] == ["name"]


def test_resource_shape(generated: str) -> None:
    body = yaml.safe_load(generated)
    spec = body["spec"]
    assert body["metadata"]["name"] == "healthgates.healthgate.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["hg"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Status", "Ready", "Unhealthy", "Not-Injected", "Age"]
    assert generated.startswith("# Generated by")
