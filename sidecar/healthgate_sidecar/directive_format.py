"""The wire format of the operator's directives, shared by both sides (no crypto, no I/O).

A directive tells the sidecars of one gate which critical dependencies are in a shared outage
and fail open. The operator POSTs it to ``PATH`` on the sidecar's port as an envelope::

    {"payload": "<base64 of the payload JSON>", "signature": "<base64 Ed25519 signature>"}

The signature covers the payload's exact bytes, so no canonical JSON is needed. The payload::

    {"gate": "<gate uid>", "issuedAt": 1700000000.5, "expiresAt": 1700000030.5,
     "failOpen": [{"name": "cache", "unhealthy": 3, "pods": 3}]}

An empty ``failOpen`` ends a shared outage at once. The operator imports this module with the
contract: both must agree on it, and it is defined once here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

PATH = "/directives"
MAX_BODY = 16 * 1024  # a few hundred dependencies' names; anything bigger is refused unread
MAX_LIFETIME = 600.0  # seconds: a directive claiming a longer life is refused


class FormatError(ValueError):
    """The body is not a well-formed directive envelope or payload."""


@dataclass(frozen=True)
class FailOpen:
    name: str
    unhealthy: int
    pods: int


@dataclass(frozen=True)
class Directive:
    gate: str
    issued_at: float
    expires_at: float
    fail_open: tuple[FailOpen, ...] = field(default=())


def encode_payload(directive: Directive) -> bytes:
    return json.dumps(
        {
            "gate": directive.gate,
            "issuedAt": directive.issued_at,
            "expiresAt": directive.expires_at,
            "failOpen": [
                {"name": f.name, "unhealthy": f.unhealthy, "pods": f.pods}
                for f in directive.fail_open
            ],
        },
        separators=(",", ":"),
    ).encode()


def envelope(payload: bytes, signature: bytes) -> bytes:
    return json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
    ).encode()


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"{what}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{what}: not valid base64") from None


def open_envelope(body: bytes) -> tuple[bytes, bytes]:
    """(payload bytes, signature) of an envelope; :class:`FormatError` when malformed."""
    try:
        data = json.loads(body)
    except ValueError:
        raise FormatError("body: not JSON") from None
    if not isinstance(data, dict) or set(data) != {"payload", "signature"}:
        raise FormatError("body: expected exactly the keys payload and signature")
    return _b64(data["payload"], "payload"), _b64(data["signature"], "signature")


def _count(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FormatError(f"{what}: expected a non-negative integer")
    return value


def _fail_open(item: Any, index: int) -> FailOpen:
    where = f"failOpen[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise FormatError(f"{where}: expected {{name, unhealthy, pods}}")
    return FailOpen(
        name=item["name"],
        unhealthy=_count(item.get("unhealthy"), f"{where}.unhealthy"),
        pods=_count(item.get("pods"), f"{where}.pods"),
    )


def decode_payload(payload: bytes) -> Directive:
    """The payload (only after its signature was verified); :class:`FormatError` if malformed."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise FormatError("payload: not JSON") from None
    if not isinstance(data, dict):
        raise FormatError("payload: expected an object")
    times = [data.get("issuedAt"), data.get("expiresAt")]
    if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
        raise FormatError("payload: issuedAt and expiresAt must be numbers")
    items = data.get("failOpen")
    if not isinstance(data.get("gate"), str) or not isinstance(items, list):
        raise FormatError("payload: gate (a string) and failOpen (a list) are required")
    return Directive(
        gate=data["gate"],
        issued_at=float(data["issuedAt"]),
        expires_at=float(data["expiresAt"]),
        fail_open=tuple(_fail_open(item, i) for i, item in enumerate(items)),
    )
