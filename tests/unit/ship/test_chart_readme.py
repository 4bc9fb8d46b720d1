"""The chart README's parameter tables are what values.yaml documents."""

from __future__ import annotations

from tests.tools import chart_readme


def test_committed_readme_is_fresh() -> None:
    assert chart_readme.main(["--check"]) == 0, "run python -m tests.tools.chart_readme"


def test_every_param_appears_with_its_default() -> None:
    text = chart_readme.README.read_text()
    assert "| `webhook.failurePolicy` | Pod webhook: Ignore (a broken operator" in text
    assert "| `replicaCount` |" in text
    assert "`2` |" in text


def test_a_changed_default_makes_it_stale() -> None:
    values = chart_readme.VALUES.read_text().replace("replicaCount: 2", "replicaCount: 3")
    readme = chart_readme.README.read_text()
    assert chart_readme.generate(readme, values) != readme
