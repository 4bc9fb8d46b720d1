"""Per-type parameter blocks of the config contract (re-exported by :mod:`contract`).

Kept apart from ``contract.py`` only for size; the operator and users import
``healthgate_sidecar.contract``. Nothing here imports a driver: loading the schema must not
pull in redis, neo4j or psycopg.

Secret naming rule (the operator maps a CRD ``xFrom: {secretKeyRef}`` to ``xFromEnv``): a
secret-bearing field ``x`` has the alternatives ``xFromEnv`` (name of an environment variable)
and ``xFile`` (path of a file); at most one of the set may be given, exactly one where the value
is required.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from healthgate_sidecar import body_regex

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
HTTP_METHODS = Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"]
RECORD_TYPES = Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"]
StatusCode = Annotated[int, Field(ge=100, le=599)]
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("not an IP address") from None
    return value


IpAddress = Annotated[str, AfterValidator(_ip_address)]


class Model(BaseModel):
    """Base of every contract model: camelCase keys, unknown keys rejected, immutable."""

    # frozen: a reload compares old and new dependencies with ``==`` to keep unchanged state.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error that names the offending sub-field (``ctx.field``), for precise paths."""
    return PydanticCustomError("healthgate", "{message}", {"field": field, "message": message})


def require_one(model: BaseModel, fields: list[str], *, required: bool) -> None:
    """Enforce "exactly one of" (``required``) or "at most one of" a secret's alternatives."""
    given = [f for f in fields if getattr(model, f) is not None]
    aliases = [to_camel(f) for f in fields]
    if len(given) > 1:
        raise field_error(to_camel(given[1]), f"only one of {', '.join(aliases)} may be set")
    if required and not given:
        raise field_error(aliases[0], f"one of {', '.join(aliases)} is required")


def _env(description: str) -> Any:
    return Field(None, pattern=ENV_NAME_PATTERN, description=description)


def _file(description: str) -> Any:
    return Field(None, min_length=1, description=description)


class TlsMixin(Model):
    """TLS settings shared by the types that speak TLS."""

    ca_file: str | None = Field(
        None, min_length=1, description="PEM file of CA certificates trusted for the server."
    )
    tls_verify: bool = Field(
        True, description="Verify the server certificate and name. Turn off only for tests."
    )


class RedisParams(TlsMixin):
    """A Redis server: PING-equivalent INFO, optionally a SET/GET/DEL round trip."""

    url: str | None = Field(
        None,
        pattern=r"^rediss?://",
        description="redis:// or rediss:// (TLS) URL; may hold a password, redacted in output.",
    )
    url_from_env: str | None = _env("Environment variable holding the URL.")
    url_file: str | None = _file("File holding the URL.")
    password_from_env: str | None = _env(
        "Environment variable holding the password (overrides the URL's)."
    )
    password_file: str | None = _file("File holding the password (overrides the URL's).")
    write_check: bool = Field(
        False, description="Also SET, GET and DEL a short-lived key (needs write access)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> RedisParams:
        require_one(self, ["url", "url_from_env", "url_file"], required=True)
        require_one(self, ["password_from_env", "password_file"], required=False)
        return self


class Neo4jParams(TlsMixin):
    """A Neo4j server: runs ``RETURN 1`` in a session."""

    uri: str = Field(
        pattern=r"^(neo4j|bolt)(\+s|\+ssc)?://",
        description="Bolt URI: neo4j://, bolt://, with +s or +ssc for TLS.",
    )
    username: str = Field("neo4j", min_length=1, description="User to authenticate as.")
    password_from_env: str | None = _env("Environment variable holding the password.")
    password_file: str | None = _file("File holding the password.")
    database: str | None = Field(
        None, min_length=1, description="Database to open; the server's default when unset."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Neo4jParams:
        require_one(self, ["password_from_env", "password_file"], required=True)
        return self


class PostgresParams(Model):
    """A PostgreSQL server: runs ``SELECT 1`` on a kept connection."""

    dsn: str | None = Field(
        None,
        min_length=1,
        description="libpq connection string or postgresql:// URL; redacted in output.",
    )
    dsn_from_env: str | None = _env("Environment variable holding the DSN.")
    dsn_file: str | None = _file("File holding the DSN.")

    @model_validator(mode="after")
    def _one_source(self) -> PostgresParams:
        require_one(self, ["dsn", "dsn_from_env", "dsn_file"], required=True)
        return self


class HttpHeader(Model):
    """One request header; its value inline, from an environment variable or from a file."""

    name: str = Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", description="Header name.")
    value: str | None = Field(None, description="Header value, inline.")
    value_from_env: str | None = _env("Environment variable holding the value.")
    value_file: str | None = _file("File holding the value.")

    @model_validator(mode="after")
    def _one_source(self) -> HttpHeader:
        require_one(self, ["value", "value_from_env", "value_file"], required=True)
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
        description="RE2 regular expression the body must match (searched in the first 1 MiB; "
        "linear time, so no backreferences or lookaround).",
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


class LlmParams(TlsMixin):
    """An OpenAI-compatible API (OpenAI, OpenRouter, LiteLLM): lists models, costs no tokens."""

    base_url: str = Field(
        pattern=r"^https?://[^/\s]+",
        description="API base URL, e.g. https://openrouter.ai/api/v1 (``/models`` is appended).",
    )
    api_key_from_env: str | None = _env("Environment variable holding the API key.")
    api_key_file: str | None = _file("File holding the API key.")
    model: str | None = Field(
        None, min_length=1, description="Model id that must be listed, e.g. gpt-4o-mini."
    )

    @model_validator(mode="after")
    def _one_source(self) -> LlmParams:
        # A local proxy may need no key, so the key is optional; two sources are still an error.
        require_one(self, ["api_key_from_env", "api_key_file"], required=False)
        return self


class TcpParams(TlsMixin):
    """A TCP port, optionally with a TLS handshake (reports days until the certificate expires)."""

    host: str = Field(min_length=1, max_length=253, description="Host name or IP address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    tls: bool = Field(False, description="Do a TLS handshake after connecting.")
    server_name: str | None = Field(
        None, min_length=1, description="TLS server name (SNI); the host when unset."
    )


class DnsParams(Model):
    """A DNS name that must resolve to at least one record of the expected type."""

    name: str = Field(min_length=1, max_length=253, description="Name to resolve.")
    record_type: RECORD_TYPES = Field("A", description="Record type that must be present.")
    nameservers: list[IpAddress] = Field(
        default_factory=list,
        description="Nameserver IP addresses; the system resolver (resolv.conf) when empty.",
    )
    port: int = Field(53, ge=1, le=65535, description="Nameserver port.")


class EnvParams(Model):
    """Environment variables that must be present and non-empty (values are never shown)."""

    names: list[EnvName] = Field(
        min_length=1, description="Variable names, e.g. SMTP_HOST for an 'email configured' check."
    )
