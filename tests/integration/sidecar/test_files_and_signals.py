"""The real CLI against hostile config files and signals: FIFOs, devices, unreadable files,
empty files, SIGHUP; and ``serve`` and ``check`` agreeing on what an empty list means."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.sidecar.conftest import CLI, Served, env_config

Serve = Callable[..., Served]
RELOAD_OK = "healthgate_config_last_reload_successful"


def test_config_replaced_by_a_fifo_is_rejected_and_sigterm_still_works(
    serve: Serve, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME", drainSeconds=0))
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    config.unlink()
    os.mkfifo(config)  # opened naively, this blocks the loop until a writer comes: forever
    served.wait(lambda: served.metric(RELOAD_OK) == 0)
    assert served.get("/readyz")[0] == 200  # the last good config is still in force
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(10) == 0
    log = served.log.read_text()
    assert "not a regular file (a FIFO)" in log
    assert "Traceback" not in log


def test_config_symlinked_to_dev_zero_is_rejected(serve: Serve, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME"))
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    (tmp_path / "zero").symlink_to("/dev/zero")
    os.replace(tmp_path / "zero", config)
    served.wait(lambda: served.metric(RELOAD_OK) == 0)
    assert served.get("/livez")[0] == 200
    assert "not a regular file (a device)" in served.log.read_text()


# root reads any file whatever its mode: drop the capabilities that let it.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def test_config_made_unreadable_then_readable_is_reread(serve: Serve, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME"))
    served = serve(config, wrap=NO_DAC)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    config.chmod(0o000)
    config.write_text(env_config("HOME", "PATH"))  # new content while unreadable
    served.wait(lambda: served.metric(RELOAD_OK) == 0)
    config.chmod(0o644)  # only the mode changes: mtime, size and inode stay
    served.wait(lambda: served.metric(RELOAD_OK) == 1)
    assert "path" in json.loads(served.get("/health")[1])["components"]


@pytest.mark.parametrize("empty", ["", "# nothing here yet\n"])
def test_empty_config_on_reload_is_rejected(serve: Serve, tmp_path: Path, empty: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HEALTHGATE_TEST_UNSET_VAR"))  # critical and failing
    served = serve(config)
    served.wait(lambda: served.get("/health")[1].count("unhealthy") > 0)
    config.write_text(empty)  # what a truncate-then-write editor leaves for a moment
    served.wait(lambda: served.metric(RELOAD_OK) == 0)
    assert served.get("/readyz")[0] == 503  # still not ready: the dependency is still down
    assert "empty config" in served.log.read_text()


def test_sighup_reloads_at_once(serve: Serve, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME", watchIntervalSeconds=60))  # polling won't see it
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    config.write_text(env_config("HOME", "PATH", watchIntervalSeconds=60))
    served.proc.send_signal(signal.SIGHUP)
    served.wait(lambda: "path" in json.loads(served.get("/health")[1])["components"], timeout=5)
    assert served.proc.poll() is None
    assert "config reload requested" in served.log.read_text()


def test_serve_and_check_agree_on_an_empty_dependency_list(serve: Serve, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"dependencies": []}')
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    health = json.loads(served.get("/health")[1])
    check = subprocess.run(
        [*CLI, "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["status"] == health["status"] == "healthy"
    assert json.loads(check.stdout)["ready"] is health["ready"] is True
