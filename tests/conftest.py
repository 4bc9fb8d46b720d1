"""Session fixtures that start the real services of the local environment (``tests/env``).

Each fixture starts its service once per session (once per pytest-xdist worker that needs it),
on a free loopback port in a temporary directory of that worker, and stops it at the end even
when tests fail. A service that cannot be installed or started fails the tests that need it
with a message naming what is missing: nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import pytest

from healthgate_sidecar import redact
from tests.env import (
    common,
    grpc_health,
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
    smtp,
    temporal,
)
from tests.env.realnode import host as realhost
from tests.env.realnode import node as realnode

T = TypeVar("T")


def _require(what: str, start: Callable[[], T]) -> T:
    """Start a service or fail the test with the reason (never skip: CI must see it)."""
    try:
        return start()
    except common.EnvMissing as exc:
        pytest.fail(f"{what} could not be started: {exc}", pytrace=False)


class _Server(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)
P = ParamSpec("P")


def _for_session(what: str, start: Callable[[], S]) -> Iterator[S]:
    """A session fixture's body: start the service, hand it out, stop it at the end."""
    server = _require(what, start)
    yield server
    server.stop()


def _private(
    env_root: Path, what: str, start: Callable[Concatenate[Path, P], S]
) -> Iterator[Callable[P, S]]:
    """A factory fixture's body: each call starts a private server (in its own folder) that the
    test may stop or break; every one is stopped at the end."""
    started: list[S] = []

    def make(*args: P.args, **kwargs: P.kwargs) -> S:
        workdir = Path(
            tempfile.mkdtemp(dir=env_root, prefix=f"{start.__module__.rsplit('.', 1)[-1]}-")
        )
        server = _require(what, lambda: start(workdir, *args, **kwargs))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


# `make test` runs three pytest-xdist workers (`--dist loadgroup`); each worker starts the session
# fixtures it needs. Tests that share one of these go to one worker: the real node because only
# one can run on a machine (its bridge, containerd and iptables chains are machine-wide), the
# JVM servers because a second copy would cost ~30 s of both cores for nothing, checkov's tests
# because they share one ~60 s run. First match wins.
XDIST_GROUPS = (
    ("real-node", frozenset({"real_node", "e2e"})),
    ("kafka", frozenset({"kafka_server"})),
    ("neo4j", frozenset({"neo4j_server"})),
    ("checkov", frozenset({"checkov_report"})),
)


def xdist_group(fixturenames: Iterable[str], *, e2e: bool) -> str | None:
    """The group a test belongs to from the fixtures it uses (all of tests/e2e: the real node)."""
    names = set(fixturenames) | ({"e2e"} if e2e else set())
    return next((group for group, needs in XDIST_GROUPS if names & needs), None)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = _group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _group_of(item: pytest.Item) -> str | None:
    e2e_dir = item.config.rootpath / "tests" / "e2e"
    return xdist_group(getattr(item, "fixturenames", ()), e2e=e2e_dir in item.path.parents)


_LAST_NODE_TEST = pytest.StashKey[bool]()
_RUNNING_NODE = pytest.StashKey[realnode.RealNode]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Mark the session's last test that needs the real node. All such tests are the real-node
    group, which pytest-xdist runs on one worker in collection order: once that test is done,
    no test needs the node, on any worker or without xdist."""
    users = [item for item in session.items if _group_of(item) == "real-node"]
    if users:
        users[-1].stash[_LAST_NODE_TEST] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Stop the real node after the last test that needs it (and its module's fixtures), not at
    the end of the session: its teardown (~45 s) then overlaps the other worker's tests instead
    of ending the run, and its kubelet, containerd and pods stop taking CPU from the tests this
    worker runs next."""
    yield
    if item.stash.get(_LAST_NODE_TEST, False):
        _stop_real_node(item.config)


@pytest.fixture(autouse=True)
def _fresh_secret_registry() -> Iterator[None]:
    """Each test starts with no registered secret, so no test passes on another's registrations."""
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.fixture(scope="session")
def env_root() -> Iterator[Path]:
    """A run directory for the session's services; world-traversable for the postgres user."""
    root = Path(tempfile.mkdtemp(prefix="healthgate-test-"))
    root.chmod(0o755)
    yield root
    if os.environ.get("HEALTHGATE_KEEP_ENV") != "1":
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(env_root: Path) -> Iterator[redis.RedisServer]:
    """A shared Redis. Tests that stop or freeze Redis use ``make_redis`` instead."""
    yield from _for_session("Redis", lambda: redis.start(env_root / "redis"))


@pytest.fixture
def make_redis(env_root: Path) -> Iterator[Callable[[], redis.RedisServer]]:
    """A factory of private Redis servers that a test may stop, freeze and restart."""
    yield from _private(env_root, "Redis", redis.start)


@pytest.fixture(scope="session")
def postgres_server(env_root: Path) -> Iterator[postgres.PostgresServer]:
    yield from _for_session("PostgreSQL", lambda: postgres.start(env_root / "postgres"))


@pytest.fixture(scope="session")
def neo4j_server(env_root: Path) -> Iterator[neo4j.Neo4jServer]:
    yield from _for_session("Neo4j", lambda: neo4j.start(env_root / "neo4j"))


@pytest.fixture(scope="session")
def mariadb_server(env_root: Path) -> Iterator[mariadb.MariaDbServer]:
    yield from _for_session("MariaDB", lambda: mariadb.start(env_root / "mariadb"))


@pytest.fixture(scope="session")
def rabbitmq_server(env_root: Path) -> Iterator[rabbitmq.RabbitMqServer]:
    yield from _for_session("RabbitMQ", lambda: rabbitmq.start(env_root / "rabbitmq"))


