"""Shared by the http and llm checks: one aiohttp session per dependency, error mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthgate_sidecar.checks.base import CheckFailure, failure_from, ssl_context

if TYPE_CHECKING:
    import ssl

    import aiohttp

BODY_LIMIT = 1 << 20
# One context per (CA file, verify): loading CAs costs memory, and 50 checks may share them.
_contexts: dict[tuple[str | None, bool], ssl.SSLContext] = {}


def session(*, ca_file: str | None, verify: bool) -> aiohttp.ClientSession:
    """A session reusing keep-alive connections; its timeouts are the engine's business."""
    import aiohttp  # not at import: the config's validator loads every type module

    tls: ssl.SSLContext | bool = True  # aiohttp's shared default context
    if ca_file is not None or not verify:
        key = (ca_file, verify)
        if key not in _contexts:
            _contexts[key] = ssl_context(ca_file=ca_file, verify=verify)
        tls = _contexts[key]
    # aiohttp picks aiodns when some other package installed it: resolve through the loop's
    # ``getaddrinfo`` (see :mod:`healthgate_sidecar.lookups`) whatever the environment holds.
    resolver = aiohttp.ThreadedResolver()
    connector = aiohttp.TCPConnector(ssl=tls, limit=2, ttl_dns_cache=10, resolver=resolver)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),  # a probe must not carry state between runs
        trust_env=False,
    )


def failure(exc: aiohttp.ClientError) -> CheckFailure:
    """Map an aiohttp error to a reason (its text names the host, never our headers)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return CheckFailure("tls", str(exc))
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return CheckFailure("dns", str(exc))
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return CheckFailure("timeout", str(exc))
    if isinstance(exc, aiohttp.ClientConnectionError):
        found = failure_from(exc)
        return found if found.reason != "error" else CheckFailure("connect", str(exc))
    return failure_from(exc, reason="error")


def status_failure(status: int, what: str) -> CheckFailure:
    if status in (401, 403):
        return CheckFailure("auth", f"{what} answered {status}: credentials rejected")
    return CheckFailure("status", f"{what} answered unexpected status {status}")
