"""Redis from Debian's ``redis-server``, on a free loopback port, with a password."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from tests.env import common

PASSWORD = "redis-canary-Pw-7e1f"  # a canary: tests assert it never appears in sidecar output


@dataclass
class RedisServer:
    """A running redis-server; ``stop``/``start``/``freeze``/``thaw`` simulate outages."""

    host: str
    port: int
    password: str
    workdir: Path
    binary: Path
    process: common.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def start(self) -> None:
        conf = self.workdir / "redis.conf"
        conf.write_text(
            f"bind {self.host}\nport {self.port}\nrequirepass {self.password}\n"
            f'dir {self.workdir}\nsave ""\nappendonly no\nprotected-mode yes\n'
            'daemonize no\nlogfile ""\n'
        )
        self.process = common.spawn("redis", [self.binary, conf], log_dir=self.workdir)
        common.wait_until(
            "redis-server",
            lambda: common.port_open(self.host, self.port),
            timeout=15,
            proc=self.process,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.signal(signal.SIGCONT)  # a frozen server would not hear SIGTERM
            self.process.stop()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port stays open but nothing answers, like a hung server."""
        assert self.process is not None
        self.process.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGCONT)


def ensure_installed() -> Path:
    return common.which_or_install("redis-server", "redis-server")


def start(workdir: Path, host: str = "127.0.0.1") -> RedisServer:
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(
        host=host,
        port=common.free_port(host),
        password=PASSWORD,
        workdir=workdir,
        binary=ensure_installed(),
    )
    server.start()
    return server
