"""Prometheus and promtool from Debian's ``prometheus`` package."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.env import common


@dataclass
class PrometheusServer:
    host: str
    port: int
    workdir: Path
    config_path: Path
    process: common.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def promtool() -> Path:
    return common.which_or_install("promtool", "prometheus")


def ensure_installed() -> Path:
    return common.which_or_install("prometheus", "prometheus")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def start(workdir: Path, config: str, host: str = "127.0.0.1") -> PrometheusServer:
    """Start Prometheus with ``config`` (YAML text); the lifecycle API allows reloads."""
    binary = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(config)
    port = common.free_port(host)
    server = PrometheusServer(host=host, port=port, workdir=workdir, config_path=config_path)
    server.process = common.spawn(
        "prometheus",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={host}:{port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1h",
        ],
        log_dir=workdir,
    )
    common.wait_until("prometheus", lambda: _ready(server.url), timeout=60, proc=server.process)
    return server
