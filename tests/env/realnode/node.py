"""The real node: start containerd, the kubelet and kube-proxy on this machine; stop them clean.

:func:`ensure_installed` installs what the node needs (Debian packages through apt-get, the
kubelet and kube-proxy built at the control plane's version, crictl), all cached.
:class:`RealNode` starts the parts in order and waits for the Node to be Ready; :meth:`stop`
(also run when a start fails half-way, and by ``make env-down`` from the state it recorded)
removes every pod through the CRI, stops every process, unmounts what was mounted under the
node's directory and restores the machine (:mod:`.host`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.env import common, kube, versions
from tests.env.realnode import agents, apiservice, dns, host, images, runtime

NAME = "healthgate-node"
# Debian packages of the node: runtime, OCI runtime, CNI plugins, iptables for kube-proxy, the
# static binaries its local images are made of, and umoci to make them.
PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "iptables": "iptables",
    "catatonit": "catatonit",
    "/bin/busybox": "busybox-static",
    "umoci": "umoci",
    "socat": "socat",  # the pods' way to the loopback API server (:mod:`.apiservice`)
}


@dataclass(frozen=True)
class Binaries:
    kubelet: Path
    kube_proxy: Path
    crictl: Path
    coredns: Path


def ensure_installed() -> Binaries:
    """Install the node's Debian packages and build its Go binaries (once; cached)."""
    install_packages()
    return build_binaries()


def install_packages() -> None:
    """The node's Debian packages and the local images made of them: no Go build."""
    missing = [pkg for exe, pkg in PACKAGES.items() if not _found(exe)]
    if missing:
        common.apt_install(missing, why="the real node needs them")
    images.archive(images.pause())
    images.archive(images.busybox())


def build_binaries() -> Binaries:
    """The node's Go binaries, built once into the cache."""
    k8s = common.go_component(
        "kubernetes-node", versions.KUBERNETES, revision=versions.KUBERNETES_REVISION
    )
    cri = common.go_component("cri-tools", versions.CRI_TOOLS)
    return Binaries(
        kubelet=k8s / "kubelet",
        kube_proxy=k8s / "kube-proxy",
        crictl=cri / "crictl",
        coredns=dns.binary(),
    )


def _found(exe: str) -> bool:
    path = os.pathsep.join(["/usr/sbin", "/sbin", os.environ.get("PATH", "")])
    return Path(exe).exists() if exe.startswith("/") else shutil.which(exe, path=path) is not None


@dataclass
class RealNode:
    """One Node of ``cluster`` whose pods run in containers, in ``workdir``."""

    cluster: kube.KubeCluster
    workdir: Path
    name: str = NAME
    taints: tuple[str, ...] = ()  # ``key=value:Effect``, registered with the Node
    # The kubelet's pod sync period, which bounds how late a ConfigMap volume is rewritten;
    # None keeps its default (1 min), as on a real cluster (the demo, the benchmarks).
    sync_frequency: str | None = None
    changes: host.HostChanges = field(default_factory=host.HostChanges)
    containerd: runtime.Containerd | None = None
    processes: list[common.Process] = field(default_factory=list)

    def start(self, timeout: float = 120.0) -> None:
        """Start everything and wait for the Node to be Ready; on failure undo what was done."""
        if not common.is_root():
            raise common.EnvMissing("the real node needs root (bridge, iptables, mounts)")
        bins = ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self.changes.apply()
            self.containerd = runtime.start(self.workdir / "containerd")
            self.processes.append(self.containerd.process)
            kubelet = agents.start_kubelet(
                self.cluster,
                self.workdir / "kubelet",
                name=self.name,
                runtime=self.containerd.endpoint,
                kubelet=bins.kubelet,
                taints=self.taints,
                sync_frequency=self.sync_frequency,
            )
            self.processes.append(kubelet)
            proxy = agents.start_kube_proxy(
                self.cluster, self.workdir / "kube-proxy", name=self.name, binary=bins.kube_proxy
            )
            self.processes.append(proxy)
            relay, port = apiservice.start_relay(self.cluster, self.workdir / "relay")
            self.processes.append(relay)
            apiservice.publish(self.cluster, port)
            self.processes.append(
                dns.start(self.cluster, self.workdir / "dns", coredns=bins.coredns)
            )
            common.wait_until("the kubelet's Node Ready", self.ready, timeout=timeout, proc=kubelet)
        except BaseException:
            self.stop()
            raise
        common.progress(f"node {self.name} Ready in {time.monotonic() - started:.1f}s")

    def ready(self) -> bool:
        proc = self.cluster.kubectl("get", "node", self.name, "-o", "json", check=False)
        if proc.returncode != 0:
            return False
        conditions = json.loads(proc.stdout)["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def import_image(self, recipe: images.Recipe) -> str:
        assert self.containerd is not None, "start() the node first"
        return self.containerd.import_image(recipe)

    def state(self) -> dict[str, Any]:
        """What :func:`cleanup` needs, for ``make env-down`` in another process."""
        return {
            "workdir": str(self.workdir),
            "sysctls": self.changes.sysctls,
            "netns_before": sorted(self.changes.netns_before),
            "dirs_before": sorted(self.changes.dirs_before),
        }

    def stop(self) -> None:
        """Stop the node and leave nothing behind; safe to call twice."""
        for proc in reversed(self.processes[1:]):  # kube-proxy, kubelet: they restart pods
            proc.stop()
        if self.containerd is not None and self.containerd.process.alive:
            with contextlib.suppress(Exception):
                self.containerd.remove_all_pods(ensure_installed().crictl)
        for proc in self.processes:
            proc.stop()
        self.processes.clear()
        self.containerd = None
        cleanup(self.workdir, self.changes)
        apiservice.withdraw(self.cluster)
        dns.withdraw(self.cluster)
        # A restarted node must register afresh, not look Ready from its last status.
        self.cluster.kubectl("delete", "node", self.name, "--ignore-not-found", check=False)


def cleanup(workdir: Path, changes: host.HostChanges) -> None:
    """Kill what survives (containerd's shims, containers), unmount, restore the machine."""
    for pid in host.processes_mentioning(str(workdir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    host.kill_pod_processes()
    runtime.forget_sandboxes(workdir / "containerd")
    host.unmount_all(workdir)
    with contextlib.suppress(OSError):  # the kubelet's legacy links to container logs
        for link in Path("/var/log/containers").iterdir():
            if str(workdir) in os.readlink(link):
                link.unlink()
    changes.restore()


def cleanup_from_state(state: dict[str, Any]) -> None:
    changes = host.HostChanges(
        sysctls=dict(state["sysctls"]),
        netns_before=set(state["netns_before"]),
        dirs_before=set(state["dirs_before"]),
        applied=True,
    )
    cleanup(Path(state["workdir"]), changes)
