"""Start and stop a local node as a subprocess, for pytest fixtures and ``make demo``.

A subprocess rather than a task in the caller's event loop: the node runs dozens of processes
and probe loops, and must neither block nor be blocked by the test that drives it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.env import common, kube


@dataclass
class LocalNode:
    """The ``python -m tests.env.node`` process serving one Node of ``cluster``."""

    cluster: kube.KubeCluster
    name: str = "local-node"
    workdir: Path = field(default_factory=Path)
    backoff: float = 10.0
    process: common.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "node.log"

    def pod_logs(self, namespace: str, pod: str) -> list[Path]:
        """Log files of a pod's containers (``<container>/<restartCount>.log``), newest last."""
        found = sorted(self.workdir.glob(f"logs/{namespace}_{pod}_*/*/*.log"))
        return sorted(found, key=lambda p: p.stat().st_mtime)

    def pod_dir(self, pod: dict[str, Any]) -> Path:
        """Where the node keeps a pod's files (``volumes/<volume>/``)."""
        meta = pod["metadata"]
        return self.workdir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"

    def start(self, timeout: float = 60.0) -> None:
        """Run the node and wait until the Node is registered and its pods adopted."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "ready"
        ready.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "tests.env.node",
            f"--kubeconfig={self.cluster.kubeconfig}",
            f"--name={self.name}",
            f"--workdir={self.workdir}",
            f"--backoff={self.backoff}",
        ]
        root = Path(__file__).resolve().parents[3]  # the repository, so `tests` imports
        self.process = common.spawn("node", argv, log_dir=self.workdir, cwd=root)
        common.wait_until("local node", ready.exists, timeout=timeout, proc=self.process)

    def stop(self) -> None:
        """SIGTERM: the node stops every container process within its grace period, then exits."""
        if self.process is not None:
            self.process.stop(timeout=30)
            self.process = None
