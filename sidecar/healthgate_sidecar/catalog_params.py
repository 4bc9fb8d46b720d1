"""Parameter blocks of the grpc, mysql, amqp and smtp types (re-exported by :mod:`contract`).

Apart from ``params.py`` only for size; the same rules hold: nothing here imports a driver, and
a secret-bearing field ``x`` has the alternatives ``xFromEnv`` and ``xFile`` (the operator maps a
CRD ``xFrom: {secretKeyRef}`` onto them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from healthgate_sidecar.params import Model, TlsMixin, _env, _file, field_error, require_one


def _host() -> Any:
    return Field(min_length=1, max_length=253, description="Host name or IP address.")


class GrpcMetadata(Model):
    """One request metadata entry (a gRPC header); its value inline, from env or from a file."""

    # gRPC metadata keys are lowercase ASCII; "-bin" keys carry bytes, which a secret is not.
    name: str = Field(
        pattern=r"^[a-z0-9_.-]+$",
        max_length=128,
        description="Metadata key, lowercase (e.g. authorization).",
    )
    value: str | None = Field(None, description="Value, inline.")
    value_from_env: str | None = _env("Environment variable holding the value.")
    value_file: str | None = _file("File holding the value.")

    @model_validator(mode="after")
    def _one_source(self) -> GrpcMetadata:
        if self.name.endswith("-bin"):
            raise field_error("name", "binary (-bin) metadata is not supported")
        require_one(self, ["value", "value_from_env", "value_file"], required=True)
        return self


class GrpcParams(Model):
    """A gRPC server: ``grpc.health.v1.Health/Check``; SERVING is healthy."""

    host: str = _host()
    port: int = Field(ge=1, le=65535, description="TCP port.")
    service: str = Field(
        "",
        max_length=256,
        description="Service name to ask about, e.g. temporal.api.workflowservice.v1."
        "WorkflowService; empty asks about the whole server.",
    )
    tls: bool = Field(False, description="Connect with TLS (the server certificate is verified).")
    ca_file: str | None = Field(
        None, min_length=1, description="PEM file of CA certificates trusted for the server."
    )
    server_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description="Name the certificate must carry (and the :authority sent); the host "
        "when unset.",
    )
    metadata: list[GrpcMetadata] = Field(
        default_factory=list, max_length=16, description="Metadata sent with the request."
    )


class MysqlParams(TlsMixin):
    """A MySQL or MariaDB server: ``SELECT 1`` on a kept connection; server version."""

    host: str = _host()
    port: int = Field(3306, ge=1, le=65535, description="TCP port.")
    username: str = Field(min_length=1, max_length=80, description="User to authenticate as.")
    password_from_env: str | None = _env("Environment variable holding the password.")
    password_file: str | None = _file("File holding the password.")
    database: str | None = Field(
        None, min_length=1, max_length=64, description="Database to open; none when unset."
    )
    tls: bool = Field(False, description="Require TLS (verified unless tlsVerify is false).")

    @model_validator(mode="after")
    def _one_source(self) -> MysqlParams:
        require_one(self, ["password_from_env", "password_file"], required=False)
        return self


class AmqpParams(TlsMixin):
    """An AMQP 0-9-1 broker (RabbitMQ): connect, open and close a channel."""

    url: str | None = Field(
        None,
        pattern=r"^amqps?://",
        description="amqp:// or amqps:// (TLS) URL with the vhost as its path; may hold a "
        "password, redacted in output. Query options are ignored (TLS comes from caFile and "
        "tlsVerify).",
    )
    url_from_env: str | None = _env("Environment variable holding the URL.")
    url_file: str | None = _file("File holding the URL.")
    queue: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Queue that must exist (declared passively: never created).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> AmqpParams:
        require_one(self, ["url", "url_from_env", "url_file"], required=True)
        return self


class SmtpParams(TlsMixin):
    """An SMTP server: greeting, EHLO, optional STARTTLS and AUTH; never sends mail."""

    host: str = _host()
    port: int = Field(25, ge=1, le=65535, description="TCP port (25, 587, or 465 for implicit).")
    tls: Literal["none", "starttls", "implicit"] = Field(
        "none",
        description="none, starttls (upgrade after EHLO; fails if not offered) or implicit "
        "(TLS from the first byte, port 465).",
    )
    username: str | None = Field(
        None, min_length=1, max_length=256, description="When set, AUTH as this user."
    )
    password_from_env: str | None = _env("Environment variable holding the password.")
    password_file: str | None = _file("File holding the password.")

    @model_validator(mode="after")
    def _auth(self) -> SmtpParams:
        require_one(self, ["password_from_env", "password_file"], required=False)
        has_password = self.password_from_env is not None or self.password_file is not None
        if has_password and self.username is None:
            raise field_error("username", "required when a password is given")
        if self.username is not None and not has_password:
            raise field_error("passwordFromEnv", "a password is required with a username")
        return self
