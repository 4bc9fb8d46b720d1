"""oidc: discovery document, issuer, signing keys (JWKS); optionally a client-credentials token.

What an app's OIDC client library does at start-up, so what breaks its logins when it fails:
fetch ``<issuer>/.well-known/openid-configuration``, require its ``issuer`` to equal the
configured one exactly (OpenID Connect Discovery 1.0, section 4.3), and fetch ``jwks_uri``,
which must hold at least one key. Details: the key count and the days until the soonest
``x5c`` certificate expires, when the provider publishes certificates.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from healthgate_sidecar import redact
from healthgate_sidecar.checks import _httpclient
from healthgate_sidecar.checks.base import Checker, CheckFailure, CheckType, Details, read_secret
from healthgate_sidecar.checks.tcp import not_after
from healthgate_sidecar.params import Field, Model, Secret, TlsMixin, env_field, file_field

if TYPE_CHECKING:
    import aiohttp

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_CERTIFICATES = 32  # parsed per check: a JWKS is small, but it comes from the network
# RFC 6749 5.2 error codes are [\x20-\x21\x23-\x5B\x5D-\x7E]; we show only plain word codes.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class OidcClientCredentials(Model):
    """A client that asks the token endpoint for a token (client-credentials grant)."""

    secret_fields = (Secret("client_secret", required=True),)

    client_id: str = Field(min_length=1, max_length=256, description="Client id.")
    client_secret_from_env: str | None = env_field(
        "Environment variable holding the client secret."
    )
    client_secret_file: str | None = file_field("File holding the client secret.")
    scope: str | None = Field(
        None, min_length=1, max_length=1024, description="Space-separated scopes to request."
    )


class OidcParams(TlsMixin):
    """An OpenID Provider: discovery document, issuer, signing keys; optionally a token grant."""

    issuer: str = Field(
        pattern=r"^https?://[^/\s]+",
        description="Issuer URL, exactly as the provider announces it (a trailing slash "
        "counts); /.well-known/openid-configuration is appended.",
    )
    client_credentials: OidcClientCredentials | None = Field(
        None,
        description="Also request a token with the client-credentials grant (HTTP Basic "
        "client authentication): proves the client and its secret are accepted. The token is "
        "discarded.",
    )


async def _get_json(session: aiohttp.ClientSession, url: str, what: str) -> dict[str, Any]:
    import aiohttp  # not at import: the config's validator loads every type module

    try:
        async with session.get(url, headers={"Accept": "application/json"}) as resp:
            body = await resp.content.read(_httpclient.BODY_LIMIT)
            status = resp.status
    except aiohttp.ClientError as exc:
        raise _httpclient.failure(exc) from None
    if not 200 <= status < 300:
        raise _httpclient.status_failure(status, what)
    return _json_object(body, what)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise CheckFailure("assertion", f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise CheckFailure("assertion", f"{what} is not a JSON object")
    return data


def _endpoint(document: dict[str, Any], name: str) -> str:
    url = document.get(name)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise CheckFailure("assertion", f"the discovery document has no valid {name}")
    return url


def _key_details(jwks: dict[str, Any]) -> Details:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise CheckFailure("assertion", "the JWKS holds no keys")
    soonest: float | None = None
    chains = [k["x5c"] for k in keys if isinstance(k, dict) and isinstance(k.get("x5c"), list)]
    # The first certificate of a chain is the key's own (RFC 7517 4.7): the one that expires.
    for chain in chains[:MAX_CERTIFICATES]:
        try:
            expires = not_after(base64.b64decode(chain[0], validate=True)).timestamp()
        except (IndexError, TypeError, ValueError, binascii.Error):
            continue  # an unparsable certificate is the provider's business, not a failure
        soonest = expires if soonest is None else min(soonest, expires)
    details: Details = {"keys": len(keys)}
    if soonest is not None:
        details["certDaysLeft"] = round((soonest - time.time()) / 86400, 1)
    return details


def create(params: OidcParams, *, timeout: float) -> Checker:
    session = _httpclient.session(ca_file=params.ca_file, verify=params.tls_verify)
    discovery = params.issuer.rstrip("/") + DISCOVERY_PATH
    target = redact.redact_url(params.issuer)
    grant = _token_grant(params, session)

    async def check() -> Details:
        document = await _get_json(session, discovery, "the discovery document")
        announced = document.get("issuer")
        if announced != params.issuer:
            shown = redact.truncate(str(announced), 200)
            raise CheckFailure("assertion", f"issuer mismatch: the provider announces {shown}")
        jwks = await _get_json(session, _endpoint(document, "jwks_uri"), "the JWKS")
        details: Details = {"target": target, **_key_details(jwks)}
        if grant is not None:
            await grant(_endpoint(document, "token_endpoint"))
            details["tokenGrant"] = "ok"
        return details

    return Checker(check=check, close=session.close)


def _token_grant(
    params: OidcParams, session: aiohttp.ClientSession
) -> Callable[[str], Awaitable[None]] | None:
    """The client-credentials request, or None; the secret is read (and registered) now."""
    client = params.client_credentials
    if client is None:
        return None
    secret = read_secret(
        value=None, from_env=client.client_secret_from_env, file=client.client_secret_file
    )
    # RFC 6749 2.3.1: both halves are form-encoded before the Basic encoding.
    pair = f"{quote_plus(client.client_id)}:{quote_plus(secret or '')}"
    authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    redact.register_secret(authorization.removeprefix("Basic "))
    headers = {"Authorization": authorization, "Accept": "application/json"}
    form = {"grant_type": "client_credentials", **({"scope": client.scope} if client.scope else {})}

    import aiohttp

    async def request(token_endpoint: str) -> None:
        try:
            # No redirects: the client's credentials go to the announced endpoint or nowhere.
            async with session.post(
                token_endpoint, data=form, headers=headers, allow_redirects=False
            ) as resp:
                body = await resp.content.read(_httpclient.BODY_LIMIT)
                status = resp.status
        except aiohttp.ClientError as exc:
            raise _httpclient.failure(exc) from None
        if 200 <= status < 300:
            if "access_token" not in _json_object(body, "the token response"):
                raise CheckFailure("assertion", "the token response has no access_token")
            return  # the token itself is dropped unread: it is a credential
        _token_error(status, body)

    return request


def _token_error(status: int, body: bytes) -> None:
    """Raise the failure of a refused token request, showing only its RFC 6749 error code."""
    try:
        code = json.loads(body).get("error")
    except (ValueError, AttributeError):
        code = None
    shown = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
    if status == 401 or shown in _CLIENT_ERRORS:
        raise CheckFailure("auth", f"the token endpoint refused the client ({shown or status})")
    raise CheckFailure("status", f"the token endpoint answered {status} ({shown or 'no error'})")


CHECK_TYPE = CheckType(
    name="oidc", params=OidcParams, create=create, description="Settings of an oidc check."
)
