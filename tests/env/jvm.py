"""The JVM servers of the local environment (Neo4j, Kafka): java on a folder of Maven jars.

Both are a folder of jars from Maven Central (:mod:`tests.env.maven`), run as ``java -cp 'lib/*'
MainClass`` in place of their launcher scripts, with a one-off tool JVM before the first start
(Kafka formats its storage, Neo4j sets the initial password). What they share lives here once:
which java, starting a server JVM and waiting until it is ready (and never leaking one that is
not), and the tool runs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.env import common

JAVA_PACKAGE = "openjdk-17-jre-headless"  # Neo4j 5 runs on Java 17 or 21, Kafka 4 on 17+
START_TIMEOUT = 120.0  # a cold JVM on a busy two-core machine: ~10-30 s
STOP_TIMEOUT = 30.0  # SIGTERM runs the server's shutdown hook (Neo4j checkpoints): give it time
# A one-off tool needs little: a small heap, and C1 only, which starts faster.
TOOL_FLAGS = ("-Xmx128m", "-XX:TieredStopAtLevel=1")


def java() -> Path:
    return common.which_or_install("java", JAVA_PACKAGE)


def start(
    name: str,
    *,
    lib: Path,
    main_class: str,
    args: Sequence[str | Path],
    flags: Sequence[str],
    log_dir: Path,
    ready: Callable[[common.Process], bool],
) -> common.Process:
    """Start a server JVM and return it once ``ready`` says so.

    The JVM is stopped when it is not ready in time (or the wait is interrupted): the caller
    gets no process to stop then, and a leaked JVM would hold hundreds of MiB and its ports.
    The previous run's log is moved aside, so that after a restart ``ready`` reads only this
    run's lines (Kafka's "started" line would otherwise be there at once).
    """
    log = log_dir / f"{name}.log"
    if log.exists():
        log.replace(log.with_suffix(".previous.log"))
    process = common.spawn(
        name, [java(), *flags, "-cp", f"{lib}/*", main_class, *args], log_dir=log_dir
    )
    try:
        common.wait_until(
            name, lambda: ready(process), timeout=START_TIMEOUT, proc=process, interval=0.5
        )
    except BaseException:
        process.stop(timeout=STOP_TIMEOUT)
        raise
    return process


def tool(
    lib: Path,
    main_class: str,
    *args: str,
    what: str,
    flags: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> None:
    """A one-off JVM on the server's jars, as its ``bin/*.sh`` scripts run one.

    A failure raises :class:`common.EnvMissing` with ``what`` and the tool's output, never the
    command line: an argument may be a password.
    """
    argv = [str(java()), *TOOL_FLAGS, *flags, "-cp", f"{lib}/*", main_class, *args]
    proc = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise common.EnvMissing(f"{what} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