@pytest.fixture(scope="session")
def smtp_server(env_root: Path) -> Iterator[smtp.SmtpServer]:
    yield from _for_session("the SMTP server", lambda: smtp.start(env_root / "smtp"))


@pytest.fixture(scope="session")
def grpc_server(env_root: Path) -> Iterator[grpc_health.GrpcServer]:
    yield from _for_session("the gRPC server", lambda: grpc_health.start(env_root / "grpc"))


@pytest.fixture(scope="session")
def grpc_tls_server(env_root: Path) -> Iterator[grpc_health.GrpcServer]:
    yield from _for_session(
        "the gRPC TLS server", lambda: grpc_health.start(env_root / "grpc-tls", tls=True)
    )


@pytest.fixture
def make_grpc_server(env_root: Path) -> Iterator[Callable[[], grpc_health.GrpcServer]]:
    """A factory of private plaintext gRPC servers that a test may stop and restart."""
    yield from _private(env_root, "the gRPC server", grpc_health.start)


@pytest.fixture(scope="session")
def kafka_server(env_root: Path) -> Iterator[kafka.KafkaServer]:
    """One Kafka broker (KRaft) for the session: a JVM that takes ~30 s to start."""
    yield from _for_session("Kafka", lambda: kafka.start(env_root / "kafka"))


@pytest.fixture(scope="session")
def oidc_provider(env_root: Path) -> Iterator[oidc.OidcProvider]:
    """zitadel/oidc's example OpenID Provider. Tests that stop it use ``make_oidc_provider``."""
    yield from _for_session("the OpenID Provider", lambda: oidc.start(env_root / "oidc"))


@pytest.fixture
def make_oidc_provider(env_root: Path) -> Iterator[Callable[[], oidc.OidcProvider]]:
    """A factory of private providers that a test may stop."""
    yield from _private(env_root, "the OpenID Provider", oidc.start)


@pytest.fixture(scope="session")
def s3_server(env_root: Path) -> Iterator[s3.S3Server]:
    """s3s-fs (verifies SigV4) with the bucket ``s3.BUCKET``. Tests that stop it use ``make_s3``."""
    yield from _for_session("the S3 server", lambda: s3.start(env_root / "s3"))


@pytest.fixture
def make_s3(env_root: Path) -> Iterator[Callable[[], s3.S3Server]]:
    """A factory of private S3 servers that a test may stop."""
    yield from _private(env_root, "the S3 server", s3.start)


@pytest.fixture(scope="session")
def temporal_server(env_root: Path) -> Iterator[temporal.TemporalServer]:
    """Temporal's dev server, started only for the tests that ask for it (a 210 MB binary)."""
    yield from _for_session("Temporal's dev server", lambda: temporal.start(env_root / "temporal"))


@pytest.fixture(scope="session")
def promtool() -> Path:
    return _require("promtool", prometheus.promtool)


@pytest.fixture
def make_prometheus(env_root: Path) -> Iterator[Callable[[str], prometheus.PrometheusServer]]:
    """A factory of Prometheus servers, each with its own config (YAML text)."""
    yield from _private(env_root, "Prometheus", prometheus.start)


@pytest.fixture(scope="session")
def kube_cluster(env_root: Path) -> Iterator[kube.KubeCluster]:
    """etcd + kube-apiserver + controller-manager + scheduler, with kubectl and helm."""
    cluster = _require("the Kubernetes control plane", lambda: kube.start(env_root / "kube"))
    yield cluster
    cluster.stop()


TEST_NODE_SYNC = "10s"  # the test node's kubelet syncFrequency (see real_node)


@pytest.fixture(scope="session")
def real_node(
    kube_cluster: kube.KubeCluster, env_root: Path, request: pytest.FixtureRequest
) -> Iterator[realnode.RealNode]:
    """The real node (``tests/env/realnode``): containerd, runc, CNI, the kubelet, kube-proxy.

    Tainted, so that only the pods of tests that mean to run there (tolerating the taint, see
    :func:`tests.env.realnode.release.on_node`) do: other tests' pods stay Pending, as on a
    cluster without nodes. It is stopped after the session's last test that needs it (see
    :func:`pytest_runtest_teardown`) and must leave nothing on the machine. Its kubelet syncs
    pods every 10 s instead of every minute, so the two tests that wait for a gate edit to reach
    running sidecars through the ConfigMap volume wait ~15 s instead of ~80 s (docs/design.md).
    """
    taint = "healthgate.dev/real-node=true:NoSchedule"
    node = realnode.RealNode(
        kube_cluster, env_root / "real-node", taints=(taint,), sync_frequency=TEST_NODE_SYNC
    )
    _require("the real node", node.start)
    request.config.stash[_RUNNING_NODE] = node  # stopped early by pytest_runtest_teardown
    yield node
    _stop_real_node(request.config)


def _stop_real_node(config: pytest.Config) -> None:
    """Stop the session's real node if it runs; it must leave nothing on the machine. Its
    folder goes too (containerd's images and snapshots, ~1 GB: deleting them takes ~30 s of a
    busy disk, better spent beside the other worker's tests than at the end of the session)."""
    node = config.stash.get(_RUNNING_NODE, None)
    if node is None:
        return
    del config.stash[_RUNNING_NODE]
    node.stop()
    left = realhost.leftovers(node.workdir, node.changes)
    assert not left, f"the real node left behind: {left}"
    if os.environ.get("HEALTHGATE_KEEP_ENV") != "1":  # nothing is mounted there any more
        shutil.rmtree(node.workdir, ignore_errors=True)
