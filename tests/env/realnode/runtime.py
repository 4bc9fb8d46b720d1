"""containerd (Debian's, with runc and the CNI plugins) for the real node, all inside its run dir.

Its root, state, socket and CNI configuration live under the node's directory, so it shares
nothing with a containerd the machine may run. Three facts of this machine shape the config:
root lacks ``CAP_SYS_RESOURCE`` (so runc may not lower a sandbox's ``oom_score_adj``:
``restrict_oom_score_adj``), cgroups are v1 with the cgroupfs driver (no systemd), and nothing is
pulled (the sandbox image is imported from :mod:`.images`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.env import common
from tests.env.realnode import host, images

CNI_BIN = Path("/usr/lib/cni")
NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
NETWORK = "healthgate"  # the CNI network's name, which libcni's cache files start with
# Plugins that would write outside the run directory (/opt/containerd) or that we do not use.
DISABLED = (
    "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.tracing.processor.v1.otlp",
)


def cni_config(workdir: Path) -> dict[str, object]:
    """A bridge with host-local addresses in the pod range and NO default route: a pod reaches
    the range (other pods, Services, the bridge's own address for host servers) and nothing else."""
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": host.BRIDGE,
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": host.POD_CIDR, "gateway": host.BRIDGE_ADDRESS}]],
                    "routes": [{"dst": host.NODE_RANGE}],
                    "dataDir": str(workdir / "cni" / "ipam"),
                },
            },
            {"type": "loopback"},
        ],
    }


def config_toml(workdir: Path, sandbox_image: str) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    disabled = ", ".join(f'"{p}"' for p in DISABLED)
    return f"""version = 2
root = "{workdir / "root"}"
state = "{workdir / "state"}"
disabled_plugins = [{disabled}]
[grpc]
  address = "{workdir / "containerd.sock"}"
[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{workdir / "runc"}"
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{workdir / "cni" / "net.d"}"
"""


@dataclass
class Containerd:
    workdir: Path
    process: common.Process

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def ctr(self, *args: str | Path) -> str:
        return common.run(["ctr", f"--address={self.socket}", "-n", NAMESPACE, *args])

    def import_image(self, recipe: images.Recipe) -> str:
        """Load ``recipe``'s archive (built or cached) and return the name pods use."""
        archive = images.archive(recipe)
        base = recipe.ref.rsplit(":", 1)[0]
        self.ctr("images", "import", f"--base-name={base}", archive)
        return recipe.ref

    def import_archive(self, archive: Path, ref: str = "") -> None:
        """Load an OCI archive whose index names its image in full (as ``buildah push`` does);
        not again if ``ref`` is already there (a session's suites share the node, and an import
        of the HealthGate image takes tens of seconds)."""
        if ref and ref in self.ctr("images", "ls", "-q").split():
            return
        self.ctr("images", "import", archive)

    def remove_all_pods(self, crictl: Path) -> None:
        """Stop and remove every sandbox through the CRI, so CNI releases each netns and IP."""
        with (self.workdir / "crictl.log").open("ab") as log:
            subprocess.run(
                [crictl, f"--runtime-endpoint={self.endpoint}", "--timeout=30s", "rmp", "-a", "-f"],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=120,
            )

    def pid(self, crictl: Path, container_id: str) -> int:
        """The host PID of a container's first process (``containerd://<id>`` or the bare ID)."""
        out = common.run(
            [
                crictl,
                f"--runtime-endpoint={self.endpoint}",
                "inspect",
                container_id.rsplit("//", 1)[-1],
            ]
        )
        pid: int = json.loads(out)["info"]["pid"]
        return pid


def forget_sandboxes(workdir: Path) -> None:
    """Remove what containerd 1.6 and libcni keep outside ``workdir`` for each sandbox when it
    was not removed through the CRI: the shim's socket (named by a hash of containerd's address,
    namespace and sandbox ID) and the CNI result cache of our network."""
    tasks = workdir / "state" / "io.containerd.runtime.v2.task" / NAMESPACE
    ids = {p.name for p in tasks.iterdir()} if tasks.is_dir() else set()
    results = Path("/var/lib/cni/results")
    cached = list(results.glob(f"{NETWORK}-*")) if results.is_dir() else []
    ids |= {p.name.split("-")[1] for p in cached}
    socket = workdir / "containerd.sock"
    for sandbox in ids:
        digest = hashlib.sha256(f"{socket}/{NAMESPACE}/{sandbox}".encode()).hexdigest()
        Path("/run/containerd/s", digest).unlink(missing_ok=True)
        for ours in (f"{NETWORK}-{sandbox}-", f"cni-loopback-{sandbox}-"):
            for path in results.glob(f"{ours}*") if results.is_dir() else []:
                path.unlink(missing_ok=True)


def start(workdir: Path) -> Containerd:
    """Write the config, start containerd, wait for its socket, import the sandbox image."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
    (workdir / "cni" / "net.d" / "10-healthgate.conflist").write_text(
        json.dumps(cni_config(workdir), indent=2)
    )
    sandbox = images.pause()
    config = workdir / "config.toml"
    config.write_text(config_toml(workdir, sandbox.ref))
    proc = common.spawn("containerd", ["containerd", f"--config={config}"], log_dir=workdir)
    runtime = Containerd(workdir=workdir, process=proc)
    common.wait_until("containerd", runtime.socket.exists, timeout=30, proc=proc)
    common.wait_until("containerd's CRI", lambda: _serving(runtime), timeout=30, proc=proc)
    runtime.import_image(sandbox)
    return runtime


def _serving(runtime: Containerd) -> bool:
    try:
        runtime.ctr("version")
    except common.EnvMissing:
        return False
    return True
