"""http: one request; the status must be expected and the body may have to match a regex.

Redirects are followed here, not by aiohttp: aiohttp drops only ``Authorization`` and ``Cookie``
when a redirect leaves the origin, and a configured ``X-Api-Key`` would go to whatever host a
302 names. Configured headers go only to the configured URL's origin (scheme, host, port).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from healthgate_sidecar import body_regex, redact
from healthgate_sidecar.checks import _httpclient, _jsonbody
from healthgate_sidecar.checks.base import Checker, CheckFailure, CheckType, Details, read_secret
from healthgate_sidecar.params import (
    ConfigDict,
    Field,
    Model,
    Secret,
    TlsMixin,
    env_field,
    field_error,
    field_validator,
    file_field,
    model_validator,
)

if TYPE_CHECKING:
    import aiohttp

MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTTP_METHODS = Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"]
StatusCode = Annotated[int, Field(ge=100, le=599)]


class HttpHeader(Model):
    """One request header; its value inline, from an environment variable or from a file."""

    secret_fields = (Secret("value", required=True),)

    name: str = Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", description="Header name.")
    value: str | None = Field(None, description="Header value, inline.")
    value_from_env: str | None = env_field("Environment variable holding the value.")
    value_file: str | None = file_field("File holding the value.")


class HttpAssertion(Model):
    """A condition on the JSON body: what a JSONPath selects equals a value or matches a regex."""

    # _one_expectation restated in CEL, so that the API server refuses such a gate at apply time.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.equals) && has(self.regex))",
                    "message": "only one of equals, regex may be set",
                    "fieldPath": ".regex",
                    "reason": "FieldValueInvalid",
                }
            ]
        }
    )

    json_path: str = Field(
        min_length=1,
        max_length=1024,
        description="RFC 9535 JSONPath, e.g. $.status or $.checks[*].state; it must select at "
        "least one value, and every value selected must pass (match() and search() are not "
        "available: use regex).",
    )
    equals: str | None = Field(
        None,
        max_length=1024,
        description="Expected value as text: strings as they are, numbers, booleans and null "
        'in JSON (3, true, null), e.g. "UP".',
    )
    regex: str | None = Field(
        None, max_length=1024, description="RE2 regular expression the value (as text) must match."
    )

    @field_validator("json_path")
    @classmethod
    def _path(cls, expression: str) -> str:
        try:
            _jsonbody.compile_path(expression)
        except _jsonbody.JsonPathError as exc:
            raise ValueError(f"invalid JSONPath: {exc}") from None
        return expression

    @field_validator("regex")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                body_regex.compile_pattern(pattern)
            except body_regex.RegexError as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _one_expectation(self) -> HttpAssertion:
        if self.equals is not None and self.regex is not None:
            raise field_error("regex", "only one of equals, regex may be set")
        return self


class HttpParams(TlsMixin):
    """An HTTP(S) endpoint: status code and, optionally, a body regular expression."""

    url: str = Field(pattern=r"^https?://[^/\s]+", description="http:// or https:// URL.")
    method: HTTP_METHODS = Field("GET", description="Request method.")
    headers: list[HttpHeader] = Field(default_factory=list, description="Request headers.")
    body: str | None = Field(None, description="Request body, for POST and PUT.")
    expected_status: list[StatusCode] = Field(
        default_factory=list, description="Accepted status codes; empty means any 2xx."
    )
    body_regex: str | None = Field(
        None,
        description="RE2 regular expression the body must match (searched in the first "
        "maxBodyBytes; linear time, so no backreferences or lookaround).",
    )
    assertions: list[HttpAssertion] = Field(
        default_factory=list,
        max_length=16,
        description="Conditions on the JSON body, all of which must hold; a body larger than "
        "maxBodyBytes fails them.",
    )
    max_body_bytes: int = Field(
        _httpclient.BODY_LIMIT,
        ge=1,
        le=16 << 20,
        description="Most bytes of the body read (default 1 MiB, at most 16 MiB); bodyRegex "
        "searches them, assertions need the whole body within them.",
    )
    follow_redirects: bool = Field(
        True,
        description="Follow redirects (up to 10). Configured headers are sent only to the "
        "URL's own origin (scheme, host, port), never to another one a redirect points at.",
    )

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                body_regex.compile_pattern(pattern)
            except body_regex.RegexError as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return pattern


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


async def _read(content: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """(at most ``limit`` bytes of the body, whether there was more): bounded, whatever comes."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), not content.at_eof()


async def _fetch(
    session: aiohttp.ClientSession, params: HttpParams, headers: dict[str, str]
) -> tuple[int, bytes, bool]:
    """(status, first bytes of the body, truncated) of the request, following redirects."""
    from yarl import URL  # aiohttp's; not at import (the config's validator loads this module)

    url, method, data = URL(params.url), params.method, params.body
    origin = url.origin()
    for _ in range(MAX_REDIRECTS + 1):
        sent = headers if url.origin() == origin else {}
        async with session.request(
            method, url, headers=sent, data=data, allow_redirects=False
        ) as resp:
            # Reading the (small) body lets the connection be reused by the next check.
            body, truncated = await _read(resp.content, params.max_body_bytes)
            location = resp.headers.get("Location")
            if not params.follow_redirects or resp.status not in REDIRECTS or not location:
                return resp.status, body, truncated
        url = url.join(URL(location))
        if url.scheme not in ("http", "https"):
            raise CheckFailure("status", f"redirected to a non-HTTP URL ({url.scheme})")
        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
            method, data = "GET", None  # what browsers and aiohttp do
    raise CheckFailure("status", f"more than {MAX_REDIRECTS} redirects")


def create(params: HttpParams, *, timeout: float) -> Checker:
    headers = _headers(params)
    redact.register_embedded(params.url)
    target = redact.redact_url(params.url)
    pattern = None
    if params.body_regex is not None:
        pattern = body_regex.compile_pattern(params.body_regex)
    expected = set(params.expected_status)
    assertions = tuple(
        _jsonbody.compile_assertion(a.json_path, a.equals, a.regex) for a in params.assertions
    )
    session = _httpclient.session(ca_file=params.ca_file, verify=params.tls_verify)

    import aiohttp

    async def check() -> Details:
        try:
            status, body, truncated = await _fetch(session, params, headers)
        except aiohttp.ClientError as exc:
            raise _httpclient.failure(exc) from None
        except ValueError as exc:  # a Location yarl cannot parse
            raise CheckFailure("status", f"invalid redirect: {exc}") from None
        if not (status in expected if expected else 200 <= status < 300):
            raise _httpclient.status_failure(status, target)
        # RE2: linear in the (capped) body, so no pattern can stall the event loop.
        if pattern is not None and not pattern.search(body.decode("utf-8", "replace")):
            raise CheckFailure("assertion", f"body does not match {params.body_regex!r}")
        if assertions:
            await _jsonbody.check(assertions, body, truncated=truncated)
        return {"statusCode": status, "target": target}

    return Checker(check=check, close=session.close)


CHECK_TYPE = CheckType(
    name="http", params=HttpParams, create=create, description="Settings of an http check."
)
