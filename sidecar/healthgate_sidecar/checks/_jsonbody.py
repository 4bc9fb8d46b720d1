"""JSONPath assertions on an http check's response body (in the spirit of Gatus conditions).

Library: python-jsonpath, in its RFC 9535 mode (the JSONPath standard, so an expression means
here what it means in every other compliant implementation); typed, pure Python, no parser
generator, ~1.7 MiB when loaded, and loaded only by a config that has an assertion. jsonpath-ng,
the other well-kept choice, speaks its own pre-standard dialect and builds PLY parse tables.

Bounded work: the body is at most ``maxBodyBytes``; the standard's ``match()`` and ``search()``
functions are switched off, because python-jsonpath runs them with Python's backtracking ``re``
(a pattern like ``(a+)+$`` would hold the GIL for seconds); a value is tested with the
assertion's own ``regex``, on RE2, instead. Parsing and evaluation run in the sidecar's worker
(:mod:`healthgate_sidecar.offload`), not on the event loop.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from healthgate_sidecar import body_regex
from healthgate_sidecar.checks.base import CheckFailure

if TYPE_CHECKING:
    import jsonpath

VALUE_LIMIT = 80  # characters of a mismatching value shown in the message


class JsonPathError(ValueError):
    """An expression the standard (minus match/search) does not accept; says why."""


@functools.cache
def _environment() -> jsonpath.JSONPathEnvironment:
    import jsonpath

    class Environment(jsonpath.JSONPathEnvironment):
        def setup_function_extensions(self) -> None:
            super().setup_function_extensions()
            for name in ("match", "search"):  # Python re: unbounded backtracking
                self.function_extensions.pop(name, None)

    return Environment(strict=True)


def compile_path(expression: str) -> Any:
    """The compiled expression; raises :class:`JsonPathError` with the library's reason."""
    import jsonpath

    try:
        return _environment().compile(expression)
    except jsonpath.JSONPathError as exc:
        raise JsonPathError(str(exc).splitlines()[0]) from None


def text(value: object) -> str:
    """A value as ``equals`` and ``regex`` see it: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Assertion:
    """One compiled assertion: every value the path selects must pass (at least one must)."""

    expression: str
    path: Any
    equals: str | None
    regex: Any  # a compiled RE2 pattern, or None

    def failure(self, document: object) -> str | None:
        """Why ``document`` fails this assertion, or None."""
        values = self.path.findall(document)
        if not values:
            return f"{self.expression} selects nothing"
        for value in values:
            shown = text(value)
            if self.equals is not None and shown != self.equals:
                return f"{self.expression} is {shown[:VALUE_LIMIT]!r}, not {self.equals!r}"
            if self.regex is not None and not self.regex.search(shown):
                return f"{self.expression} is {shown[:VALUE_LIMIT]!r}, which does not match"
        return None


def compile_assertion(expression: str, equals: str | None, regex: str | None) -> Assertion:
    pattern = body_regex.compile_pattern(regex) if regex is not None else None
    return Assertion(expression, compile_path(expression), equals, pattern)


def _evaluate(assertions: tuple[Assertion, ...], body: bytes) -> str | None:
    import jsonpath

    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return f"the body is not JSON: {str(exc)[:VALUE_LIMIT]}"
    for assertion in assertions:
        try:
            problem = assertion.failure(document)
        except (jsonpath.JSONPathError, RecursionError) as exc:
            problem = f"{assertion.expression}: {str(exc).splitlines()[0][:VALUE_LIMIT]}"
        if problem is not None:
            return problem
    return None


async def check(assertions: tuple[Assertion, ...], body: bytes, *, truncated: bool) -> None:
    """Raise ``CheckFailure("assertion")`` unless the JSON body passes every assertion."""
    if truncated:
        raise CheckFailure("assertion", "the body is larger than maxBodyBytes: not evaluated")
    from healthgate_sidecar import offload  # its pool: not for the config's validator

    problem = await offload.run(_evaluate, assertions, body)
    if problem is not None:
        raise CheckFailure("assertion", problem)
