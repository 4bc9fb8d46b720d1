"""Shared-outage directives in the sidecar: verification, and what they do to the probes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from prometheus_client import CollectorRegistry, generate_latest

from healthgate_sidecar import directive_format, directives, server
from healthgate_sidecar.contract import ConfigError, DirectiveSettings, parse_config
from healthgate_sidecar.directive_format import Directive, FailOpen
from tests.unit.sidecar.helpers import Script, config, dependency, refused, wait_for
from tests.unit.sidecar.test_server import body, call

GATE = "0b5c6a1e-gate-uid"
KEY = ed25519.Ed25519PrivateKey.generate()
OTHER = ed25519.Ed25519PrivateKey.generate()


def public(key: ed25519.Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def settings(*keys: ed25519.Ed25519PrivateKey, gate: str = GATE) -> DirectiveSettings:
    return DirectiveSettings.model_validate({"gate": gate, "publicKeys": [public(k) for k in keys]})


def signed(
    key: ed25519.Ed25519PrivateKey = KEY,
    *,
    gate: str = GATE,
    issued: float | None = None,
    lifetime: float = 30,
    names: tuple[str, ...] = ("db",),
) -> bytes:
    at = time.time() if issued is None else issued
    directive = Directive(
        gate=gate,
        issued_at=at,
        expires_at=at + lifetime,
        fail_open=tuple(FailOpen(n, 3, 3) for n in names),
    )
    payload = directive_format.encode_payload(directive)
    return directive_format.envelope(payload, key.sign(payload))


def rejected(verifier: directives.Verifier, data: bytes) -> str:
    with pytest.raises(directives.Rejected) as caught:
        verifier.verify(data, now=time.time())
    return caught.value.result


def test_a_genuine_directive_is_accepted() -> None:
    verifier = directives.Verifier(settings(KEY))
    directive = verifier.verify(signed(), now=time.time())
    assert directive.gate == GATE
    assert [f.name for f in directive.fail_open] == ["db"]


def test_forged_tampered_and_other_gate_directives_are_refused() -> None:
    verifier = directives.Verifier(settings(KEY))
    assert rejected(verifier, signed(OTHER)) == "forged"
    envelope = json.loads(signed())
    tampered_payload = base64.b64decode(envelope["payload"]).replace(b'"db"', b'"xx"')
    envelope["payload"] = base64.b64encode(tampered_payload).decode()
    assert rejected(verifier, json.dumps(envelope).encode()) == "forged"
    assert rejected(verifier, signed(gate="another-gate-uid")) == "wrong-gate"


def test_replayed_expired_and_future_directives_are_refused() -> None:
    verifier = directives.Verifier(settings(KEY))
    first = signed(issued=time.time() - 1)
    verifier.verify(first, now=time.time())
    assert rejected(verifier, first) == "replayed"
    assert rejected(verifier, signed(issued=time.time() - 2)) == "replayed"  # out of order
    assert rejected(verifier, signed(issued=time.time() - 100, lifetime=30)) == "expired"
    assert rejected(verifier, signed(issued=time.time() + 3600)) == "future"
    assert rejected(verifier, signed(lifetime=3600)) == "malformed"  # longer than allowed


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"payload": "x"}', b'{"payload": "%%%", "signature": "AA=="}'],
)
def test_malformed_bodies_are_refused(data: bytes) -> None:
    assert rejected(directives.Verifier(settings(KEY)), data) == "malformed"


def test_any_configured_key_may_sign_during_a_rotation() -> None:
    verifier = directives.Verifier(settings(KEY, OTHER))
    verifier.verify(signed(OTHER), now=time.time())
    verifier.verify(signed(KEY), now=time.time())


def test_settings_refuse_keys_that_are_not_ed25519_public_keys() -> None:
    base: dict[str, Any] = {"dependencies": []}
    for bad in ["not base64!", base64.b64encode(b"short").decode()]:
        with pytest.raises(ConfigError) as caught:
            parse_config({**base, "directives": {"gate": GATE, "publicKeys": [bad]}})
        assert "directives.publicKeys" in str(caught.value)


@pytest.fixture
async def app() -> AsyncIterator[web.Application]:
    cfg = config(
        dependency("cache"),
        dependency("db", failureThreshold=1),
        directives={"gate": GATE, "publicKeys": [public(KEY)]},
    )
    application = server.create_app(cfg, registry=CollectorRegistry(), create=Script(db=refused))
    application.freeze()
    application[directives.RECEIVER].configure(cfg.directives)
    await application[server.ENGINE].apply(cfg)
    yield application
    await application[server.ENGINE].stop()


async def test_failing_open_keeps_the_pod_ready_and_still_shows_the_failure(
    app: web.Application,
) -> None:
    eng, receiver = app[server.ENGINE], app[directives.RECEIVER]
    await wait_for(lambda: eng.runners["db"].component.status == "unhealthy")
    assert (await call(app, "/readyz")).status == 503
    receiver.accept(signed())
    ready = await call(app, "/readyz?verbose")
    assert ready.status == 200
    assert "[~]db failing open: unhealthy in 3/3 pods" in body(ready).splitlines()
    health = json.loads(body(await call(app, "/health")))
    assert health["ready"] is True
    assert health["status"] == "unhealthy"
    assert health["components"]["db"]["status"] == "unhealthy"
    assert health["failingOpen"] == {"db": "unhealthy in 3/3 pods"}
    assert (await call(app, "/health/db")).status == 503
    metrics = generate_latest(eng.metrics._registry).decode()  # type: ignore[union-attr]
    assert 'healthgate_dependency_failing_open{dependency="db"} 1.0' in metrics
    assert 'healthgate_dependency_failing_open{dependency="cache"} 0.0' in metrics


async def test_only_the_named_dependency_fails_open(app: web.Application) -> None:
    eng, receiver = app[server.ENGINE], app[directives.RECEIVER]
    await wait_for(lambda: eng.runners["db"].component.status == "unhealthy")
    receiver.accept(signed(names=("cache",)))
    assert (await call(app, "/readyz")).status == 503  # db fails here, not everywhere


async def test_an_empty_or_expired_directive_returns_to_the_own_verdict(
    app: web.Application,
) -> None:
    eng, receiver = app[server.ENGINE], app[directives.RECEIVER]
    await wait_for(lambda: eng.runners["db"].component.status == "unhealthy")
    receiver.accept(signed())
    assert eng.ready
    receiver.accept(signed(names=()))
    assert not eng.ready
    receiver.accept(signed(lifetime=0.2))
    assert eng.ready
    await wait_for(lambda: not eng.ready)  # the operator said nothing more: expired
    assert eng.fail_open == {}


async def test_new_keys_drop_the_directive_in_force(app: web.Application) -> None:
    eng, receiver = app[server.ENGINE], app[directives.RECEIVER]
    await wait_for(lambda: eng.runners["db"].component.status == "unhealthy")
    receiver.accept(signed())
    receiver.configure(settings(OTHER))
    assert not eng.ready
    receiver.configure(None)
    with pytest.raises(directives.Rejected):
        receiver.accept(signed(OTHER))
