"""A real SMTP server (aiosmtpd) in a subprocess: STARTTLS and AUTH, mail refused.

aiosmtpd is a full SMTP implementation: EHLO with extensions, STARTTLS with a certificate
from a throwaway CA, and AUTH PLAIN/LOGIN only over TLS, checked against one user and password;
a second listener speaks TLS from the first byte (implicit TLS, as on port 465). It accepts no
mail (every RCPT is refused), so a check that sent mail by mistake would fail. The subprocess
picks free ports itself and writes them to a file.
Run as ``python -m tests.env.smtp PORTFILE CERT KEY``.
"""

from __future__ import annotations

import signal
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.env import common, pki

USER = "healthgate"
PASSWORD = "smtp-canary-Pw-2f6c"  # a canary: tests assert it never appears in sidecar output
SERVER_NAME = "smtp.healthgate.test"  # in the certificate; tests set it as the TLS server name


@dataclass
class SmtpServer:
    host: str
    port: int
    implicit_port: int  # TLS from the first byte
    user: str
    password: str
    ca: Path
    workdir: Path
    process: common.Process | None = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def start(workdir: Path, host: str = "127.0.0.1") -> SmtpServer:
    workdir.mkdir(parents=True, exist_ok=True)
    ca = pki.CertificateAuthority(workdir / "pki", name="healthgate-smtp-ca")
    pair = ca.issue("server", SERVER_NAME, hosts=(SERVER_NAME, host), server=True)
    portfile = workdir / "port"
    process = common.spawn(
        "smtp-server",
        [sys.executable, "-m", "tests.env.smtp", portfile, pair.cert, pair.key],
        log_dir=workdir,
        cwd=common.ENV_DIR.parents[1],
    )
    common.wait_until("smtp server", portfile.exists, timeout=30, proc=process)
    port, implicit_port = (int(p) for p in portfile.read_text().split())
    return SmtpServer(
        host=host,
        port=port,
        implicit_port=implicit_port,
        user=USER,
        password=PASSWORD,
        ca=ca.cert,
        workdir=workdir,
        process=process,
    )


class _RefuseAll:
    """Handler: every recipient is refused, so no mail can ever be accepted."""

    async def handle_RCPT(self, *_: Any) -> str:  # aiosmtpd calls handle_<VERB>
        return "550 5.7.1 this test server accepts no mail"


def _authenticate(_server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd then answers 535 itself (True means "I have answered already").
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    # aiosmtpd's Controller needs a port number (it connects to it to see the server is up)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str]) -> None:
    from aiosmtpd.controller import Controller  # noqa: PLC0415 - the subprocess only

    portfile, cert, key = (Path(a) for a in argv)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    common: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "server_hostname": SERVER_NAME,
        "authenticator": _authenticate,
        "auth_exclude_mechanism": ["CRAM-MD5"],
    }
    starttls = Controller(
        _RefuseAll(), port=_free_port(), tls_context=context, auth_require_tls=True, **common
    )
    # aiosmtpd counts only STARTTLS as "TLS" for auth_require_tls; this listener is TLS anyway.
    implicit = Controller(
        _RefuseAll(), port=_free_port(), ssl_context=context, auth_require_tls=False, **common
    )
    starttls.start()
    implicit.start()
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(f"{starttls.port} {implicit.port}")
    tmp.rename(portfile)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    starttls.stop()
    implicit.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
