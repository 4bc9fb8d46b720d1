"""docs/crd-reference.md is what the generator makes of the committed CRD."""

from __future__ import annotations

import yaml

from tests.tools import crd_docs


def test_committed_reference_is_fresh() -> None:
    assert crd_docs.OUTPUT.read_text() == crd_docs.generate(), (
        "docs/crd-reference.md is stale: run python -m tests.tools.crd_docs"
    )


def test_check_mode_agrees() -> None:
    assert crd_docs.main(["--check"]) == 0


def test_every_spec_field_is_documented() -> None:
    crd = yaml.safe_load(crd_docs.CRD.read_text())
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = crd_docs.generate()
    paths = [row[0] for row in crd_docs.rows(root["properties"]["spec"], "spec")]
    assert "spec.dependencies[].tcp.port" in paths
    for path in paths:
        assert f"| `{path}` |" in text


def test_render_reflects_schema_changes() -> None:
    crd = yaml.safe_load(crd_docs.CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["newField"] = {"type": "integer", "minimum": 3, "description": "New."}
    text = crd_docs.render(crd)
    assert "| `spec.newField` | integer |  | New. | ≥ `3` |" in text
    assert text != crd_docs.generate()
