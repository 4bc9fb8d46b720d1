"""Receive the operator's signed shared-outage directives; keep the verdict in memory.

The operator sees every pod's report; when a critical dependency fails in most pods it POSTs a
directive (:mod:`directive_format`) naming it, and the sidecar ignores that dependency for
readiness until the directive expires or a newer one says otherwise. Verification happens
here, on the POST, never on a probe: probes only read :attr:`engine.Engine.fail_open`.

Refused (and counted by result): a body over ``MAX_BODY`` (413, read no further), a malformed
envelope (400), a signature no configured key made (403), another gate's directive (403), an
expired one or one issued no later than the last accepted one (409: a replay, or an operator
replica whose clock is behind). Without ``directives`` in the config, every POST is refused:
the sidecar then follows its own judgement alone. So does it after the accepted directive
expires, e.g. when the operator is gone.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgate_sidecar import directive_format, logs
from healthgate_sidecar.directive_format import Directive, FormatError

if TYPE_CHECKING:
    from healthgate_sidecar.contract import DirectiveSettings
    from healthgate_sidecar.engine import Engine

MAX_SKEW = 60.0  # seconds an operator's clock may run ahead of this node's


class Rejected(Exception):
    """A refused directive: ``status`` is the HTTP answer, ``result`` the metric label."""

    def __init__(self, status: int, result: str, message: str) -> None:
        super().__init__(message)
        self.status, self.result = status, result


class Verifier:
    """Checks directives against one gate's keys; remembers the last accepted issue time."""

    def __init__(self, settings: DirectiveSettings) -> None:
        self.gate = settings.gate
        self.raw_keys = [base64.b64decode(key) for key in settings.public_keys]
        self._keys: list[Any] | None = None  # ed25519 public keys, made on first use
        self.last_issued = float("-inf")

    def _signed(self, payload: bytes, signature: bytes) -> bool:
        # Imported on the first well-formed directive, not at config load: the library adds
        # ~9 MiB to every sidecar, and most never receive a directive.
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

        if self._keys is None:
            self._keys = [ed25519.Ed25519PublicKey.from_public_bytes(k) for k in self.raw_keys]
        for key in self._keys:
            try:
                key.verify(signature, payload)
            except InvalidSignature:
                continue
            return True
        return False

    def verify(self, body: bytes, *, now: float) -> Directive:
        """The directive in ``body`` if it is genuine, for this gate, fresh and in order."""
        try:
            payload, signature = directive_format.open_envelope(body)
            if not self._signed(payload, signature):
                raise Rejected(403, "forged", "signature: made by no configured key")
            directive = directive_format.decode_payload(payload)
        except FormatError as exc:
            raise Rejected(400, "malformed", str(exc)) from None
        if directive.gate != self.gate:
            raise Rejected(403, "wrong-gate", "gate: a directive for another HealthGate")
        lifetime = directive.expires_at - directive.issued_at
        if not 0 < lifetime <= directive_format.MAX_LIFETIME:
            raise Rejected(400, "malformed", "expiresAt: must follow issuedAt by at most 600s")
        if now >= directive.expires_at:
            raise Rejected(409, "expired", "expiresAt: the directive has expired")
        if directive.issued_at > now + MAX_SKEW:
            raise Rejected(409, "future", "issuedAt: too far in the future for this clock")
        if directive.issued_at <= self.last_issued:
            raise Rejected(409, "replayed", "issuedAt: not newer than the last accepted one")
        self.last_issued = directive.issued_at
        return directive


class Receiver:
    """The current config's verifier, and the expiry of the directive in force."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.settings: DirectiveSettings | None = None
        self.verifier: Verifier | None = None
        self.results: Counter[str] = Counter()
        self._clock = clock
        self._expiry: asyncio.TimerHandle | None = None

    def configure(self, settings: DirectiveSettings | None) -> None:
        """A (re)loaded config: new keys or gate drop the directive in force."""
        if settings == self.settings:
            return
        old, self.settings = self.verifier, settings
        self.verifier = Verifier(settings) if settings is not None else None
        if old is not None and self.verifier is not None and old.gate == self.verifier.gate:
            self.verifier.last_issued = old.last_issued  # a key rotation reopens no replay
        self.clear("directive settings changed")

    def accept(self, body: bytes) -> Directive:
        """Verify and apply a directive; :class:`Rejected` when refused."""
        if self.verifier is None:
            raise Rejected(403, "unconfigured", "this sidecar accepts no directives")
        now = self._clock()
        directive = self.verifier.verify(body, now=now)
        reasons = {f.name: f"unhealthy in {f.unhealthy}/{f.pods} pods" for f in directive.fail_open}
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = None
        if reasons:
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(directive.expires_at - now, self.clear, "expired")
        if reasons != self.engine.fail_open:
            logs.event("shared outage directive", failing_open=sorted(reasons) or "none")
        self.engine.set_fail_open(reasons)
        return directive

    def clear(self, why: str) -> None:
        """Back to the sidecar's own judgement."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self.engine.fail_open:
            logs.event("shared outage directive dropped: own judgement again", why=why)
            self.engine.set_fail_open({})


RECEIVER = web.AppKey("directives", Receiver)


async def _read_bounded(request: web.Request) -> bytes | None:
    """The body, or None when it exceeds MAX_BODY (not read beyond that)."""
    limit = directive_format.MAX_BODY
    if request.content_length is not None and request.content_length > limit:
        return None
    body = b""
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            return body
        body += chunk
    return None


async def handle(request: web.Request) -> web.Response:
    """POST /directives: 200 when applied, 4xx with the reason otherwise."""
    receiver = request.app[RECEIVER]
    body = await _read_bounded(request)
    try:
        if body is None:
            raise Rejected(413, "too-large", f"body: over {directive_format.MAX_BODY} bytes")
        directive = receiver.accept(body)
    except Rejected as exc:
        receiver.results[exc.result] += 1
        return web.json_response({"error": str(exc)}, status=exc.status)
    receiver.results["accepted"] += 1
    return web.json_response({"failingOpen": [f.name for f in directive.fail_open]})


class _Collector(Collector):
    """Per dependency, whether it fails open; directives received by result."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def collect(self) -> Iterator[Metric]:
        engine = self.receiver.engine
        # Read from the render thread: both are replaced whole on the loop, never mutated.
        fail_open, config = engine.fail_open, engine.config
        gauge = GaugeMetricFamily(
            "healthgate_dependency_failing_open",
            "1 while the operator reports the dependency in a shared outage and this pod "
            "ignores it for readiness (it is still shown unhealthy).",
            labels=["dependency"],
        )
        for dep in config.dependencies if config is not None else []:
            gauge.add_metric([dep.name], int(dep.name in fail_open))
        counter = CounterMetricFamily(
            "healthgate_directives_received",
            "Directives POSTed to the sidecar, by result (accepted or why refused).",
            labels=["result"],
        )
        for result, count in sorted(dict(self.receiver.results).items()):
            counter.add_metric([result], count)
        yield from (gauge, counter)


def install(app: web.Application, engine: Engine, registry: CollectorRegistry) -> Receiver:
    """A receiver on ``app``: its route, its state and its metrics."""
    receiver = Receiver(engine)
    app[RECEIVER] = receiver
    registry.register(_Collector(receiver))
    app.router.add_post(directive_format.PATH, handle)
    return receiver
