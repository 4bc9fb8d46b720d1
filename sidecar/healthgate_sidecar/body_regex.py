"""``bodyRegex`` on RE2: matching time linear in the body, whatever the pattern.

Python's ``re`` backtracks: ``^(a+)+$`` against 28 bytes froze the whole sidecar for seconds.
RE2 (``google-re2``) has no backtracking, so a match over the 1 MiB body cap is bounded by
milliseconds. The price: no backreferences or lookaround, which the contract rejects up front.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _re2() -> Any:
    """The RE2 module, imported with the first pattern: 1.6 MiB that most configs never use."""
    import re2  # noqa: PLC0415

    return re2


class RegexError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


def compile_pattern(pattern: str) -> Any:
    """A compiled RE2 pattern (``.search(text)``); raises :class:`RegexError`."""
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False  # the error goes into our own problem line, not to stderr
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise RegexError(str(detail)) from None
