"""Which gates this replica owns when several active replicas split them (``--shard-count``).

Kopf's peering is active/standby: one replica of a peering object works. To have N working
replicas, the gates are split into N shards, each with its own peering object, and every gate
handler is filtered by :meth:`Shard.owns` (Kopf's ``when=``). The admission webhooks are not
filtered: every replica serves every pod and gate, from a cache of all gates.

The key is ``namespace/name``, not the namespace alone: one namespace may hold most gates (the
10,000-pod benchmark keeps its 1,000 gates in one), and nothing a gate's owner does needs
another gate's owner (conflicts and restarts read the all-gates cache, never another loop).

The hash is Jump Consistent Hash (Lamping and Veach, 2014, arXiv:1406.2294) over a SHA-256 of
the key: stable across processes and versions (Python's ``hash()`` is salted per process), and
going from N to N+1 shards moves only 1/(N+1) of the gates instead of nearly all of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

_MASK64 = (1 << 64) - 1
_LCG = 2862933555777941757  # the 64-bit linear congruential step of the paper


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in ``[0, buckets)`` of a 64-bit ``key`` (Jump Consistent Hash)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * _LCG + 1) & _MASK64
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(namespace: str, name: str, count: int) -> int:
    """The shard owning the gate ``namespace/name`` among ``count`` shards."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return jump_hash(int.from_bytes(digest[:8], "big"), count)


@dataclass(frozen=True)
class Shard:
    """This replica's place among the shards; the default (0 of 1) owns every gate."""

    index: int = 0
    """This replica's shard, 0 to ``count - 1``."""
    count: int = 1
    """How many shards split the gates; 1 means no sharding."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("--shard-count: must be at least 1")
        if not 0 <= self.index < self.count:
            raise ValueError(f"--shard-index: must be within 0-{self.count - 1}")

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def owns(self, namespace: str | None, name: str | None) -> bool:
        return not self.sharded or shard_of(namespace or "", name or "", self.count) == self.index

    def owns_body(self, body: Any) -> bool:
        """For Kopf's storages, which are handed the object's body."""
        meta = body.get("metadata") or {}
        return self.owns(meta.get("namespace"), meta.get("name"))

    def peering(self, base: str | None) -> str | None:
        """This shard's Kopf peering object: the replicas of one shard stand by for each other.

        Unsharded, the name is unchanged, so an install that adds no shards keeps its peering.
        """
        if base is None or not self.sharded:
            return base
        return f"{base}-shard-{self.index}"

    def label(self) -> str:
        return f"{self.index}/{self.count}"
