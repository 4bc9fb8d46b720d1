"""``bodyRegex`` on RE2: matching time linear in the body, whatever the pattern.

Python's ``re`` backtracks: ``^(a+)+$`` against 28 bytes froze the whole sidecar for seconds.
RE2 (``google-re2``) has no backtracking, so a match over the 1 MiB body cap is bounded by
milliseconds. The price: no backreferences or lookaround, which the contract rejects up front.
"""

from __future__ import annotations

from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error goes into our own problem line, not to stderr


class RegexError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


def compile_pattern(pattern: str) -> Any:
    """A compiled RE2 pattern (``.search(text)``); raises :class:`RegexError`."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise RegexError(str(detail)) from None
