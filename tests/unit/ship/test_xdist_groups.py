"""Which tests `make test` keeps on one pytest-xdist worker (tests/conftest.py): a test that
uses the real node or a JVM server must never land beside another copy of it."""

from __future__ import annotations

from tests.conftest import xdist_group


def test_real_node_users_share_one_worker() -> None:
    assert xdist_group(["real_node", "kube_cluster"], e2e=False) == "real-node"
    assert xdist_group(["env_root"], e2e=True) == "real-node"  # all of tests/e2e
    # The node outranks the JVMs: one group per test, and the node's is the one that must hold.
    assert xdist_group(["neo4j_server", "real_node"], e2e=False) == "real-node"


def test_jvm_servers_are_started_once() -> None:
    assert xdist_group(["kafka_server", "tmp_path"], e2e=False) == "kafka"
    assert xdist_group(["neo4j_server"], e2e=False) == "neo4j"


def test_checkov_runs_once() -> None:
    assert xdist_group(["checkov_report", "render"], e2e=False) == "checkov"


def test_other_tests_spread_freely() -> None:
    assert xdist_group(["redis_server", "postgres_server", "kube_cluster"], e2e=False) is None
    assert xdist_group([], e2e=False) is None
