"""http: one request; the status must be expected and the body may have to match a regex.

Redirects are followed here, not by aiohttp: aiohttp drops only ``Authorization`` and ``Cookie``
when a redirect leaves the origin, and a configured ``X-Api-Key`` would go to whatever host a
302 names. Configured headers go only to the configured URL's origin (scheme, host, port).
"""

from __future__ import annotations

import aiohttp
from yarl import URL

from healthgate_sidecar import body_regex, redact
from healthgate_sidecar.checks import _httpclient
from healthgate_sidecar.checks.base import CheckFailure, Details, Prober, read_secret
from healthgate_sidecar.contract import HttpParams

MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _headers(params: HttpParams) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header in params.headers:
        value = read_secret(
            value=header.value, from_env=header.value_from_env, file=header.value_file
        )
        # Any header may carry a credential (Authorization, X-Api-Key, cookies...): read_secret
        # has registered every value with redact already.
        headers[header.name] = value or ""
    return headers


async def _fetch(
    session: aiohttp.ClientSession, params: HttpParams, headers: dict[str, str]
) -> tuple[int, bytes]:
    """(status, first bytes of the body) of the request, following redirects if asked."""
    url, method, data = URL(params.url), params.method, params.body
    origin = url.origin()
    for _ in range(MAX_REDIRECTS + 1):
        sent = headers if url.origin() == origin else {}
        async with session.request(
            method, url, headers=sent, data=data, allow_redirects=False
        ) as resp:
            # Reading the (small) body lets the connection be reused by the next check.
            body = await resp.content.read(_httpclient.BODY_LIMIT)
            location = resp.headers.get("Location")
            if not params.follow_redirects or resp.status not in REDIRECTS or not location:
                return resp.status, body
        url = url.join(URL(location))
        if url.scheme not in ("http", "https"):
            raise CheckFailure("status", f"redirected to a non-HTTP URL ({url.scheme})")
        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
            method, data = "GET", None  # what browsers and aiohttp do
    raise CheckFailure("status", f"more than {MAX_REDIRECTS} redirects")


def create(params: HttpParams, *, timeout: float) -> Prober:
    headers = _headers(params)
    redact.register_embedded(params.url)
    target = redact.redact_url(params.url)
    pattern = None
    if params.body_regex is not None:
        pattern = body_regex.compile_pattern(params.body_regex)
    expected = set(params.expected_status)
    session = _httpclient.session(ca_file=params.ca_file, verify=params.tls_verify)

    async def check() -> Details:
        try:
            status, body = await _fetch(session, params, headers)
        except aiohttp.ClientError as exc:
            raise _httpclient.failure(exc) from None
        except ValueError as exc:  # a Location yarl cannot parse
            raise CheckFailure("status", f"invalid redirect: {exc}") from None
        if not (status in expected if expected else 200 <= status < 300):
            raise _httpclient.status_failure(status, target)
        # RE2: linear in the (capped) body, so no pattern can stall the event loop.
        if pattern is not None and not pattern.search(body.decode("utf-8", "replace")):
            raise CheckFailure("assertion", f"body does not match {params.body_regex!r}")
        return {"statusCode": status, "target": target}

    return Prober(check=check, close=session.close)
