"""Command line for the local environment: ``python -m tests.env install|up|status|down``.

``up`` starts every service in the background (they outlive this command), records their
process groups and connection details in a state file, and prints what runs where: with ``kube``,
a real cluster (control plane and the real node) with HealthGate installed by ``helm install
charts/healthgate`` from the image our Dockerfile builds. ``down`` stops what ``up`` started and
leaves nothing of the node behind. ``install`` only builds and installs, so CI can warm the
cache first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.env import (
    common,
    kafka,
    kube,
    mariadb,
    neo4j,
    oidc,
    postgres,
    prometheus,
    rabbitmq,
    redis,
    s3,
    temporal,
    versions,
)
from tests.env.realnode import buildah, relay, release
from tests.env.realnode import node as realnode

STATE = common.CACHE / "run" / "state.json"
COMPONENTS = (
    "redis", "postgres", "neo4j", "mariadb", "rabbitmq", "kube", "prometheus",
    "kafka", "oidc", "s3", "temporal",
)  # fmt: skip
RELEASE, RELEASE_NS = "healthgate", "healthgate-system"
LOOPBACK = "loopback"  # a host server's address, which pods reach through a relay (`pods`)


def _install_prometheus() -> None:
    prometheus.ensure_installed()
    prometheus.promtool()


def _install_kube() -> None:
    # Packages and images first: they overlap with the Go lane's builds (see `install`).
    realnode.install_packages()
    buildah.healthgate()  # the images pods run, built once per change of their inputs
    buildah.redis()
    _build_kube()


def _build_kube() -> None:
    kube.ensure_installed()
    realnode.build_binaries()


# Each component's Go builds, without its Debian packages: what the Go lane builds.
GO_BUILDS: dict[str, Callable[[], object]] = {
    "kube": _build_kube,
    "prometheus": prometheus.ensure_installed,
    "oidc": oidc.ensure_installed,
    "temporal": temporal.ensure_installed,
}


class GoLane:
    """Builds the Go components in a thread of their own, while the caller installs the rest.

    A cold install is mostly Go builds, which keep both cores busy, and downloads, dpkg,
    mmdebstrap and image builds, which mostly wait: side by side, the waiting overlaps the
    building. Each build holds its cache lock (:func:`tests.env.common.cached`), so the other
    lane asking for the same component waits for it instead of building it twice.
    """

    def __init__(self, builds: list[Callable[[], object]]) -> None:
        self._builds = builds
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="go-lane", daemon=True)

    def _run(self) -> None:
        for build in self._builds:
            if self._stop.is_set():
                return
            try:
                build()
            except BaseException as exc:  # handed to the caller by __exit__
                self.error = exc
                return

    def __enter__(self) -> GoLane:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Start no more builds; the one under way finishes (its cache stays whole)."""
        self._stop.set()

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is not None:  # the caller failed
            self.stop()
        self._thread.join()
        if exc is None and self.error is not None:
            raise self.error


def install(components: tuple[str, ...]) -> None:
    installers: dict[str, Callable[[], object]] = {
        "redis": redis.ensure_installed,
        "postgres": postgres.ensure_installed,
        "neo4j": neo4j.ensure_installed,
        "mariadb": mariadb.ensure_installed,
        "rabbitmq": rabbitmq.ensure_installed,
        "kube": _install_kube,
        "prometheus": _install_prometheus,
        "kafka": kafka.ensure_installed,
        "oidc": oidc.ensure_installed,
        "s3": s3.ensure_installed,
        "temporal": temporal.ensure_installed,
    }
    go = [GO_BUILDS[name] for name in components if name in GO_BUILDS]
    with GoLane(go):
        # What has no Go build first, so it overlaps the Go lane instead of waiting behind it.
        for name in sorted(components, key=lambda name: name in GO_BUILDS):
            common.progress(f"checking {name}")
            installers[name]()


def _start_service(name: str, root: Path) -> tuple[list[common.Process], dict[str, Any]]:
    """The servers the kafka, oidc, s3 and grpc (Temporal) checks are tested against."""
    if name == "kafka":
        k = kafka.start(root / "kafka")
        info = {"bootstrap": k.bootstrap, "sasl": k.sasl_bootstrap, "user": kafka.USER,
                "password": kafka.PASSWORD}  # fmt: skip
        return [p for p in [k.process] if p], info
    if name == "oidc":
        o = oidc.start(root / "oidc")
        info = {"issuer": o.issuer, "client": oidc.CLIENT_ID, "secret": oidc.CLIENT_SECRET}
        return [p for p in [o.process] if p], info
    if name == "temporal":
        t = temporal.start(root / "temporal")
        return [p for p in [t.process] if p], {"frontend": t.frontend, "service": temporal.SERVICE}
    b = s3.start(root / "s3")
    info = {"endpoint": b.endpoint, "bucket": s3.BUCKET, "accessKey": s3.ACCESS_KEY,
            "secretKey": s3.SECRET_KEY}  # fmt: skip
    return [p for p in [b.process] if p], info


