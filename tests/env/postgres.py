"""PostgreSQL from Debian's ``postgresql`` package, run as a non-root user (it refuses root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.env import common

USER = "healthgate"  # database role and, when we are root, the Unix user the server runs as
PASSWORD = "pg-canary-Pw-19ab"  # a canary: tests assert it never appears in sidecar output
UNIX_USER = "healthgate-pg"


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str
    workdir: Path
    bindir: Path
    process: common.Process | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def start(self) -> None:
        self.process = common.spawn(
            "postgres",
            [
                self.bindir / "postgres",
                "-D",
                self.workdir / "data",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                self.workdir / "sock",
                "-c",
                "fsync=off",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "max_connections=100",
            ],
            log_dir=self.workdir,
            user=_unix_user(),
        )
        # Not just the port: while it starts up, postgres listens but refuses every session
        # ("the database system is starting up"), which failed tests on a loaded machine.
        common.wait_until("postgres", self.accepting, timeout=30, proc=self.process)

    def accepting(self) -> bool:
        """Whether the server accepts sessions (``pg_isready``: exit 0)."""
        ready = [str(self.bindir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]
        return subprocess.run(ready, check=False, timeout=10).returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def _unix_user() -> str | None:
    """The user the server runs as: ourselves, or a dedicated system user when we are root."""
    if not common.is_root():
        return None
    try:
        pwd.getpwnam(UNIX_USER)
    except KeyError:
        common.progress(f"creating system user {UNIX_USER} to run PostgreSQL (it refuses root)")
        common.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", UNIX_USER]
        )
    return UNIX_USER


def ensure_installed() -> Path:
    """The bin/ folder of the newest PostgreSQL server installed, installing it if needed."""

    def find() -> list[str]:
        return sorted(
            glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4])
        )

    found = find()
    if not found:
        common.apt_install(["postgresql"], why="the PostgreSQL server is missing")
        found = find()
    if not found:
        raise common.EnvMissing("PostgreSQL server not found: apt-get install postgresql")
    return Path(found[-1]).parent


def start(workdir: Path, host: str = "127.0.0.1") -> PostgresServer:
    bindir = ensure_installed()
    user = _unix_user()
    (workdir / "sock").mkdir(parents=True, exist_ok=True)
    pwfile = workdir / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, workdir / "sock", pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    init = common.spawn(
        "initdb",
        [
            bindir / "initdb",
            "-D",
            workdir / "data",
            "-U",
            USER,
            "--pwfile",
            pwfile,
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        log_dir=workdir,
        user=user,
    )
    if init.popen.wait(120) != 0:
        raise common.EnvMissing(f"initdb failed:\n{init.log_tail()}")
    init.stop()
    pwfile.unlink()
    server = PostgresServer(
        host=host,
        port=common.free_port(host),
        user=USER,
        password=PASSWORD,
        database="postgres",
        workdir=workdir,
        bindir=bindir,
    )
    server.start()
    return server


def remove(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
