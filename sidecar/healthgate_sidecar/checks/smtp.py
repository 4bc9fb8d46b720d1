"""smtp: greeting, EHLO, optional STARTTLS, optional AUTH, QUIT. Never sends mail.

Driver: aiosmtplib (typed, maintained). A new connection per check: SMTP servers drop idle
clients after a few minutes, and a kept one would test the server's patience, not its health.
No MAIL, RCPT or DATA command is ever sent.

aiosmtplib would upgrade to TLS on its own whenever the server offers STARTTLS, and would look
up our FQDN for EHLO with a blocking DNS call: both are switched off, so the check does exactly
what its config says and never blocks the event loop.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Literal

from healthgate_sidecar.checks.base import (
    Checker,
    CheckFailure,
    CheckType,
    Details,
    failure_from,
    read_secret,
    ssl_context,
)
from healthgate_sidecar.params import (
    ConfigDict,
    Field,
    Secret,
    TlsMixin,
    env_field,
    field_error,
    file_field,
    model_validator,
)

if TYPE_CHECKING:
    import ssl

    import aiosmtplib


class SmtpParams(TlsMixin):
    """An SMTP server: greeting, EHLO, optional STARTTLS and AUTH; never sends mail."""

    secret_fields = (Secret("password"),)
    # _auth restated in CEL (the CRD spells the password passwordFrom), so that the API server
    # refuses such a gate at apply time.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.username) == has(self.passwordFrom)",
                    "message": "username and passwordFrom go together: AUTH needs both",
                    "fieldPath": ".username",
                    "reason": "FieldValueInvalid",
                }
            ]
        }
    )

    host: str = Field(min_length=1, max_length=253, description="Host name or IP address.")
    port: int = Field(25, ge=1, le=65535, description="TCP port (25, 587, or 465 for implicit).")
    tls: Literal["none", "starttls", "implicit"] = Field(
        "none",
        description="none, starttls (upgrade after EHLO; fails if not offered) or implicit "
        "(TLS from the first byte, port 465).",
    )
    username: str | None = Field(
        None, min_length=1, max_length=256, description="When set, AUTH as this user."
    )
    password_from_env: str | None = env_field("Environment variable holding the password.")
    password_file: str | None = file_field("File holding the password.")

    @model_validator(mode="after")
    def _auth(self) -> SmtpParams:
        has_password = self.password_from_env is not None or self.password_file is not None
        if has_password and self.username is None:
            raise field_error("username", "required when a password is given")
        if self.username is not None and not has_password:
            raise field_error("passwordFromEnv", "a password is required with a username")
        return self


BANNER_LIMIT = 120  # characters of the greeting shown: it names the server, not much more


def _failure(exc: aiosmtplib.SMTPException) -> CheckFailure:
    import aiosmtplib

    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return CheckFailure("auth", text)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return CheckFailure("timeout", text)
    failure = failure_from(exc)
    if failure.reason == "error" and isinstance(exc, aiosmtplib.SMTPConnectError):
        return CheckFailure("connect", text)
    return failure


async def _session(
    client: aiosmtplib.SMTP, params: SmtpParams, password: str | None, tls: ssl.SSLContext | None
) -> Details:
    greeting = await client.connect()
    await client.ehlo()
    if params.tls == "starttls":
        if not client.supports_extension("starttls"):
            raise CheckFailure("tls", "the server does not offer STARTTLS")
        await client.starttls(tls_context=tls)
        await client.ehlo()  # the extensions offered after the upgrade (AUTH often only then)
    if params.username is not None:
        if not client.supported_auth_methods:
            raise CheckFailure("auth", "the server offers no AUTH mechanism")
        await client.login(params.username, password or "")
    return {
        "banner": greeting.message.splitlines()[0][:BANNER_LIMIT] if greeting.message else "",
        "extensions": len(client.esmtp_extensions),
        "starttls": params.tls == "starttls",
        "target": f"{params.host}:{params.port}",
    }


def create(params: SmtpParams, *, timeout: float) -> Checker:
    import aiosmtplib  # the driver, loaded only when an smtp dependency is configured

    password = read_secret(value=None, from_env=params.password_from_env, file=params.password_file)
    tls: ssl.SSLContext | None = None
    if params.tls != "none":
        tls = ssl_context(ca_file=params.ca_file, verify=params.tls_verify)
    local_hostname = socket.gethostname()  # the pod's name; no DNS lookup (getfqdn would)

    async def check() -> Details:
        client = aiosmtplib.SMTP(
            hostname=params.host,
            port=params.port,
            local_hostname=local_hostname,
            timeout=timeout,
            use_tls=params.tls == "implicit",
            start_tls=False,  # only when the config asks, never because it is offered
            tls_context=tls,
        )
        try:
            details = await _session(client, params, password, tls)
            await client.quit()
        except aiosmtplib.SMTPException as exc:
            raise _failure(exc) from None
        except OSError as exc:
            raise failure_from(exc) from None
        finally:
            client.close()  # no-op after QUIT; drops the socket after a failure
        return details

    return Checker(check=check)


CHECK_TYPE = CheckType(
    name="smtp",
    params=SmtpParams,
    create=create,
    description="Settings of an smtp check.",
)
