"""The real CLI as a subprocess: serve with SIGTERM drain, hot reload, and ``check``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.env import common, redis

CLI = [sys.executable, "-m", "healthgate_sidecar.cli"]


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:  # noqa: S310
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10) -> float:
        began = time.monotonic()
        while not predicate():
            assert time.monotonic() - began < timeout, self.log.read_text()[-3000:]
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.05)
        return time.monotonic() - began

    def metric(self, name: str) -> float | None:
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], Served]]:
    started: list[Served] = []

    def start(config: Path) -> Served:
        port = common.free_port()
        log = tmp_path / f"sidecar-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *CLI,
                    "serve",
                    "--config",
                    str(config),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        served = Served(proc, f"http://127.0.0.1:{port}", log)
        started.append(served)
        served.wait(lambda: common.port_open("127.0.0.1", port), timeout=20)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


def env_config(*names: str, **settings: object) -> str:
    deps = [
        {"name": n.lower().replace("_", "-"), "type": "env", "intervalSeconds": 0.2,
         "timeoutSeconds": 0.1, "env": {"names": [n]}}
        for n in names
    ]  # fmt: skip
    return json.dumps({"dependencies": deps, "watchIntervalSeconds": 0.2, **settings})


def test_sigterm_turns_readiness_off_then_exits_0_after_the_drain(
    serve: Callable[[Path], Served], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(env_config("HOME", drainSeconds=1.5))
    served = serve(config)
    served.wait(lambda: served.get("/readyz")[0] == 200)
    sent = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    took = served.wait(lambda: served.get("/readyz")[0] == 503, timeout=1)
    assert took < 0.5
    assert served.get("/livez")[0] == 200  # still alive while draining
    assert "[-]shutdown failed: draining" in served.get("/readyz?verbose")[1]
    assert served.proc.wait(10) == 0
    elapsed = time.monotonic() - sent
    assert 1.5 <= elapsed < 4
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
    took = served.wait(lambda: "path" in json.loads(served.get("/health")[1])["components"])
    assert took < 3
    assert served.metric("healthgate_config_last_reload_successful") == 1
    config.write_text('{"dependencies": [{"name": "x", "type": "env", "env": {"names": []}}]}')
    served.wait(lambda: served.metric("healthgate_config_last_reload_successful") == 0)
    components = json.loads(served.get("/health")[1])["components"]
    assert sorted(components) == ["home", "path"]  # the last good config is still in force
    assert served.get("/readyz")[0] == 200
    log = served.log.read_text()
    assert "config rejected" in log
    assert "dependencies[0].env.names: List should have at least 1 item" in log


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
    assert details["target"] == f"redis://:***@{redis_server.host}:{redis_server.port}/0"
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
