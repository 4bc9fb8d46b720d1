"""The kubelet and kube-proxy of the real node: identities, configuration files, processes.

Each has its own client certificate from the cluster's CA: the kubelet is ``system:node:<name>``
in ``system:nodes`` (so the API server's Node authorizer and NodeRestriction admission apply to
it), kube-proxy is ``system:kube-proxy`` (bound to ``system:node-proxier`` by the API server's
defaults). The kubelet's own API serves a certificate for 127.0.0.1 and authenticates and
authorizes every caller through the API server (webhook mode, no anonymous access).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.env import common, kube, pki
from tests.env.realnode import dns, host

# The Node's InternalIP, where the API server reaches the kubelet (`kubectl logs/exec`): the
# bridge's own address, on this machine and inside the node's range. The kubelet refuses a
# loopback node IP, and any other address of the machine would lead traffic off it.
NODE_IP = host.BRIDGE_ADDRESS
LOOPBACK = "127.0.0.1"  # health and metrics endpoints nobody outside this machine needs


def _kubeconfig(cluster: kube.KubeCluster, workdir: Path, stem: str, cn: str, org: str) -> Path:
    pair = cluster.ca.issue(stem, cn, orgs=(org,) if org else (), client=True)
    path = workdir / f"{stem}.kubeconfig"
    kube.write_kubeconfig(path, server=cluster.server, ca=cluster.ca.pem, client=pair, user=cn)
    return path


def kubelet_config(
    workdir: Path,
    serving: pki.KeyPair,
    ca: Path,
    runtime: str,
    taints: tuple[str, ...],
    *,
    sync_frequency: str | None = None,
) -> dict[str, object]:
    """KubeletConfiguration for this machine: cgroup v1 with cgroupfs (no systemd), no swap
    check, eviction thresholds low enough for a busy test VM, and no resolver of the host's
    handed to pods (they must not reach anything outside the pod range): their resolv.conf
    names the cluster's DNS only (:mod:`.dns`). ``sync_frequency`` None keeps the kubelet's
    default pod sync period (1 min)."""
    sync = {} if sync_frequency is None else {"syncFrequency": sync_frequency}
    return {
        **sync,
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": common.free_port(),
        "readOnlyPort": 0,
        "healthzBindAddress": LOOPBACK,
        "healthzPort": common.free_port(),
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": runtime,
        "podLogsDir": str(workdir / "pod-logs"),
        "resolvConf": "",
        "clusterDNS": [dns.ADDRESS],
        "clusterDomain": dns.DOMAIN,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # Images are imported, never pulled: garbage-collecting them would lose them for good.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "registerWithTaints": [_taint(t) for t in taints],
    }


def _taint(spec: str) -> dict[str, str]:
    """``key=value:Effect`` as the Node API spells it."""
    key_value, effect = spec.rsplit(":", 1)
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect}


def start_kubelet(
    cluster: kube.KubeCluster,
    workdir: Path,
    *,
    name: str,
    runtime: str,
    kubelet: Path,
    taints: tuple[str, ...],
    sync_frequency: str | None = None,
) -> common.Process:
    workdir.mkdir(parents=True, exist_ok=True)
    serving = cluster.ca.issue("kubelet-serving", name, hosts=(NODE_IP, name), server=True)
    kubeconfig = _kubeconfig(cluster, workdir, "kubelet", f"system:node:{name}", "system:nodes")
    config = workdir / "kubelet.json"
    settings = kubelet_config(
        workdir, serving, cluster.ca.cert, runtime, taints, sync_frequency=sync_frequency
    )
    config.write_text(json.dumps(settings))
    return common.spawn(
        "kubelet",
        [
            kubelet,
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={workdir / 'root'}",
            f"--hostname-override={name}",
            f"--node-ip={NODE_IP}",
            "--v=1",
        ],
        log_dir=workdir,
    )


def kube_proxy_config(kubeconfig: Path, name: str) -> dict[str, object]:
    """iptables mode that leaves the machine's conntrack sysctls alone (zero = do not set) and
    opens no NodePort on the machine's own interfaces: only on the bridge's address."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": name,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"{LOOPBACK}:{common.free_port()}",
        "metricsBindAddress": f"{LOOPBACK}:{common.free_port()}",
        "clusterCIDR": host.POD_CIDR,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [f"{host.BRIDGE_ADDRESS}/32"],
        "iptables": {"localhostNodePorts": False},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
    }


def start_kube_proxy(
    cluster: kube.KubeCluster, workdir: Path, *, name: str, binary: Path
) -> common.Process:
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = _kubeconfig(cluster, workdir, "kube-proxy", "system:kube-proxy", "")
    config = workdir / "kube-proxy.json"
    config.write_text(json.dumps(kube_proxy_config(kubeconfig, name)))
    return common.spawn("kube-proxy", [binary, f"--config={config}", "--v=1"], log_dir=workdir)
