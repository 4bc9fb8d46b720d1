"""KeptClient: one client reused between checks, replaced after a failure or when it closed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from healthgate_sidecar.checks.base import KeptClient


@dataclass
class Conn:
    number: int
    open: bool = True


class Pool:
    """Hands out numbered connections and records which ones were closed."""

    def __init__(self) -> None:
        self.made: list[Conn] = []
        self.closed: list[int] = []

    async def connect(self) -> Conn:
        self.made.append(Conn(len(self.made) + 1))
        return self.made[-1]

    async def close(self, conn: Conn) -> None:
        self.closed.append(conn.number)

    def kept(self) -> KeptClient[Conn]:
        return KeptClient(self.connect, self.close, usable=lambda conn: conn.open)


async def test_one_client_serves_every_check() -> None:
    pool = Pool()
    kept = pool.kept()
    for _ in range(3):
        async with kept.using() as conn:
            assert conn.number == 1
    await kept.drop()
    assert pool.closed == [1]


@pytest.mark.parametrize("error", [ConnectionResetError("reset"), asyncio.CancelledError()])
async def test_a_failure_or_a_cancel_drops_the_client(error: BaseException) -> None:
    pool = Pool()
    kept = pool.kept()
    with pytest.raises(type(error)):
        async with kept.using():
            raise error
    assert pool.closed == [1]
    async with kept.using() as conn:
        assert conn.number == 2


async def test_a_client_closed_under_us_is_closed_and_replaced() -> None:
    # The server hung up between two checks: what is left of the old client is released.
    pool = Pool()
    kept = pool.kept()
    async with kept.using() as conn:
        conn.open = False
    async with kept.using() as conn:
        assert conn.number == 2
    assert pool.closed == [1]
