"""The loop's name lookups: coalesced per query, never queued behind another's hang (item 5).

``socket.getaddrinfo`` is replaced by a fake that hangs on chosen names until released, so
these tests do no I/O; the real resolver is exercised in tests/integration/sidecar.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from healthgate_sidecar import lookups

ADDRESS = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]


class FakeResolver:
    """Hangs on names starting with ``hang`` until released; fails ``bad``; counts calls."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []

    def __call__(self, host: str, *_: Any) -> list[tuple[Any, ...]]:
        self.calls.append(host)
        if host.startswith("hang"):
            self.release.wait(30)
        if host == "bad":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ADDRESS


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResolver]:
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()


async def test_hung_lookups_do_not_delay_another(resolver: FakeResolver) -> None:
    lookup = lookups.Lookups(asyncio.get_running_loop())
    # More than asyncio's default executor ever has: each hangs in a thread of its own.
    hung = [asyncio.create_task(lookup.getaddrinfo(f"hang-{i}", 80)) for i in range(40)]
    await asyncio.sleep(0)
    async with asyncio.timeout(10):  # a deadlock guard, not a speed assertion
        assert await lookup.getaddrinfo("critical", 80) == ADDRESS
    assert not any(task.done() for task in hung)
    resolver.release.set()
    assert await asyncio.gather(*hung) == [ADDRESS] * 40


async def test_one_lookup_in_flight_per_query(resolver: FakeResolver) -> None:
    lookup = lookups.Lookups(asyncio.get_running_loop())
    waiters = [asyncio.create_task(lookup.getaddrinfo("hang", 80)) for _ in range(5)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # a check timing out leaves the lookup to the others
    resolver.release.set()
    assert await asyncio.gather(*waiters[1:]) == [ADDRESS] * 4
    assert resolver.calls == ["hang"]
    assert await lookup.getaddrinfo("hang", 80) == ADDRESS  # settled: the next one asks again
    assert resolver.calls == ["hang", "hang"]


async def test_a_failed_lookup_raises_gaierror(resolver: FakeResolver) -> None:
    lookup = lookups.Lookups(asyncio.get_running_loop())
    with pytest.raises(socket.gaierror, match="not known"):
        await lookup.getaddrinfo("bad", 80)


async def test_names_in_flight_are_capped(
    resolver: FakeResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookups, "MAX_IN_FLIGHT", 2)
    lookup = lookups.Lookups(asyncio.get_running_loop())
    hung = [asyncio.create_task(lookup.getaddrinfo(f"hang-{i}", 80)) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(socket.gaierror, match="too many"):
        await lookup.getaddrinfo("hang-2", 80)
    resolver.release.set()
    await asyncio.gather(*hung)


async def test_install_routes_the_loops_lookups_once(resolver: FakeResolver) -> None:
    loop = asyncio.get_running_loop()
    lookups.install()
    installed = loop.getaddrinfo
    lookups.install()
    assert loop.getaddrinfo == installed
    assert isinstance(getattr(installed, "__self__", None), lookups.Lookups)
    assert await loop.getaddrinfo("somewhere", 80) == ADDRESS
    assert resolver.calls == ["somewhere"]
