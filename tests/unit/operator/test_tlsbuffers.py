"""tlsbuffers: every TLS connection of the operator gets a 64 KiB read buffer, not 256 KiB."""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Coroutine
from typing import Any

import pytest

from healthgate_operator import cli, tlsbuffers


@pytest.fixture(autouse=True)
def restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The class attribute is global: put asyncio's own value back after each test."""
    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", sslproto.SSLProtocol.max_size)


def test_a_tls_connection_made_after_shrink_keeps_the_small_buffer() -> None:
    # What asyncio reads when it makes a connection's buffer: fails on a Python that no longer
    # sizes it by this attribute, so the saving cannot silently disappear.
    tlsbuffers.shrink()
    loop = asyncio.new_event_loop()
    try:
        context = ssl.create_default_context()
        proto = sslproto.SSLProtocol(loop, asyncio.Protocol(), context, loop.create_future())
        assert len(proto.get_buffer(-1)) == tlsbuffers.READ_BUFFER == 64 * 1024
    finally:
        loop.close()


def test_the_operator_runs_with_the_small_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def run(main: Coroutine[Any, Any, None]) -> None:
        seen.append(sslproto.SSLProtocol.max_size)
        main.close()

    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.setattr(asyncio, "run", run)
    assert cli.main_entry([]) == 0
    assert seen == [tlsbuffers.READ_BUFFER]
