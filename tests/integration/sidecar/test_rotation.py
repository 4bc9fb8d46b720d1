"""Secret rotation end to end: a real Redis changes its password, the Secret volume follows.

The sidecar runs as a process; the password file is laid out as the kubelet lays out a
(projected) Secret volume, and rotated the way the kubelet rotates it: a new timestamped
directory, then an atomic swap of the ``..data`` symlink. Redis gets the new password with
``CONFIG SET requirepass`` and drops its clients, as a real rotation would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import redis as redis_py

from tests.env import redis
from tests.integration.sidecar.conftest import Served

NEW_PASSWORD = "rotated-canary-Pw-5c2d"


def publish(volume: Path, version: str, password: str) -> None:
    """Write ``version`` of the Secret and swap ``..data`` to it (the kubelet's atomic update)."""
    (volume / version).mkdir()
    (volume / version / "password").write_text(password)
    (volume / "..data_tmp").symlink_to(version)
    os.replace(volume / "..data_tmp", volume / "..data")
    if not (volume / "password").is_symlink():
        (volume / "password").symlink_to("..data/password")


def status(served: Served) -> tuple[str, str | None]:
    component = json.loads(served.get("/health/cache")[1])
    return component["status"], component.get("reason")


def _config(tmp_path: Path, server: redis.RedisServer) -> Path:
    """A config whose redis password comes from a Secret-like volume under ``tmp_path``."""
    volume = tmp_path / "secret"
    volume.mkdir()
    publish(volume, "..2026_01_01_00_00_00.1", redis.PASSWORD)
    block = {
        "url": f"redis://{server.host}:{server.port}/0",
        "passwordFile": str(volume / "password"),
    }
    dep = {"name": "cache", "type": "redis", "intervalSeconds": 0.3, "timeoutSeconds": 0.25,
           "failureThreshold": 1, "redis": block}  # fmt: skip
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dependencies": [dep]}))
    return config


def checks(served: Served, result: str, reason: str = "") -> float:
    """healthgate_dependency_checks_total of ``cache`` for one result (and reason)."""
    total = 0.0
    for line in served.get("/metrics")[1].splitlines():
        if not line.startswith("healthgate_dependency_checks_total{"):
            continue
        if f'result="{result}"' in line and f'reason="{reason}' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_rotated_password_file_is_picked_up_without_a_restart(
    make_redis: Callable[[], redis.RedisServer], serve: Callable[..., Served], tmp_path: Path
) -> None:
    server = make_redis()
    volume = tmp_path / "secret"
    volume.mkdir()
    publish(volume, "..2026_01_01_00_00_00.1", redis.PASSWORD)
    config = tmp_path / "config.json"
    block = {
        "url": f"redis://{server.host}:{server.port}/0",
        "passwordFile": str(volume / "password"),
    }
    dep = {"name": "cache", "type": "redis", "intervalSeconds": 0.3, "timeoutSeconds": 0.25,
           "failureThreshold": 1, "redis": block}  # fmt: skip
    config.write_text(json.dumps({"dependencies": [dep]}))
    served = serve(config)
    served.wait(lambda: status(served)[0] == "healthy")

    admin = redis_py.Redis(host=server.host, port=server.port, password=redis.PASSWORD)
    admin.config_set("requirepass", NEW_PASSWORD)
    admin.client_kill_filter(_type="normal", skipme=True)  # as after a failover or restart
    admin.close()
    served.wait(lambda: status(served) == ("unhealthy", "auth"))

    publish(volume, "..2026_01_01_00_05_00.2", NEW_PASSWORD)  # the kubelet catches up
    served.wait(lambda: status(served)[0] == "healthy", timeout=15)
    log = served.log.read_text()
    for secret in (redis.PASSWORD, NEW_PASSWORD):
        assert secret not in log
        assert secret not in served.get("/health")[1]


def test_zero_downtime_rotation_with_two_passwords_never_fails_a_check(
    make_redis: Callable[[], redis.RedisServer], serve: Callable[..., Served], tmp_path: Path
) -> None:
    server = make_redis()
    served = serve(_config(tmp_path, server))
    served.wait(lambda: status(served)[0] == "healthy")
    admin = redis_py.Redis(host=server.host, port=server.port, password=redis.PASSWORD)
    admin.acl_setuser("default", enabled=True, passwords=[f"+{NEW_PASSWORD}"])  # both valid
    publish(tmp_path / "secret", "..2026_01_01_00_05_00.2", NEW_PASSWORD)
    successes = checks(served, "success")
    served.wait(lambda: checks(served, "success") >= successes + 3)  # the new file was seen
    admin.acl_setuser("default", enabled=True, passwords=[f"-{redis.PASSWORD}"])  # retired
    admin.client_kill_filter(_type="normal", skipme=True)
    admin.close()
    successes = checks(served, "success")
    served.wait(lambda: checks(served, "success") >= successes + 5)
    # The kill itself may cost one "connection closed" round; never an auth failure.
    assert checks(served, "failure", reason="auth") == 0
