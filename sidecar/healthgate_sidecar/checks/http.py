"""http: one request; the status must be expected and the body may have to match a regex."""

from __future__ import annotations

import re

import aiohttp

from healthgate_sidecar import redact
from healthgate_sidecar.checks import _httpclient
from healthgate_sidecar.checks.base import CheckFailure, Details, Prober, read_secret
from healthgate_sidecar.contract import HttpParams


def _headers(params: HttpParams) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header in params.headers:
        value = read_secret(
            value=header.value, from_env=header.value_from_env, file=header.value_file
        )
        headers[header.name] = value or ""
        if value:
            # Any header may carry a credential (Authorization, X-Api-Key, cookies...).
            redact.register_secret(value)
    return headers


def create(params: HttpParams, *, timeout: float) -> Prober:
    headers = _headers(params)
    redact.register_embedded(params.url)
    target = redact.redact_url(params.url)
    pattern = re.compile(params.body_regex) if params.body_regex is not None else None
    expected = set(params.expected_status)
    session = _httpclient.session(ca_file=params.ca_file, verify=params.tls_verify)

    async def check() -> Details:
        try:
            async with session.request(
                params.method,
                params.url,
                headers=headers,
                data=params.body,
                allow_redirects=params.follow_redirects,
                max_redirects=10,
            ) as resp:
                # Reading the (small) body lets the connection be reused by the next check.
                body = await resp.content.read(_httpclient.BODY_LIMIT)
                status = resp.status
        except aiohttp.ClientError as exc:
            raise _httpclient.failure(exc) from None
        if not (status in expected if expected else 200 <= status < 300):
            raise _httpclient.status_failure(status, target)
        if pattern is not None and not pattern.search(body.decode("utf-8", "replace")):
            raise CheckFailure("assertion", f"body does not match {pattern.pattern!r}")
        return {"statusCode": status, "target": target}

    return Prober(check=check, close=session.close)
