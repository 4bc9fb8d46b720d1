"""POST /directives over real HTTP: bounded bodies, refusals, a real Redis outage failing open."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from healthgate_sidecar import directive_format
from healthgate_sidecar.directive_format import Directive, FailOpen
from tests.env import redis
from tests.integration.sidecar.conftest import FAST, Sidecar

MakeSidecar = Callable[..., Awaitable[Sidecar]]
GATE = "gate-uid-1"
KEY = ed25519.Ed25519PrivateKey.generate()


def keys() -> dict[str, object]:
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"gate": GATE, "publicKeys": [base64.b64encode(raw).decode()]}


def signed(names: tuple[str, ...] = ("cache",), *, key: ed25519.Ed25519PrivateKey = KEY) -> bytes:
    now = time.time()
    directive = Directive(GATE, now, now + 30, tuple(FailOpen(n, 2, 2) for n in names))
    payload = directive_format.encode_payload(directive)
    return directive_format.envelope(payload, key.sign(payload))


async def post(sidecar: Sidecar, data: bytes | AsyncIterator[bytes]) -> int:
    async with sidecar.session.post(sidecar.url + directive_format.PATH, data=data) as resp:
        return resp.status


async def test_a_redis_outage_fails_open_only_by_a_genuine_directive(
    make_sidecar: MakeSidecar, make_redis: Callable[[], redis.RedisServer]
) -> None:
    server = make_redis()
    dep = {"name": "cache", "type": "redis", **FAST, "failureThreshold": 1}
    sidecar = await make_sidecar({**dep, "redis": {"url": server.url}}, directives=keys())
    await sidecar.wait(lambda: sidecar.engine.ready)
    server.stop()
    await sidecar.wait_status("cache", "unhealthy")
    assert (await sidecar.get("/readyz"))[0] == 503
    assert await post(sidecar, signed(key=ed25519.Ed25519PrivateKey.generate())) == 403
    assert (await sidecar.get("/readyz"))[0] == 503
    assert await post(sidecar, signed()) == 200
    status, text = await sidecar.get("/readyz?verbose")
    assert status == 200
    assert "[~]cache failing open: unhealthy in 2/2 pods" in text
    _, metrics = await sidecar.get("/metrics")
    assert 'healthgate_directives_received_total{result="forged"} 1.0' in metrics
    assert 'healthgate_directives_received_total{result="accepted"} 1.0' in metrics
    server.start()
    await sidecar.wait_status("cache", "healthy")
    assert await post(sidecar, signed(())) == 200  # the operator ends it
    assert sidecar.engine.fail_open == {}


async def test_bodies_are_bounded_even_without_a_length(make_sidecar: MakeSidecar) -> None:
    sidecar = await make_sidecar(directives=keys())

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b" " * 1024

    assert await post(sidecar, chunks()) == 413
    assert await post(sidecar, b" " * (directive_format.MAX_BODY + 1)) == 413
    assert await post(sidecar, b"{}") == 400
    assert (await sidecar.get("/livez"))[0] == 200


async def test_without_directive_settings_every_directive_is_refused(
    make_sidecar: MakeSidecar,
) -> None:
    sidecar = await make_sidecar()
    assert await post(sidecar, signed()) == 403
    async with aiohttp.ClientSession() as session, session.get(sidecar.url + "/readyz") as resp:
        assert resp.status == 200
