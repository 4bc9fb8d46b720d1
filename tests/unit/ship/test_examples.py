"""Every example HealthGate renders to a valid sidecar config (the operator's own builder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from healthgate_operator.builders import config

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())


def documents(example: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for manifest in sorted(example.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    return docs


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_renders_and_references_its_own_secrets(example: Path) -> None:
    assert (example / "README.md").read_text().strip()
    docs = documents(example)
    gates = [d for d in docs if d["kind"] == "HealthGate"]
    assert gates
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    for gate in gates:
        rendered = config.render_config(gate["spec"])
        assert rendered.config.dependencies
        for env in rendered.env:
            ref = env["valueFrom"]["secretKeyRef"]
            if secrets:  # placeholders ship with the example: every reference must resolve
                assert ref["name"] in secrets, ref


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("coding-assistant", {"redis", "env"}),
        ("workflow-builder", {"tcp", "redis", "llm"}),
        ("customer-chatbot", {"postgres", "redis", "llm"}),
    ],
)
def test_example_checks_what_its_app_uses(name: str, types: set[str]) -> None:
    (gate,) = [d for d in documents(ROOT / "examples" / name) if d["kind"] == "HealthGate"]
    assert {d["type"] for d in gate["spec"]["dependencies"]} == types
    if name == "workflow-builder":
        (temporal,) = [d for d in gate["spec"]["dependencies"] if d["type"] == "tcp"]
        assert temporal["tcp"]["port"] == 7233
