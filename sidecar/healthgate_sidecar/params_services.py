"""Parameter blocks of the service checks: kafka, oidc, s3 (re-exported by :mod:`contract`).

Kept apart from ``params.py`` only for size; the same rules hold (camelCase keys, unknown keys
rejected, secret fields ``x`` offered as ``xFromEnv``/``xFile``). Nothing here imports a driver.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from healthgate_sidecar.params import Model, TlsMixin, _env, _file, require_one

HTTP_URL = r"^https?://[^/\s]+"
# host:port, or [IPv6]:port.
HostPort = Annotated[
    str, Field(pattern=r"^([^\s:\[\]/]{1,253}|\[[0-9a-fA-F:.]{2,45}\]):[0-9]{1,5}$")
]


class OidcClientCredentials(Model):
    """A client that asks the token endpoint for a token (client-credentials grant)."""

    client_id: str = Field(min_length=1, max_length=256, description="Client id.")
    client_secret_from_env: str | None = _env("Environment variable holding the client secret.")
    client_secret_file: str | None = _file("File holding the client secret.")
    scope: str | None = Field(
        None, min_length=1, max_length=1024, description="Space-separated scopes to request."
    )

    @model_validator(mode="after")
    def _one_source(self) -> OidcClientCredentials:
        require_one(self, ["client_secret_from_env", "client_secret_file"], required=True)
        return self


class OidcParams(TlsMixin):
    """An OpenID Provider: discovery document, issuer, signing keys; optionally a token grant."""

    issuer: str = Field(
        pattern=HTTP_URL,
        description="Issuer URL, exactly as the provider announces it (a trailing slash "
        "counts); /.well-known/openid-configuration is appended.",
    )
    client_credentials: OidcClientCredentials | None = Field(
        None,
        description="Also request a token with the client-credentials grant (HTTP Basic "
        "client authentication): proves the client and its secret are accepted. The token is "
        "discarded.",
    )


class KafkaSasl(Model):
    """SASL login: PLAIN or SCRAM (over TLS unless the network is trusted)."""

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism."
    )
    username: str = Field(min_length=1, max_length=256, description="User to log in as.")
    password_from_env: str | None = _env("Environment variable holding the password.")
    password_file: str | None = _file("File holding the password.")

    @model_validator(mode="after")
    def _one_source(self) -> KafkaSasl:
        require_one(self, ["password_from_env", "password_file"], required=True)
        return self


class KafkaParams(TlsMixin):
    """A Kafka cluster: bootstrap, cluster metadata, broker count; optionally a topic."""

    bootstrap_servers: list[HostPort] = Field(
        min_length=1,
        max_length=16,
        description="host:port of brokers to bootstrap from, tried in order until one answers.",
    )
    tls: bool = Field(False, description="Connect with TLS (security protocol SSL or SASL_SSL).")
    sasl: KafkaSasl | None = Field(None, description="Log in with SASL.")
    topic: str | None = Field(
        None,
        pattern=r"^[a-zA-Z0-9._-]{1,249}$",
        description="Topic that must exist (never created: the request forbids auto-creation).",
    )
    min_brokers: int = Field(
        1, ge=1, le=1000, description="Fewest brokers the cluster metadata must list."
    )


class S3Params(TlsMixin):
    """An S3 bucket on any S3-compatible endpoint: HeadBucket signed with SigV4."""

    endpoint: str = Field(
        pattern=HTTP_URL,
        description="S3 API endpoint, e.g. https://s3.eu-west-1.amazonaws.com or "
        "http://minio.storage:9000.",
    )
    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket that must exist."
    )
    region: str = Field(
        "us-east-1", pattern=r"^[a-z0-9-]{1,32}$", description="Region the request is signed for."
    )
    access_key_id: str | None = Field(
        None, min_length=1, max_length=128, description="Access key id, inline."
    )
    access_key_id_from_env: str | None = _env("Environment variable holding the access key id.")
    access_key_id_file: str | None = _file("File holding the access key id.")
    secret_access_key_from_env: str | None = _env(
        "Environment variable holding the secret access key."
    )
    secret_access_key_file: str | None = _file("File holding the secret access key.")
    session_token_from_env: str | None = _env(
        "Environment variable holding a session token (temporary credentials)."
    )
    session_token_file: str | None = _file("File holding a session token.")
    path_style: bool = Field(
        True,
        description="Address the bucket as <endpoint>/<bucket> (what S3-compatible servers "
        "expect) rather than <bucket>.<endpoint host> (AWS buckets created since 2020 need "
        "false).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> S3Params:
        require_one(
            self, ["access_key_id", "access_key_id_from_env", "access_key_id_file"], required=True
        )
        require_one(self, ["secret_access_key_from_env", "secret_access_key_file"], required=True)
        require_one(self, ["session_token_from_env", "session_token_file"], required=False)
        return self