def _start(name: str, root: Path) -> tuple[list[common.Process], dict[str, Any]]:
    """Start one component; return its processes and what a user needs to reach it."""
    if name in ("kafka", "oidc", "s3", "temporal"):
        return _start_service(name, root)
    if name == "redis":
        r = redis.start(root / "redis")
        return [p for p in [r.process] if p], {"url": r.url, LOOPBACK: f"{r.host}:{r.port}"}
    if name == "postgres":
        pg = postgres.start(root / "postgres")
        return [p for p in [pg.process] if p], {"dsn": pg.dsn, LOOPBACK: f"{pg.host}:{pg.port}"}
    if name == "neo4j":
        n = neo4j.start(root / "neo4j")
        info = {"uri": n.uri, "user": n.user, "password": n.password}
        info[LOOPBACK] = f"{n.host}:{n.bolt_port}"
        return [p for p in [n.process] if p], info
    if name == "mariadb":
        m = mariadb.start(root / "mariadb")
        where = {"host": m.host, "port": m.port, "user": m.user, LOOPBACK: f"{m.host}:{m.port}"}
        return [p for p in [m.process] if p], where
    if name == "rabbitmq":
        rq = rabbitmq.start(root / "rabbitmq")
        return [p for p in [rq.process, rq.epmd] if p], {"url": rq.url}
    if name == "kube":
        k = kube.start(root / "kube")
        node = realnode.RealNode(k, root / "node")
        try:
            node.start()
            installed = _install_healthgate(k, node)
        except BaseException:
            node.stop()
            k.stop()
            raise
        kinfo: dict[str, Any] = {
            "server": k.server,
            "kubeconfig": str(k.kubeconfig),
            "kubectl": str(k.bins.kubectl),
            "helm": str(k.bins.helm),
            "node": f"{node.name} (kubelet + containerd; logs in {node.workdir})",
            "healthgate": installed,
            "node_state": node.state(),
        }
        return [*k.processes, *node.processes], kinfo
    config = "global: {scrape_interval: 5s}\nscrape_configs: []\n"
    prom = prometheus.start(root / "prometheus", config)
    return [p for p in [prom.process] if p], {"url": prom.url}


def _install_healthgate(cluster: kube.KubeCluster, node: realnode.RealNode) -> str:
    """``helm install`` the chart with the local image, as a user does; what was installed."""
    image = release.import_healthgate(node)
    rel = release.Release(cluster, name=RELEASE, namespace=RELEASE_NS)
    took = rel.install(release.values(node, image=image, release=RELEASE, watch=()))
    common.progress(f"helm install {RELEASE}: operator Available in {took:.1f}s")
    return f"release {RELEASE} in {RELEASE_NS} ({image})"


def _relay_for_pods(root: Path, state: dict[str, Any]) -> None:
    """Pods reach the host's servers (loopback only) through relays on the bridge's address."""
    for name, info in state["services"].items():
        target = info.pop(LOOPBACK, None)
        if target is not None:
            found = relay.start(f"{name}-relay", target, root / f"{name}-relay")
            state["pgids"].append(found.process.popen.pid)
            info["pods"] = found.address


def up(components: tuple[str, ...]) -> int:
    if STATE.exists():
        print(f"already up (state in {STATE}); run `make env-down` first", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="healthgate-env-"))
    root.chmod(0o755)
    state: dict[str, Any] = {"root": str(root), "pgids": [], "services": {}}
    STATE.parent.mkdir(parents=True, exist_ok=True)
    try:
        for name in components:
            common.progress(f"starting {name}")
            procs, info = _start(name, root)
            state["pgids"] += [p.popen.pid for p in procs]
            state["services"][name] = info
            STATE.write_text(json.dumps(state, indent=2))
        if "kube" in state["services"]:
            _relay_for_pods(root, state)
            STATE.write_text(json.dumps(state, indent=2))
    except (common.EnvMissing, AssertionError) as exc:  # AssertionError: a wait timed out
        print(f"error: {exc}", file=sys.stderr)
        down()
        return 1
    print_status(state)
    return 0


def print_status(state: dict[str, Any]) -> None:
    print(f"HealthGate local environment (run directory {state['root']}):")
    for name, info in state["services"].items():
        shown = {k: v for k, v in info.items() if k not in ("node_state", LOOPBACK)}
        print(f"  {name:<11}" + "  ".join(f"{k}={v}" for k, v in shown.items()))
    if "kube" in state["services"]:
        kc = state["services"]["kube"]
        print(f"\n  try: {kc['kubectl']} --kubeconfig={kc['kubeconfig']} get pods -A")
    print(
        f"\nversions: kubernetes {versions.KUBERNETES}, etcd {versions.ETCD}, "
        f"helm {versions.HELM}, neo4j {neo4j.NEO4J_VERSION}"
    )
    print("stop it with: make env-down")


def _stop_group(pgid: int, grace: float = 15.0) -> None:
    """SIGTERM a process group, wait for it to go, SIGKILL what is left after ``grace``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGCONT)
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)  # raises ProcessLookupError once the group is gone
            time.sleep(0.1)
        os.killpg(pgid, signal.SIGKILL)


def down() -> int:
    if not STATE.exists():
        print("nothing to stop")
        return 0
    state = json.loads(STATE.read_text())
    node = state["services"].get("kube", {}).get("node_state")
    for pgid in reversed(state["pgids"]):  # reverse: the API server must go before etcd
        _stop_group(pgid)
    if node is not None:  # what the node's processes leave: shims, containers, mounts, rules
        realnode.cleanup_from_state(node)
    STATE.unlink()
    print(f"stopped; logs stay in {state['root']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.env", description=__doc__)
    parser.add_argument("command", choices=["install", "up", "status", "down"])
    parser.add_argument("components", nargs="*", help=f"any of {', '.join(COMPONENTS)}")
    args = parser.parse_args(argv)
    unknown = set(args.components) - set(COMPONENTS)
    if unknown:
        parser.error(f"unknown components: {', '.join(sorted(unknown))}")
    components = tuple(args.components) or COMPONENTS
    try:
        if args.command == "install":
            install(components)
            return 0
        if args.command == "up":
            return up(components)
        if args.command == "down":
            return down()
    except common.EnvMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not STATE.exists():
        print("not running; start it with: make env-up")
        return 1
    print_status(json.loads(STATE.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
