"""RabbitMQ from Debian's ``rabbitmq-server``: a private node on loopback, not the system one.

The node has its own name, Mnesia and log folders under the run directory, reads its own
config (no /etc/rabbitmq) and enables no plugins. Erlang distribution needs an epmd: the node
would start a shared one on port 4369 on every interface that outlives it, so we run our own
epmd on a free loopback port (``ERL_EPMD_PORT``) and stop it with the node, and the node's
distribution port is bound to loopback too. The first boot creates the user from
``default_user``/``default_pass``; SIGTERM stops the node cleanly.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from tests.env import common

USER = "healthgate"
PASSWORD = "amqp-canary-Pw-8b3e"  # a canary: tests assert it never appears in sidecar output
UNIX_USER = "rabbitmq"  # created by the Debian package
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the script the wrapper su's into
EPMD = "epmd"
START_TIMEOUT = 120.0  # an Erlang VM booting on a busy two-core machine takes ~10-25 s


@dataclass
class RabbitMqServer:
    """A running node; ``stop``/``start`` simulate an outage, keeping ports and data."""

    host: str
    port: int
    user: str
    password: str
    workdir: Path
    epmd_port: int
    dist_port: int
    process: common.Process | None = None
    epmd: common.Process | None = None

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}/"

    def _env(self) -> dict[str, str]:
        w = self.workdir
        return {
            "HOME": str(w),  # the Erlang cookie goes to $HOME/.erlang.cookie
            "RABBITMQ_CONF_ENV_FILE": str(w / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": f"healthgate{self.port}@localhost",
            "RABBITMQ_CONFIG_FILE": str(w / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_LOGS": "-",  # on stdout, so log_tail() explains a failed start
            "RABBITMQ_PID_FILE": str(w / "rabbit.pid"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": self.host,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                "-kernel inet_dist_use_interface {" + self.host.replace(".", ",") + "}"
            ),
        }

    def start(self) -> None:
        user = _unix_user()
        self.epmd = common.spawn(
            "epmd",
            [EPMD, "-address", self.host, "-port", str(self.epmd_port)],
            log_dir=self.workdir,
            user=user,
        )
        common.wait_until(
            "epmd",
            lambda: common.port_open(self.host, self.epmd_port),
            timeout=15,
            proc=self.epmd,
        )
        self.process = common.spawn(
            "rabbitmq", [SERVER], log_dir=self.workdir, env=self._env(), user=user
        )
        try:
            common.wait_until(
                "rabbitmq-server",
                lambda: common.port_open(self.host, self.port),
                timeout=START_TIMEOUT,
                proc=self.process,
                interval=0.5,
            )
        except BaseException:
            self.stop()  # the caller gets no server object to stop: leak no Erlang VM
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)  # SIGTERM: RabbitMQ stops its apps in order
            self.process = None
        if self.epmd is not None:
            self.epmd.stop()
            self.epmd = None


def _unix_user() -> str | None:
    return UNIX_USER if common.is_root() else None


def ensure_installed() -> Path:
    if not SERVER.exists():
        common.apt_install(["rabbitmq-server"], why="the RabbitMQ server is missing")
    if not SERVER.exists():
        raise common.EnvMissing(f"{SERVER} not found: apt-get install rabbitmq-server")
    return SERVER


def start(workdir: Path, host: str = "127.0.0.1") -> RabbitMqServer:
    ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    server = RabbitMqServer(
        host=host,
        port=common.free_port(host),
        user=USER,
        password=PASSWORD,
        workdir=workdir,
        epmd_port=common.free_port(host),
        dist_port=common.free_port(host),
    )
    (workdir / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = {host}:{server.port}\n"
        f"default_user = {USER}\ndefault_pass = {PASSWORD}\n"
        "loopback_users = none\n"  # the default forbids only 'guest' remotely; be explicit
    )
    (workdir / "enabled_plugins").write_text("[].\n")
    (workdir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq/rabbitmq-env.conf
    user = _unix_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server.start()
    return server
