"""Helpers for the sidecar integration tests: the sidecar served over real HTTP, local targets.

The sidecar runs in-process behind a real aiohttp server on a free loopback port; the targets are
real servers too: the session's Redis/PostgreSQL/Neo4j fixtures, and local aiohttp, TLS and DNS
servers on port 0 that misbehave on purpose (slow, 500, wrong body, flapping, rate limited).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import aiohttp
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from healthgate_sidecar import contract, engine, server
from healthgate_sidecar.state import Component
from tests.env import pki

FAST = {"intervalSeconds": 0.3, "timeoutSeconds": 0.2}
# The sidecar's first log line once it serves; with --port 0 it names the port the kernel chose.
LISTENING = re.compile(r'listening host="127\.0\.0\.1" port=(\d+) ')


@dataclass
class Sidecar:
    """The sidecar app behind a real HTTP server."""

    url: str
    app: web.Application
    registry: CollectorRegistry
    session: aiohttp.ClientSession

    @property
    def engine(self) -> engine.Engine:
        return self.app[server.ENGINE]

    def component(self, name: str) -> Component:
        return self.engine.runners[name].component

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        async with self.session.get(self.url + path, headers=headers) as resp:
            return resp.status, await resp.text()

    async def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> float:
        began = time.monotonic()
        while not predicate():
            if time.monotonic() - began > timeout:
                states = {c.name: (c.status, c.reason, c.message) for c in self.engine.components()}
                raise AssertionError(f"not within {timeout}s; components: {states}")
            await asyncio.sleep(0.02)
        return time.monotonic() - began

    async def wait_status(self, name: str, status: str, timeout: float = 10.0) -> float:
        return await self.wait(lambda: self.component(name).status == status, timeout)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # The app points logging at the current (captured) stderr; the next test gets its own.
    root = logging.getLogger()
    saved = list(root.handlers)
    yield
    root.handlers[:] = saved


@pytest.fixture
async def make_sidecar() -> AsyncIterator[Callable[..., Awaitable[Sidecar]]]:
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def make(
        *deps: dict[str, Any], config_path: Path | None = None, **settings: Any
    ) -> Sidecar:
        config = contract.parse_config({"dependencies": list(deps), "jitter": 0, **settings})
        registry = CollectorRegistry()
        app = server.create_app(config, registry=registry, config_path=config_path)
        test_server = TestServer(app, host="127.0.0.1", port=0)
        await test_server.start_server()
        session = aiohttp.ClientSession()
        started.append((test_server, session))
        return Sidecar(str(test_server.make_url("")).rstrip("/"), app, registry, session)

    yield make
    for test_server, session in started:
        await session.close()
        await test_server.close()


@dataclass
class Target:
    """A local HTTP server whose routes misbehave on purpose; ``seen`` records request headers."""

    url: str
    seen: list[dict[str, str]] = field(default_factory=list)
    flaps: int = 0


def _target_app(target: Target) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        target.seen.append(dict(request.headers))
        return web.Response(text='{"status": "up"}')

    async def error(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return web.Response(text="late")

    async def flap(_: web.Request) -> web.Response:
        target.flaps += 1
        return web.Response(status=200 if target.flaps % 2 else 503)

    async def models(request: web.Request) -> web.Response:
        target.seen.append(dict(request.headers))
        if request.headers.get("Authorization") != "Bearer sk-llm-Canary-5e9a":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        headers = {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
        }
        data = {"object": "list", "data": [{"id": "gpt-4o-mini"}, {"id": "llama-3.1-8b"}]}
        return web.json_response(data, headers=headers)

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    async def status_json(request: web.Request) -> web.Response:
        # A Spring Boot Actuator style health body; ?pad=N adds N bytes to make it big.
        pad = "x" * int(request.query.get("pad", "0"))
        checks = [{"name": "db", "state": "UP"}, {"name": "queue", "state": "UP"}]
        data = {"status": "UP", "version": 3, "ready": True, "checks": checks, "pad": pad}
        return web.json_response(data)

    async def limited(_: web.Request) -> web.Response:
        return web.json_response({"error": "rate limited"}, status=429)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/500", error)
    app.router.add_get("/slow", slow)
    app.router.add_get("/flap", flap)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/limited/models", limited)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/html/models", html)
    return app


async def _serve(
    app: web.Application, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@pytest.fixture
async def http_target() -> AsyncIterator[Target]:
    target = Target(url="")
    runner, target.url = await _serve(_target_app(target))
    yield target
    await runner.cleanup()


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    not_after: dt.datetime

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    """A self-signed certificate for 127.0.0.1 expiring in 30 days."""
    not_after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    cert, key = pki.self_signed("127.0.0.1", not_after=not_after, hosts=("127.0.0.1",), ca=True)
    pair = pki.write_pair(cert, key, tmp_path, "tls")
    return Tls(pair.cert, pair.key, not_after)


@pytest.fixture
async def https_target(tls: Tls) -> AsyncIterator[Target]:
    target = Target(url="")
    runner, target.url = await _serve(_target_app(target), tls.server_context())
    yield target
    await runner.cleanup()


class _DnsProtocol(asyncio.DatagramProtocol):
    """Answers A queries for ``svc.healthgate.test.`` with 127.0.0.1, NXDOMAIN for the rest."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (In 3.11 the selector's datagram transport does not subclass DatagramTransport.)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(dns_answer(data), addr)


