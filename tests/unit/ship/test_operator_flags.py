"""docs/operator-flags.md is what the settings dataclasses declare."""

from __future__ import annotations

from healthgate_operator import config, options
from tests.tools import operator_flags


def test_committed_reference_is_fresh() -> None:
    assert operator_flags.main(["--check"]) == 0, "run python -m tests.tools.operator_flags"


def test_every_flag_appears_with_its_variable() -> None:
    text = operator_flags.OUTPUT.read_text()
    for spec in options.all_specs(config.OperatorConfig):
        assert f"`{spec.flag}` | `{spec.variable}` |" in text
