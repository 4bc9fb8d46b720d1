"""sharding: which replica owns which gate, stably; the flags, the peering name, the filters."""

from __future__ import annotations

import collections

import kopf
import pytest

from healthgate_operator import config, sharding, wiring
from healthgate_operator.handlers import ensure_peering

GATES = [(f"team-{i % 7}", f"gate-{i}") for i in range(2000)]


def test_jump_hash_matches_the_published_reference_values() -> None:
    # ClickHouse's jumpConsistentHash test vectors (00580_consistent_hashing_functions): an
    # implementation that drifts from the paper's would move gates between shards.
    cases = [(1, 1), (42, 57), (256, 1024), (3735883980, 1), (3735883980, 666)]
    cases.append((16045690984833335023, 255))
    assert [sharding.jump_hash(k, n) for k, n in cases] == [0, 43, 520, 0, 361, 237]
    with pytest.raises(ValueError, match="buckets"):
        sharding.jump_hash(1, 0)


def test_ownership_is_stable_across_processes() -> None:
    # Fixed expectations, not hash(): Python salts str hashes per process, so replicas that used
    # it would disagree about who owns a gate.
    assert sharding.shard_of("shop", "api", 2) == sharding.shard_of("shop", "api", 2)
    assert [sharding.shard_of("shop", f"gate-{i}", 2) for i in range(8)] == [
        0, 0, 0, 1, 0, 0, 1, 1,
    ]  # fmt: skip


def test_every_gate_has_exactly_one_owner_and_the_split_is_even() -> None:
    for count in (1, 2, 3, 5):
        shards = [sharding.Shard(index=i, count=count) for i in range(count)]
        owners = [sum(s.owns(ns, name) for s in shards) for ns, name in GATES]
        assert set(owners) == {1}
        sizes = collections.Counter(sharding.shard_of(ns, name, count) for ns, name in GATES)
        assert min(sizes.values()) > len(GATES) / count * 0.85


def test_a_namespace_is_split_too() -> None:
    # One namespace with most gates (the 10,000-pod benchmark) must not land on one shard.
    owners = {sharding.shard_of("bench", f"gate-{i}", 4) for i in range(100)}
    assert owners == {0, 1, 2, 3}


def test_adding_a_shard_moves_only_its_share() -> None:
    moved = sum(
        sharding.shard_of(ns, name, 3) != sharding.shard_of(ns, name, 4) for ns, name in GATES
    )
    assert moved < len(GATES) * 0.3  # ~1/4; plain modulo would move ~3/4
    for ns, name in GATES:
        before, after = sharding.shard_of(ns, name, 3), sharding.shard_of(ns, name, 4)
        assert after in (before, 3)  # a gate only ever moves to the new shard


def test_flags_and_their_errors_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config.parse(["--shard-count=3", "--shard-index=2"], {})
    assert cfg.peering.shard == sharding.Shard(index=2, count=3)
    env = config.parse([], {"HEALTHGATE_SHARD_COUNT": "2", "HEALTHGATE_SHARD_INDEX": "1"})
    assert env.peering.shard == sharding.Shard(index=1, count=2)
    assert config.parse([], {}).peering.shard == sharding.Shard()
    for argv, flag in (
        (["--shard-count=0"], "--shard-count"),
        (["--shard-count=2", "--shard-index=2"], "--shard-index"),
        (["--shard-index=-1"], "--shard-index"),
    ):
        with pytest.raises(SystemExit) as exited:
            config.parse(argv, {})
        assert flag in str(exited.value)


def test_each_shard_has_its_own_peering_object() -> None:
    assert config.parse([], {}).peering.object_name == "healthgate"  # unsharded: unchanged
    cfg = config.parse(["--shard-count=2", "--shard-index=1"], {})
    assert cfg.peering.object_name == "healthgate-shard-1"
    ((_, body),) = ensure_peering.peering_objects(cfg)
    assert body["metadata"]["name"] == "healthgate-shard-1"
    standalone = config.parse(["--shard-count=2", "--standalone"], {})
    assert standalone.peering.object_name is None


def test_gate_handlers_are_filtered_and_admission_is_not() -> None:
    registry = kopf.OperatorRegistry()
    wiring.register(registry, config.parse(["--shard-count=2", "--shard-index=0"], {}))
    gate_handlers = [
        *registry._changing.get_all_handlers(),
        *registry._spawning.get_all_handlers(),
        *registry._watching.get_all_handlers(),
    ]
    assert gate_handlers
    assert all(h.when is not None for h in gate_handlers)
    assert all(h.when is None for h in registry._webhooks.get_all_handlers())
    owned = wiring.owned_by(sharding.Shard(index=0, count=2))
    assert owned(namespace="shop", name="gate-0") is True
    assert owned(namespace="shop", name="gate-3") is False
