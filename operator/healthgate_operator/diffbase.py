"""Kopf's diff base as a digest of the spec instead of a copy of it.

Kopf keeps the last handled configuration to tell a spec change (call the update handler) from
a status or metadata change (do nothing). By default it keeps a whole copy of the spec in an
annotation, and all annotations of an object share 256 KiB: a large valid gate (1,000
dependencies, 148 KB) could then be neither reconciled nor deleted (issue 11). Our handlers never
read Kopf's ``old``/``new``/``diff`` (they render from the body), so a digest is all the
comparison needs, and its size does not depend on the gate's.

Only ``spec`` is hashed: labels and annotations of a gate change nothing it does, and Kopf's own
progress annotations must not look like a change (that would loop).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, cast

import kopf


def spec_digest(spec: Any) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class SpecDigestStorage(kopf.AnnotationsDiffBaseStorage):
    """An annotation holding ``{"spec": {"sha256": ...}}``: 90 bytes whatever the gate's size."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        digest = spec_digest(dict(body.get("spec") or {}))
        return cast(kopf.BodyEssence, {"spec": {"sha256": digest}})
