"""MariaDB from Debian's ``mariadb-server``: a private server in a temporary datadir on loopback.

Not the system instance (no /etc/mysql, no /var/lib/mysql, no service): ``--no-defaults`` keeps
the Debian config out, the datadir is initialised per session by ``mariadb-install-db`` (a few
seconds), and a user with a password is created by ``--init-file`` on every start, idempotently.
As root the server runs as the ``mysql`` user the package creates (mariadbd refuses root).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from tests.env import common

USER = "healthgate"
PASSWORD = "mysql-canary-Pw-4d2a"  # a canary: tests assert it never appears in sidecar output
UNIX_USER = "mysql"  # created by the Debian package
MARIADBD = "/usr/sbin/mariadbd"


@dataclass
class MariaDbServer:
    """A running mariadbd; ``stop``/``start`` simulate an outage, keeping port and data."""

    host: str
    port: int
    user: str
    password: str
    workdir: Path
    process: common.Process | None = None

    def start(self) -> None:
        init = self.workdir / "init.sql"
        # Only the loopback host: the server never accepts this user from anywhere else.
        init.write_text(
            f"CREATE USER IF NOT EXISTS '{self.user}'@'{self.host}' "
            f"IDENTIFIED BY '{self.password}';\n"
        )
        self.process = common.spawn(
            "mariadbd",
            [
                MARIADBD,
                "--no-defaults",  # no /etc/mysql: this is not the system instance
                f"--datadir={self.workdir / 'data'}",
                f"--socket={self.workdir / 'mysqld.sock'}",
                f"--pid-file={self.workdir / 'mysqld.pid'}",
                f"--port={self.port}",
                f"--bind-address={self.host}",
                f"--init-file={init}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=0",  # a test server: no fsync per commit
                "--performance-schema=OFF",
            ],
            log_dir=self.workdir,
            user=_unix_user(),
        )
        common.wait_until(
            "mariadbd",
            lambda: common.port_open(self.host, self.port),
            timeout=60,
            proc=self.process,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)
            self.process = None


def _unix_user() -> str | None:
    return UNIX_USER if common.is_root() else None


def ensure_installed() -> Path:
    """mariadbd, installing Debian's ``mariadb-server`` if needed (its services never start:
    the package's init scripts are not how tests run it)."""
    if not Path(MARIADBD).exists():
        common.apt_install(["mariadb-server"], why="the MariaDB server is missing")
    if not Path(MARIADBD).exists():
        raise common.EnvMissing("mariadbd not found: apt-get install mariadb-server")
    return Path(MARIADBD)


def start(workdir: Path, host: str = "127.0.0.1") -> MariaDbServer:
    ensure_installed()
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    user = _unix_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    init = common.spawn(
        "install-db",
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            *([f"--user={user}"] if user else []),
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        log_dir=workdir,
    )
    if init.popen.wait(120) != 0:
        raise common.EnvMissing(f"mariadb-install-db failed:\n{init.log_tail()}")
    init.stop()
    server = MariaDbServer(
        host=host, port=common.free_port(host), user=USER, password=PASSWORD, workdir=workdir
    )
    server.start()
    return server
