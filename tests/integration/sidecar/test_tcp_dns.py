"""The tcp and dns checks: open and closed ports, TLS certificate days, local and system DNS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.env import common
from tests.integration.sidecar.conftest import FAST, Sidecar, Tls

MakeSidecar = Callable[..., Awaitable[Sidecar]]


@pytest.fixture
async def tls_port(tls: Tls) -> AsyncIterator[int]:
    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls.server_context())
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def tcp(**block: object) -> dict[str, object]:
    return {"name": "port", "type": "tcp", **FAST, "tcp": block}


async def test_open_port(make_sidecar: MakeSidecar, redis_server: object) -> None:
    port = getattr(redis_server, "port")  # noqa: B009 - any real listening server will do
    sidecar = await make_sidecar(tcp(host="127.0.0.1", port=port))
    await sidecar.wait_status("port", "healthy")
    assert sidecar.component("port").details == {"target": f"127.0.0.1:{port}"}


async def test_closed_port(make_sidecar: MakeSidecar) -> None:
    sidecar = await make_sidecar(tcp(host="127.0.0.1", port=common.free_port()))
    await sidecar.wait_status("port", "unhealthy")
    assert sidecar.component("port").reason == "connect"


async def test_tls_certificate_days(make_sidecar: MakeSidecar, tls_port: int, tls: Tls) -> None:
    sidecar = await make_sidecar(
        tcp(host="127.0.0.1", port=tls_port, tls=True, caFile=str(tls.cert))
    )
    await sidecar.wait_status("port", "healthy")
    details = sidecar.component("port").details
    assert details["certNotAfter"] == tls.not_after.isoformat()
    assert 29 < float(details["certDaysLeft"] or 0) <= 30


async def test_tls_untrusted(make_sidecar: MakeSidecar, tls_port: int) -> None:
    sidecar = await make_sidecar(tcp(host="127.0.0.1", port=tls_port, tls=True))
    await sidecar.wait_status("port", "unhealthy")
    assert sidecar.component("port").reason == "tls"


async def test_tls_days_without_verification(make_sidecar: MakeSidecar, tls_port: int) -> None:
    sidecar = await make_sidecar(tcp(host="127.0.0.1", port=tls_port, tls=True, tlsVerify=False))
    await sidecar.wait_status("port", "healthy")
    assert "certDaysLeft" in sidecar.component("port").details


def dns(**block: object) -> dict[str, object]:
    return {"name": "resolver", "type": "dns", **FAST, "dns": block}


async def test_dns_record_present(make_sidecar: MakeSidecar, dns_server: int) -> None:
    block = {"name": "svc.healthgate.test", "nameservers": ["127.0.0.1"], "port": dns_server}
    sidecar = await make_sidecar(dns(**block))
    await sidecar.wait_status("resolver", "healthy")
    details = sidecar.component("resolver").details
    assert (details["records"], details["answer"], details["ttl"]) == (1, "127.0.0.1", 30)


async def test_dns_record_type_missing(make_sidecar: MakeSidecar, dns_server: int) -> None:
    block = {"name": "svc.healthgate.test", "recordType": "AAAA", "nameservers": ["127.0.0.1"],
             "port": dns_server}  # fmt: skip
    sidecar = await make_sidecar(dns(**block))
    await sidecar.wait_status("resolver", "unhealthy")
    comp = sidecar.component("resolver")
    assert (comp.reason, comp.message) == ("dns", "svc.healthgate.test has no AAAA record")


async def test_dns_nxdomain_from_local_server(make_sidecar: MakeSidecar, dns_server: int) -> None:
    block = {"name": "nope.healthgate.test", "nameservers": ["127.0.0.1"], "port": dns_server}
    sidecar = await make_sidecar(dns(**block))
    await sidecar.wait_status("resolver", "unhealthy")
    assert sidecar.component("resolver").reason == "dns"


async def test_dns_silent_server_is_timeout(make_sidecar: MakeSidecar) -> None:
    loop = asyncio.get_running_loop()
    # A UDP socket that never answers.
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        sidecar = await make_sidecar(dns(name="x.test", nameservers=["127.0.0.1"], port=port))
        await sidecar.wait_status("resolver", "unhealthy")
        assert sidecar.component("resolver").reason == "timeout"
    finally:
        transport.close()
