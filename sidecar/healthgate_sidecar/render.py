"""Pure renderers of engine state: /health JSON, the IETF health+json draft, kube-style text.

No I/O and no engine access: each function takes components and returns a body, so the HTTP
handlers and the ``check`` command share them and unit tests call them directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from healthgate_sidecar import __version__, wire
from healthgate_sidecar.state import Component, Overall, Status

IETF_STATUS: dict[Status, str] = {
    "healthy": "pass",
    "degraded": "warn",
    "unknown": "warn",
    "unhealthy": "fail",
}
DATASTORES = frozenset({"redis", "neo4j", "postgres"})


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def component(comp: Component, *, full: bool) -> wire.ComponentBody:
    """One component; without ``full`` (no valid token) only its status, type and criticality."""
    body: wire.ComponentBody = {"status": comp.status, "type": comp.type, "critical": comp.critical}
    if full:
        body["message"] = comp.message
        body["responseTimeMs"] = _ms(comp.duration)
        body["details"] = dict(comp.details)
        body["lastChecked"] = iso(comp.last_checked)
        body["lastSuccess"] = iso(comp.last_success)
        body["lastFailure"] = iso(comp.last_failure)
        body["consecutiveFailures"] = comp.consecutive_failures
        body["reason"] = comp.reason
    return body


def health(
    components: Sequence[Component],
    overall: Overall,
    *,
    ready: bool,
    full: bool,
    fail_open: Mapping[str, str] | None = None,
) -> wire.HealthBody:
    """The ``/health`` body of the wire contract (the operator reads it back)."""
    # components last: dumps() writes it entry by entry.
    comps = {c.name: component(c, full=full) for c in components}
    if fail_open:  # only then: the body of a gate without a shared outage is as it was
        opened = dict(fail_open)
        return {
            "status": overall.status,
            "ready": ready,
            "failingOpen": opened,
            "components": comps,
        }
    return {"status": overall.status, "ready": ready, "components": comps}


def dumps(body: Mapping[str, Any], key: str) -> bytes:
    """``json.dumps(body).encode()``, with ``body[key]`` (a mapping, the last key) entry by entry.

    Same bytes as one ``json.dumps``, but that C call holds the GIL from start to end (3 ms for
    300 components on a busy machine) while the loop waits; entry by entry, a render in a worker
    lets the loop in between.
    """
    assert list(body)[-1] == key  # so that the bytes are those of json.dumps(body)
    head = json.dumps({k: v for k, v in body.items() if k != key})
    entries = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in body[key].items())
    joint = ", " if len(body) > 1 else ""
    return f"{head[:-1]}{joint}{json.dumps(key)}: {{{entries}}}}}".encode()


def _ietf_check(comp: Component, *, full: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "componentId": comp.name,
        "componentType": "datastore" if comp.type in DATASTORES else "component",
        "status": IETF_STATUS[comp.status],
    }
    if full:
        entry.update(observedValue=_ms(comp.duration), observedUnit="ms")
        if comp.last_checked is not None:
            entry["time"] = iso(comp.last_checked)
        if comp.status != "healthy":
            entry["output"] = comp.message
    return entry


def ietf(components: Sequence[Component], *, ready: bool, full: bool) -> dict[str, Any]:
    """The body of draft-inadarei-api-health-check (``application/health+json``)."""
    overall = "fail" if not ready else "pass"
    if ready and any(c.status != "healthy" for c in components):
        overall = "warn"
    return {
        "status": overall,
        "version": __version__,
        "description": "HealthGate sidecar: dependency health",
        "checks": {f"{c.name}:responseTime": [_ietf_check(c, full=full)] for c in components},
    }


def _line(name: str, ok: bool, why: str, *, excluded: bool = False) -> str:
    if excluded:
        return f"[+]{name} excluded: ok"
    return f"[+]{name} ok" if ok else f"[-]{name} failed: {why}"


def readyz_lines(
    components: Iterable[Component],
    *,
    loaded: bool,
    draining: bool,
    exclude: Iterable[str],
    fail_open: Mapping[str, str] | None = None,
) -> list[str]:
    """Per-check lines in the kube-apiserver ``?verbose`` format; a failing dependency in a
    shared outage gets ``[~]name failing open: why`` (it does not fail readiness)."""
    skip, opened = set(exclude), fail_open or {}
    lines = [_line("config", loaded, "not loaded"), _line("shutdown", not draining, "draining")]
    for comp in components:
        failed = not wire.is_up(comp.status)
        if failed and comp.critical and comp.name in opened and comp.name not in skip:
            lines.append(f"[~]{comp.name} failing open: {opened[comp.name]}")
            continue
        why = str(comp.reason)
        if comp.status == "unknown" and comp.reason != "stale":
            why = "no result yet"
        if not comp.critical:
            why += " (non-critical)"
        lines.append(_line(comp.name, not failed, why, excluded=comp.name in skip))
    return lines


def startupz_lines(components: Iterable[Component], *, loaded: bool) -> list[str]:
    lines = [_line("config", loaded, "not loaded")]
    for comp in components:
        if comp.last_checked is None:
            lines.append(_line(comp.name, False, "no result yet"))
        elif comp.required_for_startup and not comp.ever_healthy:
            lines.append(_line(comp.name, False, "not healthy yet (requiredForStartup)"))
        else:
            lines.append(_line(comp.name, True, ""))
    return lines


def table(components: Sequence[Component]) -> str:
    """The ``check`` command's table: name, type, status, latency, message."""
    rows = [("NAME", "TYPE", "STATUS", "LATENCY", "MESSAGE")]
    for comp in components:
        latency = "-" if comp.duration is None else f"{comp.duration * 1000:.1f}ms"
        rows.append((comp.name, comp.type, comp.status, latency, comp.message))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )
