"""Structured logs: JSON lines, a line per transition, secrets scrubbed from every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from healthgate_sidecar import logs, redact
from healthgate_sidecar.state import Component, Result


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs.log.level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logs.log.setLevel(saved[2])


def test_json_lines_with_fields(stream: io.StringIO) -> None:
    logs.configure(fmt="json", level="info", stream=stream)
    logs.event("listening", port=8086)
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "listening"
    assert entry["port"] == 8086
    assert entry["level"] == "info"
    assert entry["time"].endswith("Z")


def test_a_line_per_status_transition(stream: io.StringIO) -> None:
    logs.configure(fmt="json", level="info", stream=stream)
    comp = Component(name="cache", type="redis", failure_threshold=1)
    for result in (Result(True, "ok", "ok", 0.01, 1), Result(False, "timeout", "slow", 2, 2)):
        previous = comp.record(result)
        assert previous is not None
        logs.transition(comp, previous)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["previous"], first["status"], first["level"]) == ("unknown", "healthy", "info")
    assert (second["status"], second["reason"], second["level"]) == (
        "unhealthy",
        "timeout",
        "warning",
    )
    assert second["dependency"] == "cache"


def test_secrets_are_scrubbed_from_any_logger(stream: io.StringIO) -> None:
    logs.configure(fmt="text", level="info", stream=stream)
    redact.register_secret("log-Canary-Secret")
    logs.event("oops", error="bad log-Canary-Secret")
    logging.getLogger("neo4j").error("connect to bolt://u:driver-Pw@h failed")
    try:
        raise ValueError("traceback log-Canary-Secret")
    except ValueError:
        logs.log.exception("with a traceback")
    text = stream.getvalue()
    assert "log-Canary-Secret" not in text
    assert "driver-Pw" not in text
    assert "bolt://***@h" in text


def test_level_filters_our_logger(stream: io.StringIO) -> None:
    logs.configure(fmt="text", level="warning", stream=stream)
    logs.event("quiet")
    logs.event("loud", level=logging.WARNING)
    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()
