"""A real SMTP server (aiosmtpd) in a subprocess: STARTTLS and AUTH, mail refused.

aiosmtpd is a full SMTP implementation: EHLO with extensions, STARTTLS with a certificate
from a throwaway CA, and AUTH PLAIN/LOGIN only after STARTTLS, checked against one user and
password. It accepts no mail (every RCPT is refused), so a check that sent mail by mistake
would fail. The subprocess binds port 0 and writes the port it got to a file.
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
    return SmtpServer(
        host=host,
        port=int(portfile.read_text()),
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


def main(argv: list[str]) -> None:
    from aiosmtpd.controller import Controller  # noqa: PLC0415 - the subprocess only

    portfile, cert, key = (Path(a) for a in argv)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:  # aiosmtpd needs a port number: take one free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        _RefuseAll(),
        hostname="127.0.0.1",
        port=port,
        server_hostname=SERVER_NAME,
        tls_context=context,  # offers STARTTLS
        authenticator=_authenticate,
        auth_require_tls=True,
        auth_exclude_mechanism=["CRAM-MD5"],
    )
    controller.start()
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.rename(portfile)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
