"""Status conditions with ``metav1.Condition`` semantics.

``lastTransitionTime`` moves only when a condition's status flips; reason, message and
observedGeneration may change without it. Merging happens against the freshest body (inside a
Kopf patch function) so the reconcile handler and the status timer, which own different
condition types, never overwrite each other's.
"""

from __future__ import annotations

import datetime

from healthgate_operator.kubetypes import Json


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: str, reason: str, message: str, generation: int | None) -> Json:
    out: Json = {"type": type_, "status": status, "reason": reason, "message": message}
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def merge(existing: list[Json] | None, updates: list[Json], now: str) -> list[Json]:
    """Existing conditions with ``updates`` applied; untouched types are kept as they are."""
    by_type = {c["type"]: dict(c) for c in existing or [] if "type" in c}
    for update in updates:
        old = by_type.get(update["type"])
        merged = dict(update)
        if old is not None and old.get("status") == update["status"]:
            merged["lastTransitionTime"] = old.get("lastTransitionTime") or now
        else:
            merged["lastTransitionTime"] = now
        by_type[update["type"]] = merged
    # A stable order keeps kubectl output and diffs calm.
    order = {"Ready": 0, "Degraded": 1, "Reconciled": 2}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], 9), c["type"]))


def find(conditions: list[Json] | None, type_: str) -> Json | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def is_true(body: Json, type_: str) -> bool:
    """Whether the object's condition ``type_`` has status True."""
    found = find((body.get("status") or {}).get("conditions"), type_)
    return found is not None and found.get("status") == "True"