def dns_answer(data: bytes) -> bytes:
    """The tests' DNS server: ``svc.healthgate.test.`` A is 127.0.0.1, other names NXDOMAIN."""
    query = dns.message.from_wire(data)
    reply = dns.message.make_response(query)
    question = query.question[0]
    if question.name.to_text() == "svc.healthgate.test.":
        if question.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text(question.name, 30, "IN", "A", "127.0.0.1"))
    else:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    wire: bytes = reply.to_wire()
    return wire


@pytest.fixture
async def dns_server() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_DnsProtocol, local_addr=("127.0.0.1", 0))
    yield transport.get_extra_info("sockname")[1]
    transport.close()


# Checks that may still fail once a restarted server is ready: the one already running, and one
# more for a client that learns of the broken connection only when it uses it.
RECOVERY_CHECKS = 2


class Restartable(Protocol):
    """A test server that can go down and come back on the same port (tests/env's servers)."""

    def stop(self) -> None: ...

    def start(self) -> None: ...


async def outage_then_recovery(
    sidecar: Sidecar,
    name: str,
    server: Restartable,
    *,
    reason: str,
    down_checks: int = 1,
    timeout: float = 15.0,
) -> None:
    """Healthy; ``server`` stops: unhealthy with ``reason``; it starts again (same port): healthy
    within :data:`RECOVERY_CHECKS` checks, in the same sidecar (its client must reconnect).

    ``down_checks``: the outage lasts that many failed checks, long enough for a client's own
    reconnect back-off to grow (gRPC's: 1 s, x1.6 per attempt). Recovery is bounded in checks,
    not seconds. The server stops and starts in a thread: the sidecar runs on this event loop
    and keeps checking meanwhile, as it does while a real dependency restarts.
    """
    await sidecar.wait_status(name, "healthy", timeout=timeout)
    await asyncio.to_thread(server.stop)
    await sidecar.wait_status(name, "unhealthy", timeout=timeout)
    assert sidecar.component(name).reason == reason, sidecar.component(name).message
    await sidecar.wait(lambda: sidecar.component(name).consecutive_failures >= down_checks)
    await asyncio.to_thread(server.start)
    bound = sidecar.component(name).consecutive_failures + RECOVERY_CHECKS
    await sidecar.wait(
        lambda: (
            sidecar.component(name).status == "healthy"
            or sidecar.component(name).consecutive_failures > bound
        ),
        timeout=timeout,
    )
    comp = sidecar.component(name)
    assert comp.status == "healthy", (
        f"{RECOVERY_CHECKS} checks failed with the server back: {comp.reason}: {comp.message}"
    )


def assert_no_secret(secret: str, *outputs: str) -> None:
    for index, output in enumerate(outputs):
        assert secret not in output, f"secret leaked in output #{index}"


CLI = [sys.executable, "-m", "healthgate_sidecar.cli"]


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:  # noqa: S310
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10) -> float:
        began = time.monotonic()
        while not predicate():
            assert time.monotonic() - began < timeout, self.log.read_text()[-3000:]
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.05)
        return time.monotonic() - began

    def metric(self, name: str) -> float | None:
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(config: Path, *, wrap: Sequence[str] = (), **popen: Any) -> Served:
        log = tmp_path / f"sidecar-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *wrap,
                    *CLI,
                    "serve",
                    "--config",
                    str(config),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",  # the kernel picks a free port: no race with another process
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                **popen,
            )
        served = Served(proc, "", log)
        started.append(served)
        served.wait(lambda: LISTENING.search(log.read_text()) is not None, timeout=20)
        match = LISTENING.search(log.read_text())
        assert match is not None
        served.url = f"http://127.0.0.1:{match[1]}"
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


def env_config(*names: str, **settings: object) -> str:
    deps = [
        {"name": n.lower().replace("_", "-"), "type": "env", "intervalSeconds": 0.2,
         "timeoutSeconds": 0.1, "env": {"names": [n]}}
        for n in names
    ]  # fmt: skip
    return json.dumps({"dependencies": deps, "watchIntervalSeconds": 0.2, **settings})
