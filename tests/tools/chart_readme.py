"""Regenerate the parameter tables of ``charts/healthgate/README.md`` from ``values.yaml``.

The tables come from the ``## @section`` and ``## @param <path> <description>`` comments (the
Bitnami readme-generator convention) and the defaults in ``values.yaml``; they are written between
the ``<!-- parameters:start -->`` and ``<!-- parameters:end -->`` markers. ``--check`` exits 1
when the README is stale; ``tests/unit/ship/test_chart_readme.py`` runs the same comparison.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.tools import generated

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "healthgate"
VALUES = CHART / "values.yaml"
README = CHART / "README.md"
START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"
_ANNOTATION = re.compile(r"^\s*## @(section|param) (.+)$")


def default_of(values: Any, path: str) -> Any:
    node = values
    for part in path.split("."):
        node = node[part]
    return node


def tables(values_text: str) -> str:
    values = yaml.safe_load(values_text)
    lines: list[str] = []
    for line in values_text.splitlines():
        match = _ANNOTATION.match(line)
        if match is None:
            continue
        kind, rest = match.groups()
        if kind == "section":
            lines += ["", f"### {rest.strip()}", "", "| Name | Description | Default |"]
            lines += ["|---|---|---|"]
            continue
        path, _, description = rest.partition(" ")
        default = json.dumps(default_of(values, path))
        description = description.strip().replace("|", "\\|")
        lines.append(f"| `{path}` | {description} | `{default}` |")
    return "\n".join(lines).strip() + "\n"


def generate(readme_text: str, values_text: str) -> str:
    head, sep, rest = readme_text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"{README} lacks the {START} ... {END} markers")
    return f"{head}{START}\n\n{tables(values_text)}\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    return generated.main(
        argv,
        target=README,
        generate=lambda: generate(README.read_text(), VALUES.read_text()),
        module=__spec__.name,
    )


if __name__ == "__main__":
    sys.exit(main())
