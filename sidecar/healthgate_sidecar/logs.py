"""Structured logs: text or JSON lines on stderr, a line per status transition, never secrets.

Every value goes through :func:`redact.scrub` in the formatter, whatever logger wrote it, so a
driver that puts a DSN in an exception cannot leak it either; values are scrubbed one by one
before serialization, so every JSON line stays valid JSON.

Records of other libraries (aiohttp's "Error handling request", asyncio's accept errors such as
EMFILE) are what a hostile or broken client can trigger at will: :class:`OneLine` turns their
tracebacks into one line and lets each kind through at most once per :data:`QUIET_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from healthgate_sidecar import redact
from healthgate_sidecar.state import Component, Status

LOGGER = "healthgate"
log = logging.getLogger(LOGGER)
QUIET_SECONDS = 10.0


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _timestamp(record: logging.LogRecord) -> str:
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{moment}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        plain = json.loads(json.dumps(entry, default=str))  # JSON types only, then scrub them
        return json.dumps(redact.scrub_data(plain))


class TextFormatter(logging.Formatter):
    """``time level msg key=value ...``: logfmt-like, easy to read and to grep."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname.lower(), redact.scrub(record.getMessage())]
        for key, value in _fields(record).items():
            plain = json.loads(json.dumps(value, default=str))
            parts.append(f"{key}={json.dumps(redact.scrub_data(plain))}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + redact.scrub(self.formatException(record.exc_info))
        return line


class OneLine(logging.Filter):
    """Other libraries' records: no traceback (one line), each kind at most once per interval."""

    def __init__(self, quiet: float = QUIET_SECONDS) -> None:
        super().__init__()
        self._quiet = quiet
        self._last: dict[tuple[str, str], float] = {}
        self._dropped: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == LOGGER or record.name.startswith(LOGGER + "."):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -self._quiet) < self._quiet:
            self._dropped[key] = self._dropped.get(key, 0) + 1
            return False
        if len(self._last) > 1000:  # bounded: keys come from code, but be safe
            self._last.clear()
        self._last[key] = now
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {exc.__class__.__name__}: {exc}"
            record.args, record.exc_info, record.exc_text = None, None, None
        dropped = self._dropped.pop(key, 0)
        if dropped:
            record.msg = f"{record.getMessage()} ({dropped} more like this suppressed)"
            record.args = None
        return True


def configure(*, fmt: str = "text", level: str = "info", stream: IO[str] | None = None) -> None:
    """(Re)configure logging; called at start and again when a reload changes the format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(OneLine())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Drivers log only warnings and errors; our own logger follows the configured level.
    root.setLevel(logging.WARNING)
    log.setLevel(level.upper())


def event(msg: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    log.log(level, msg, extra={"fields": fields})


def transition(comp: Component, previous: Status) -> None:
    """The line written whenever a dependency's status changes."""
    event(
        "dependency status changed",
        level=logging.WARNING if comp.status == "unhealthy" else logging.INFO,
        dependency=comp.name,
        type=comp.type,
        critical=comp.critical,
        previous=previous,
        status=comp.status,
        reason=comp.reason,
        message=comp.message,
        consecutiveFailures=comp.consecutive_failures,
    )
