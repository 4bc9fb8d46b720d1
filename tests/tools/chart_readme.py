"""Regenerate the parameter tables of ``charts/healthgate/README.md`` from ``values.yaml``.

The tables come from the ``## @section`` and ``## @param <path> <description>`` comments (the
Bitnami readme-generator convention) and the defaults in ``values.yaml``; they are written between
the ``<!-- parameters:start -->`` and ``<!-- parameters:end -->`` markers. ``--check`` exits 1
when the README is stale; ``tests/unit/ship/test_chart_readme.py`` runs the same comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

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
    parser = argparse.ArgumentParser(description="Regenerate the chart README's parameters.")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README is stale")
    args = parser.parse_args(argv)
    current = README.read_text()
    fresh = generate(current, VALUES.read_text())
    if args.check:
        if fresh != current:
            print(f"{README} is stale: run python -m tests.tools.chart_readme", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
