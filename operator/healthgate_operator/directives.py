"""Sign shared-outage directives and push them to a gate's sidecars, in the status refresh.

The verdict travels over HTTP to each pod's sidecar port (``POST /directives``), not through
the ConfigMap volume, which a real kubelet refreshes only every minute or so. What travels
must be believable to the sidecar alone: each directive is signed with an Ed25519 key
(:class:`Signer`), names the gate's uid and expires after a few status intervals, so a
sidecar whose operator is gone returns to its own judgement. The sidecars learn the public
keys from their ConfigMap (:meth:`Signer.settings`); the operator reads no Secret: its private
key is a file (the chart mounts one from a Secret it generates) or, without one, made at start.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from healthgate_operator.builders.shared_outage import Verdict
from healthgate_operator.kubetypes import Json
from healthgate_sidecar import directive_format
from healthgate_sidecar.directive_format import Directive, FailOpen

LIFETIME_REFRESHES = 3  # a directive outlives this many status intervals, then lapses
MIN_LIFETIME = 5.0  # seconds, so a very short --status-interval leaves room for a slow POST
log = logging.getLogger(__name__)


class DirectiveKeyError(ValueError):
    """The directive key file cannot be used; the message names the flag."""


def raw_public(key: ed25519.Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


class Signer:
    """This operator's signing key and the public keys the sidecars are told to trust."""

    def __init__(self, key: ed25519.Ed25519PrivateKey, trusted: tuple[str, ...] = ()) -> None:
        for other in trusted:
            try:
                ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(other, validate=True))
            except ValueError:
                raise DirectiveKeyError(
                    f"--directive-trusted-keys: {other[:12]!r}... is not the base64 of a raw "
                    "32-byte Ed25519 public key"
                ) from None
        self.key = key
        self.public_key = raw_public(key.public_key())
        self.trusted = tuple(dict.fromkeys((self.public_key, *trusted)))

    @classmethod
    def load(cls, path: Path | None, trusted: tuple[str, ...] = ()) -> Signer:
        """The key in ``path`` (PEM, PKCS#8, as Helm's genPrivateKey "ed25519" writes it), or a
        new one when ``path`` is None."""
        if path is None:
            return cls(ed25519.Ed25519PrivateKey.generate(), trusted)
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not a PEM private key"
            raise DirectiveKeyError(f"--directive-key: cannot read {path}: {reason}") from None
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise DirectiveKeyError(f"--directive-key: {path} is not an Ed25519 key")
        return cls(loaded, trusted)

    def settings(self, gate_uid: str) -> Json:
        """The contract's DirectiveSettings for a gate's ConfigMap."""
        return {"gate": gate_uid, "publicKeys": list(self.trusted)}

    def sign(self, directive: Directive) -> bytes:
        payload = directive_format.encode_payload(directive)
        return directive_format.envelope(payload, self.key.sign(payload))


def build(gate_uid: str, verdict: Verdict, interval: float, now: float | None = None) -> Directive:
    issued = time.time() if now is None else now
    lifetime = max(MIN_LIFETIME, LIFETIME_REFRESHES * interval)
    return Directive(
        gate=gate_uid,
        issued_at=issued,
        expires_at=issued + min(lifetime, directive_format.MAX_LIFETIME),
        fail_open=tuple(
            FailOpen(name=name, unhealthy=bad, pods=reporting)
            for name, (bad, reporting) in sorted(verdict.active.items())
        ),
    )


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, limit: aiohttp.ClientTimeout
) -> str | None:
    """None when the sidecar applied the directive; why it refused; "" when unreachable."""
    try:
        headers = {"Content-Type": "application/json"}
        async with session.post(url, data=body, headers=headers, timeout=limit) as resp:
            if resp.status == 200:
                return None
            return f"{url}: {resp.status} {(await resp.content.read(512)).decode(errors='replace')}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        # Unreachable (starting, stopping): /health of the same refresh says so already.
        log.debug("Directive not delivered to %s: %r", url, exc)
        return ""


async def push(
    targets: list[tuple[str, int]],
    body: bytes,
    *,
    seconds: float,
) -> int:
    """POST one signed directive to every (pod IP, port); how many applied it.

    Refusals are logged as one line per refresh, not one per pod: during a key change every
    sidecar refuses (403) until its ConfigMap volume catches up.
    """
    limit = aiohttp.ClientTimeout(total=seconds)
    urls = [
        f"http://{f'[{ip}]' if ':' in ip else ip}:{port}{directive_format.PATH}"
        for ip, port in targets
    ]
    # A session per push: directives go out only during a shared outage, so nothing is worth
    # pooling; no proxies from the environment (pod IPs are local), no kept connections.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        answers = await asyncio.gather(*(_post(session, u, body, limit) for u in urls))
    problems = [p for p in answers if p]
    if problems:
        log.warning(
            "Directive not applied by %d of %d sidecars, e.g. %s",
            len(problems),
            len(urls),
            problems[0],
        )
    return len(urls) - len(problems)
