"""The HealthGate image's cache key covers what the Dockerfile copies, and nothing the image
does not depend on (an edit of README.md or of pytest's settings must not cost a rebuild)."""

from __future__ import annotations

import re

from tests.env.realnode import buildah

from .test_dockerfile import DOCKERFILE

PYPROJECT = """
[build-system]
requires = ["setuptools>=69"]

[project]
name = "healthgate"
dependencies = ["aiohttp>=3.9"]

[tool.setuptools.packages.find]
where = ["operator", "sidecar"]

[tool.pytest.ini_options]
addopts = "-ra"
"""


def test_every_copied_path_is_part_of_the_key() -> None:
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), flags=re.M)
    sources = {path.rstrip("/") for line in copied for path in line.split()}
    assert sources, "no COPY found in the Dockerfile"
    assert sources <= {*buildah.SOURCES, "pyproject.toml"}, sources
    assert "README.md" not in sources


def test_tool_settings_do_not_change_the_key() -> None:
    edited = PYPROJECT.replace('addopts = "-ra"', 'addopts = "-ra -n 2"') + "[tool.ruff]\n"
    assert buildah.pyproject_key(edited) == buildah.pyproject_key(PYPROJECT)


def test_what_pip_reads_changes_the_key() -> None:
    base = buildah.pyproject_key(PYPROJECT)
    for old, new in (
        ('"aiohttp>=3.9"', '"aiohttp>=3.10"'),
        ('"setuptools>=69"', '"setuptools>=70"'),
        ('where = ["operator", "sidecar"]', 'where = ["sidecar"]'),
    ):
        assert buildah.pyproject_key(PYPROJECT.replace(old, new)) != base, new
