"""Shared plumbing for the local environment: cache paths, ports, processes, installs, errors.

Every component module (redis, postgres, neo4j, kube, prometheus) uses these helpers so that
they all behave alike: binaries are cached under ``~/.cache/healthgate/<component>-<version>``,
servers listen on free loopback ports inside a temporary directory, and a component that cannot
be installed raises :class:`EnvMissing` naming what is missing and how to get it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar, TypeVar

CACHE = Path(os.environ.get("HEALTHGATE_CACHE", Path.home() / ".cache" / "healthgate"))
ENV_DIR = Path(__file__).resolve().parent
T = TypeVar("T")


class EnvMissing(RuntimeError):
    """A component of the local environment is not installed and could not be installed."""


def progress(message: str) -> None:
    """Progress on stderr: cold builds take minutes and a silent terminal looks hung."""
    print(f"[healthgate-env] {message}", file=sys.stderr, flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    what: str,
    ready: Callable[[], bool],
    *,
    timeout: float,
    proc: Process | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``ready`` until it returns True; fail early, with the log tail, if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.popen.poll() is not None:
            raise EnvMissing(f"{what} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        time.sleep(interval)
    tail = proc.log_tail() if proc is not None else ""
    raise EnvMissing(f"{what} not ready after {timeout:.0f}s\n{tail}")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 30.0, *, every: float = 0.2
) -> T:
    """Poll until ``probe`` returns something truthy and return it; a test's assertion fails
    (with the last value seen) after ``timeout``. :func:`wait_until` is for starting servers."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


@dataclass
class Process:
    """A server process we started; its output goes to a log file in the run directory."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left; safe to call twice."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                # a frozen (SIGSTOP) server must wake up to handle SIGTERM
                os.killpg(self.popen.pid, signal.SIGCONT)
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class BinaryServer:
    """A server binary listening on ``host:port``; ``stop``/``start`` make an outage on the same
    port. A subclass says how it is called (:meth:`argv`) and when it serves (:meth:`ready`)."""

    host: str
    port: int
    workdir: Path
    binary: Path
    process: Process | None = None

    name: ClassVar[str]
    start_timeout: ClassVar[float] = 30.0
    stop_timeout: ClassVar[float] = 10.0
    poll_interval: ClassVar[float] = 0.1

    def argv(self) -> list[str | Path]:
        raise NotImplementedError

    def ready(self) -> bool:
        return port_open(self.host, self.port)

    def start(self) -> None:
        self.process = spawn(self.name, self.argv(), log_dir=self.workdir)
        try:
            wait_until(
                self.name,
                self.ready,
                timeout=self.start_timeout,
                proc=self.process,
                interval=self.poll_interval,
            )
        except BaseException:
            self.stop()  # the caller gets no server object to stop
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=self.stop_timeout)
            self.process = None


def spawn(
    name: str,
    argv: Sequence[str | Path],
    *,
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Process:
    """Start ``argv`` in its own process group (so stop() takes its children too)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    preexec: Callable[[], None] | None = None
    if user is not None and os.geteuid() == 0:
        import pwd  # noqa: PLC0415 - POSIX only, needed just for the root case

        entry = pwd.getpwnam(user)

        def preexec() -> None:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)

    popen = subprocess.Popen(
        [str(a) for a in argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
        preexec_fn=preexec,  # noqa: PLW1509 - only drops privileges before exec
    )
    return Process(name=name, popen=popen, log_path=log_path, _log=log)


def run(argv: Sequence[str | Path], *, env: dict[str, str] | None = None, **kw: object) -> str:
    """Run a short command, returning stdout; raise EnvMissing with its output on failure."""
    proc = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        **kw,  # type: ignore[call-overload]
    )
    if proc.returncode != 0:
        raise EnvMissing(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stderr}")
    out: str = proc.stdout
    return out


def is_root() -> bool:
    return os.geteuid() == 0


_apt_updated = False


def apt_install(packages: Sequence[str], *, why: str) -> None:
    """Install Debian packages (as root); otherwise say which packages to install."""
    global _apt_updated  # noqa: PLW0603 - one `apt-get update` per process is enough
    if not is_root() or shutil.which("apt-get") is None:
        names = " ".join(packages)
        raise EnvMissing(f"{why}: install the Debian packages {names} (apt-get install)")
    progress(f"installing Debian packages {' '.join(packages)} ({why})")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        run(["apt-get", "update", "-qq"], env=env)
        _apt_updated = True
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env)


def which_or_install(binary: str, package: str, *, extra_paths: Sequence[str] = ()) -> Path:
    """Path of ``binary``, installing Debian ``package`` first if it is missing."""
    search = os.pathsep.join([*extra_paths, os.environ.get("PATH", "")])
    found = shutil.which(binary, path=search)
    if found is None:
        apt_install([package], why=f"{binary} is missing")
        found = shutil.which(binary, path=search)
    if found is None:
        raise EnvMissing(f"{binary} not found even after installing Debian package {package}")
    return Path(found)


def cached(component: str, version: str, install: Callable[[Path], None]) -> Path:
    """``CACHE/<component>-<version>``, running ``install(dest)`` once if it is not complete.

    A ``.complete`` marker written last means an interrupted install is redone, never half-used;
    a lock file means two runs (a test session and ``make env-up``, say) never install at once.
    """
    dest = CACHE / f"{component}-{version}"
    if (dest / ".complete").exists():
        return dest
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{component}-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / ".complete").exists():
            started = time.monotonic()
            install(dest)
            (dest / ".complete").write_text(f"{component} {version}\n")
            progress(f"{component} {version} ready in {time.monotonic() - started:.0f}s")
    return dest


def go_component(component: str, version: str, *, revision: int = 0) -> Path:
    """The bin/ folder of a Go component, built from the Go module proxy on first use.

    ``revision`` counts changes to how a version is built (``build-go.sh``): a new one gets a
    cache directory of its own, so a cache from before the change is not used by mistake.
    """

    def build(dest: Path) -> None:
        if shutil.which("go") is None:
            raise EnvMissing(f"building {component} {version} needs Go: install Go 1.25+")
        progress(f"building {component} {version} from the Go module proxy into {dest}")
        proc = subprocess.run(
            ["bash", str(ENV_DIR / "build-go.sh"), component, version, str(dest)],
            stdout=sys.stderr,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if proc.returncode != 0:
            raise EnvMissing(f"building {component} {version} failed; see the output above")

    key = f"{version}-r{revision}" if revision else version
    return cached(component, key, build) / "bin"
