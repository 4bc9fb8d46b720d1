"""What the real node changes on this machine, and how each change is undone.

The node needs a bridge for its pods, IP forwarding, one FORWARD rule that keeps pod traffic
inside the pod range, and it lets the kubelet and kube-proxy write their iptables chains and a few
sysctls. :class:`HostChanges` records the machine's state before any of that and restores it on
:meth:`HostChanges.restore`; :func:`leftovers` lists whatever a stopped node left behind, so a
test can assert that nothing did. The machine's default route, resolver and INPUT/OUTPUT
policies are never touched: its own access to the package registries must keep working.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.env import common

# RFC 2544's benchmarking range: routed nowhere, so nothing here can collide with a real network.
POD_CIDR = "198.18.0.0/16"
SERVICE_CIDR = "198.19.0.0/16"
NODE_RANGE = "198.18.0.0/15"
BRIDGE = "hg-node0"
BRIDGE_ADDRESS = "198.18.0.1"
RULE_COMMENT = "healthgate-node"
NETNS_DIR = Path("/run/netns")
# Directories outside the run directory whose paths are built into containerd 1.6 (its shims'
# sockets), libcni (its result cache) and the kubelet (legacy log links): removed on stop when
# they did not exist before and are empty.
SHARED_DIRS = (
    str(NETNS_DIR),
    "/run/containerd/s",
    "/run/containerd",
    "/var/lib/cni/results",
    "/var/lib/cni",
    "/var/log/containers",
)
# kube-proxy's and the kubelet's chains start with these; CNI's bridge plugin adds none (no masq).
OWN_CHAINS = ("KUBE-",)
# The kubelet sets these unless protectKernelDefaults (which would refuse to start instead).
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
FORWARD_DROP = [
    "FORWARD",
    "-s",
    NODE_RANGE,
    "!",
    "-d",
    NODE_RANGE,
    "-m",
    "comment",
    "--comment",
    RULE_COMMENT,
    "-j",
    "DROP",
]


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def _ip(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise common.EnvMissing(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _iptables(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "-w", *args], capture_output=True, text=True, check=False)


def netns_names() -> set[str]:
    """Named network namespaces (containerd's CRI creates ``cni-<uuid>`` ones for sandboxes)."""
    with contextlib.suppress(OSError):
        return set(os.listdir(NETNS_DIR))
    return set()


@dataclass
class HostChanges:
    """The machine's state before the node started, to be restored when it stops."""

    sysctls: dict[str, str] = field(default_factory=dict)
    netns_before: set[str] = field(default_factory=set)
    dirs_before: set[str] = field(default_factory=set)  # which of SHARED_DIRS existed
    applied: bool = False  # restore() touches nothing of a node that never got this far

    def apply(self) -> None:
        """Bridge up, forwarding on, pod traffic kept inside the node's range."""
        for name in SYSCTLS:
            with contextlib.suppress(OSError):
                self.sysctls[name] = _sysctl_path(name).read_text().strip()
        self.netns_before = netns_names()
        self.dirs_before = {d for d in SHARED_DIRS if Path(d).exists()}
        if BRIDGE in _ip("-br", "link", "show"):
            raise common.EnvMissing(f"bridge {BRIDGE} exists: another node runs (make env-down)")
        self.applied = True
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{BRIDGE_ADDRESS}/16", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        # Pods on one bridge reach a Service's backend on the same bridge: the reply must pass
        # kube-proxy's conntrack, which only sees bridged packets with this on.
        _sysctl_path("net/bridge/bridge-nf-call-iptables").write_text("1")
        _sysctl_path("net/ipv4/ip_forward").write_text("1")
        proc = _iptables("iptables", "-I", *FORWARD_DROP)
        if proc.returncode != 0:
            raise common.EnvMissing(f"iptables -I {' '.join(FORWARD_DROP)}: {proc.stderr}")

    def restore(self) -> None:
        """Undo :meth:`apply` and whatever the kubelet and kube-proxy added; safe to repeat."""
        if not self.applied:
            return
        for name in netns_names() - self.netns_before:
            if name.startswith("cni-"):
                remove_netns(name)
        for name in SHARED_DIRS:  # deepest first: a parent goes once its child has gone
            if name not in self.dirs_before:
                with contextlib.suppress(OSError):  # not empty: someone else's, keep it
                    Path(name).rmdir()
        for binary in ("iptables", "ip6tables"):
            remove_rules(binary)
        _ip("link", "del", BRIDGE, check=False)
        for name, value in self.sysctls.items():
            with contextlib.suppress(OSError):
                _sysctl_path(name).write_text(value)
        self.applied = False


def remove_netns(name: str) -> None:
    path = NETNS_DIR / name
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
    with contextlib.suppress(OSError):
        path.unlink()


def _own_rules(binary: str, table: str) -> tuple[list[list[str]], list[str]]:
    """Rules of built-in chains that are ours or jump to our chains, and our chains' names."""
    out = _iptables(binary, "-t", table, "-S").stdout
    rules, chains = [], []
    for line in out.splitlines():
        words = shlex.split(line)  # comments are quoted and hold spaces
        if words[:1] == ["-N"] and words[1].startswith(OWN_CHAINS):
            chains.append(words[1])
        elif words[:1] == ["-A"] and not words[1].startswith(OWN_CHAINS):
            jumps = any(w.startswith(OWN_CHAINS) for w in words[2:])
            if jumps or RULE_COMMENT in line:
                rules.append(words[1:])
    return rules, chains


def remove_rules(binary: str) -> None:
    """Delete the FORWARD rule and every KUBE-* chain with the rules that jump to it."""
    for table in ("filter", "nat", "mangle"):
        rules, chains = _own_rules(binary, table)
        for rule in rules:
            _iptables(binary, "-t", table, "-D", *rule)
        for chain in chains:
            _iptables(binary, "-t", table, "-F", chain)
        for chain in chains:
            _iptables(binary, "-t", table, "-X", chain)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (the order to unmount them in)."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all(root: Path) -> None:
    for point in mounts_under(root):
        proc = subprocess.run(["umount", point], capture_output=True, check=False)
        if proc.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def processes_mentioning(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (the run directory: only our own processes,
    containerd's shims included, which outlive containerd by design)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace"
            ):
                found.append(int(entry.name))
    return found


def leftovers(root: Path, before: HostChanges) -> list[str]:
    """Everything of a stopped node that is still on the machine; empty when it cleaned up."""
    found = [f"process {pid}" for pid in processes_mentioning(str(root))]
    found += [f"mount {point}" for point in mounts_under(root)]
    if BRIDGE in _ip("-br", "link", "show"):
        found.append(f"bridge {BRIDGE}")
    found += [f"netns {n}" for n in sorted(netns_names() - before.netns_before)]
    found += [f"cgroup {c}" for c in pod_cgroups()]
    found += [
        f"directory {d}" for d in SHARED_DIRS if Path(d).exists() and d not in before.dirs_before
    ]
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules, chains = _own_rules(binary, table)
            found += [f"{binary} -t {table} rule {' '.join(r)}" for r in rules]
            found += [f"{binary} -t {table} chain {c}" for c in chains]
    for name, value in before.sysctls.items():
        now = _sysctl_path(name).read_text().strip()
        if now != value:
            found.append(f"sysctl {name} = {now} (was {value})")
    return found


CGROUP_FS = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"  # the kubelet's cgroupfs driver puts every pod under /kubepods


def pod_cgroups() -> list[Path]:
    """The kubelet's pod cgroups in every v1 hierarchy, deepest first (the order to remove)."""
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for hierarchy in CGROUP_FS.iterdir():
            top = hierarchy / KUBEPODS
            if top.is_dir():
                found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def kill_pod_processes() -> None:
    """SIGKILL whatever still runs in a pod cgroup, then remove the cgroups."""
    for cgroup in pod_cgroups():
        with contextlib.suppress(OSError):
            for pid in (cgroup / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
    for cgroup in pod_cgroups():
        for _ in range(50):  # a killed process leaves its cgroup a moment later
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
