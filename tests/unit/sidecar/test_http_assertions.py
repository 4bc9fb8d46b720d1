"""JSONPath assertions of the http check, offline: compile errors, what passes, what fails."""

from __future__ import annotations

from typing import Any

import pytest

from healthgate_sidecar import contract
from healthgate_sidecar.checks import _jsonbody, http

DOC = {"status": "UP", "n": 3, "ok": True, "none": None, "items": [{"s": "UP"}, {"s": "DOWN"}]}


def problems(assertion: dict[str, Any]) -> list[str]:
    dep = {"name": "api", "type": "http",
           "http": {"url": "http://api/health", "assertions": [assertion]}}  # fmt: skip
    with pytest.raises(contract.ConfigError) as caught:
        contract.parse_config({"dependencies": [dep]})
    return caught.value.problems


def failure(path: str, equals: str | None = None, regex: str | None = None) -> str | None:
    return _jsonbody.compile_assertion(path, equals, regex).failure(DOC)


def test_values_compare_as_text() -> None:
    assert failure("$.status", equals="UP") is None
    assert failure("$.n", equals="3") is None
    assert failure("$.ok", equals="true") is None
    assert failure("$.none", equals="null") is None
    assert failure("$.status", equals="up") == "$.status is 'UP', not 'up'"


def test_every_selected_value_must_pass() -> None:
    assert failure("$.items[0].s", regex="^UP$") is None
    assert failure("$.items[*].s", regex="^UP$") == "$.items[*].s is 'DOWN', which does not match"
    assert failure("$.missing") == "$.missing selects nothing"


@pytest.mark.parametrize(
    "path",
    [
        "$.status ==",  # not JSONPath at all
        "$[?match(@.s, '(a+)+$')]",  # match()/search() would run Python's backtracking re
        "$[?search(@.s, 'U')]",
        "$[?@.s =~ /U/]",  # python-jsonpath's own regex operator, not in the standard
    ],
)
def test_the_contract_rejects_what_is_not_bounded_rfc_9535(path: str) -> None:
    [problem] = problems({"jsonPath": path})
    assert problem.startswith("dependencies[0].http.assertions[0].jsonPath: invalid JSONPath")


def test_equals_and_regex_are_exclusive_and_regex_is_re2() -> None:
    assert problems({"jsonPath": "$.s", "equals": "UP", "regex": "U"}) == [
        "dependencies[0].http.assertions[0].regex: only one of equals, regex may be set"
    ]
    [problem] = problems({"jsonPath": "$.s", "regex": "(a)\\1"})
    assert problem.startswith("dependencies[0].http.assertions[0].regex: invalid regular")


def test_max_body_bytes_has_a_bound_and_a_default() -> None:
    dep = {"name": "api", "type": "http", "http": {"url": "http://api/"}}
    config = contract.parse_config({"dependencies": [dep]})
    params = config.dependencies[0].params
    assert isinstance(params, http.HttpParams)
    assert params.max_body_bytes == 1 << 20
    dep["http"] = {"url": "http://api/", "maxBodyBytes": 64 << 20}
    with pytest.raises(contract.ConfigError):
        contract.parse_config({"dependencies": [dep]})
