"""Prometheus (built from the Go module proxy) and promtool (Debian's ``prometheus``)."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.env import common, versions


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
    """The Prometheus server, built from the Go module proxy: Debian's package is compiled
    without Kubernetes service discovery, which the end-to-end scrape of pods needs."""
    return common.go_component("prometheus", versions.PROMETHEUS) / "prometheus"


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


PROMETHEUS_RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: healthgate-local-prometheus}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: healthgate-local-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: healthgate-local-prometheus}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: healthgate-local-prometheus}
"""


def kubernetes_pods_config(
    *, api_server: str, ca_file: Path, cert_file: Path, key_file: Path, interval: str = "2s"
) -> str:
    """Scrape config discovering pods through the API server (``kubernetes_sd_configs``, role
    pod) and keeping those annotated ``prometheus.io/scrape: "true"``, at ``podIP:port`` — the
    same relabelling users run in clusters, so it tests the annotations the operator sets."""
    tls = f"{{ca_file: {ca_file}, cert_file: {cert_file}, key_file: {key_file}}}"
    return f"""
global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}
scrape_configs:
  - job_name: healthgate-sidecars
    kubernetes_sd_configs:
      - role: pod
        api_server: {api_server}
        tls_config: {tls}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        regex: "true"
        action: keep
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        regex: (.+)
        target_label: __metrics_path__
      - source_labels:
          - __meta_kubernetes_pod_ip
          - __meta_kubernetes_pod_annotation_prometheus_io_port
        regex: (.+);(\\d+)
        replacement: $1:$2
        target_label: __address__
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
"""
