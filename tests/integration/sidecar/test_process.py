"""The real CLI as a subprocess: serve with SIGTERM drain, hot reload, and ``check``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.env import redis
from tests.integration.sidecar.conftest import CLI, Served, env_config


def test_sigterm_turns_readiness_off_then_exits_0_after_the_drain(
    serve: Callable[[Path], Served], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME", drainSeconds=1.5))
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    sent = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    served.wait(lambda: served.get("/readyz")[0] == 503)  # wait() fails if the process exits
    assert served.get("/livez")[0] == 200  # still alive while draining
    assert "[-]shutdown failed: draining" in served.get("/readyz?verbose")[1]
    assert served.proc.wait(10) == 0
    assert time.monotonic() - sent >= 1.5  # it stayed for the whole drain
    log = served.log.read_text()
    assert "draining" in log
    assert "Traceback" not in log


def test_second_signal_cuts_the_drain_short(
    serve: Callable[[Path], Served], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME", drainSeconds=30))
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    served.proc.send_signal(signal.SIGTERM)
    served.wait(lambda: served.get("/readyz")[0] == 503, timeout=2)
    served.proc.send_signal(signal.SIGINT)
    assert served.proc.wait(5) == 0


def test_hot_reload_rewrite_and_invalid_keeps_last_good(
    serve: Callable[[Path], Served], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME"))
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    config.write_text(env_config("HOME", "PATH"))
    served.wait(lambda: "path" in json.loads(served.get("/health")[1])["components"])
    assert served.metric("healthgate_config_last_reload_successful") == 1
    config.write_text('{"dependencies": [{"name": "x", "type": "env", "env": {"names": []}}]}')
    served.wait(lambda: served.metric("healthgate_config_last_reload_successful") == 0)
    components = json.loads(served.get("/health")[1])["components"]
    assert sorted(components) == ["home", "path"]  # the last good config is still in force
    assert served.get("/readyz")[0] == 200
    log = served.log.read_text()
    assert "config rejected" in log
    assert "dependencies[0].env.names: List should have at least 1 item" in log


def test_startup_stays_complete_when_a_reload_adds_a_failing_startup_dependency(
    serve: Callable[[Path], Served], tmp_path: Path
) -> None:
    # Startup is a latch: a dependency added later must not make the kubelet's startup probe
    # fail (and restart the container) long after the pod started.
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME"))
    served = serve(config)
    served.wait(lambda: served.get("/startupz")[0] == 200)
    data = json.loads(env_config("HOME", "HG_SURELY_UNSET_VARIABLE"))
    data["dependencies"][1]["requiredForStartup"] = True
    config.write_text(json.dumps(data))
    component = "hg-surely-unset-variable"
    served.wait(
        lambda: (
            json.loads(served.get("/health")[1])["components"].get(component, {}).get("status")
            == "unhealthy"
        )
    )
    assert served.get("/startupz")[0] == 200
    assert served.metric("healthgate_startup_complete") == 1


def test_readyz_exclude_over_http(serve: Callable[[Path], Served], tmp_path: Path) -> None:
    # Kubernetes' own ?exclude= convention: a human can see readiness without one check.
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME", "HG_SURELY_UNSET_VARIABLE"))
    served = serve(config)
    # Both checks must have a result: before its first one, ``home`` is unknown, not ready.
    served.wait(
        lambda: (
            {
                name: c["status"]
                for name, c in json.loads(served.get("/health")[1])["components"].items()
            }
            == {"home": "healthy", "hg-surely-unset-variable": "unhealthy"}
        )
    )
    status, text = served.get("/readyz?exclude=hg-surely-unset-variable&verbose")
    assert status == 200
    assert "[+]hg-surely-unset-variable excluded: ok" in text
    assert served.get("/readyz?exclude=home")[0] == 503
    assert served.get("/readyz")[0] == 503  # excluding is per request, never remembered


def test_hot_reload_through_configmap_symlink_swap(
    serve: Callable[[Path], Served], tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()

    def publish(version: str, text: str) -> None:
        (volume / version).mkdir()
        (volume / version / "config.json").write_text(text)
        (volume / "..data_tmp").symlink_to(version)
        os.replace(volume / "..data_tmp", volume / "..data")  # the kubelet's atomic swap

    publish("..2024_01_01_00_00_00.1", env_config("HOME"))
    (volume / "config.json").symlink_to("..data/config.json")
    served = serve(volume / "config.json")
    served.wait(lambda: served.get("/readyz")[0] == 200)
    publish("..2024_01_01_00_01_00.2", env_config("HOME", "PATH"))
    served.wait(lambda: "path" in json.loads(served.get("/health")[1])["components"], timeout=3)


def test_check_command_against_real_redis(redis_server: redis.RedisServer, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    block = json.dumps({"url": redis_server.url, "writeCheck": True})
    config.write_text(f"dependencies:\n  - {{name: cache, type: redis, redis: {block}}}\n")
    table = subprocess.run(
        [*CLI, "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[:3] == ["cache", "redis", "healthy"]
    as_json = subprocess.run(
        [*CLI, "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert as_json.returncode == 0
    details = json.loads(as_json.stdout)["components"]["cache"]["details"]
    assert details["target"] == f"redis://***@{redis_server.host}:{redis_server.port}/0"
    for output in (table.stdout, table.stderr, as_json.stdout, as_json.stderr):
        assert redis.PASSWORD not in output


def test_check_command_not_ready_exits_1(
    make_redis: Callable[[], redis.RedisServer], tmp_path: Path
) -> None:
    server = make_redis()
    server.stop()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"dependencies:\n  - {{name: cache, type: redis, redis: {{url: '{server.url}'}}}}\n"
    )
    proc = subprocess.run(
        [*CLI, "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "unhealthy" in proc.stdout
    assert redis.PASSWORD not in proc.stdout + proc.stderr
