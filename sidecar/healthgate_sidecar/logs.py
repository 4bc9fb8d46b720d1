"""Structured logs: text or JSON lines on stderr, a line per status transition, never secrets.

Every line goes through :func:`redact.scrub` in the formatter, whatever logger wrote it, so a
driver that puts a DSN in an exception cannot leak it either.
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
        return redact.scrub(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    """``time level msg key=value ...``: logfmt-like, easy to read and to grep."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname.lower(), record.getMessage()]
        parts += [f"{k}={json.dumps(v, default=str)}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact.scrub(line)


def configure(*, fmt: str = "text", level: str = "info", stream: IO[str] | None = None) -> None:
    """(Re)configure logging; called at start and again when a reload changes the format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
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
