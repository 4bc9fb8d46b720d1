"""Kopf wiring: which event calls which handler. Only thin stubs here; logic is in ``handlers``.

Handlers are registered on an explicit registry by :func:`register` rather than at import time,
because some decorator arguments are settings (the status interval); tests build their own.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import kopf

from healthgate_operator import constants, runtime, sharding, watchdog
from healthgate_operator import login as login_module
from healthgate_operator.config import OperatorConfig
from healthgate_operator.handlers import (
    ensure_peering,
    inject_pod,
    reconcile_gate,
    trim_body,
    update_status,
    validate_gate,
)

Logger = logging.Logger | logging.LoggerAdapter[Any]
GATES = (constants.GROUP, constants.VERSION, constants.PLURAL)


async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # The same credentials as our own calls: in-cluster token, kubeconfig, exec plugins.
    return await login_module.connection_info(**kwargs)


async def startup(memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    rt = runtime.of(memo)
    await rt.open()
    await ensure_peering.ensure(rt.kube, rt.config, logger)


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await runtime.of(memo).close()


async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    await reconcile_gate.reconcile(runtime=runtime.of(memo), body=dict(body), patch=patch)


async def refresh(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    await update_status.run(runtime=runtime.of(memo), body=body, stopped=stopped, logger=logger)


def trim(body: kopf.Body, **_: Any) -> None:
    # Kopf's Body resolves to its own nested dicts: this trims the copy it keeps per gate.
    trim_body.trim(body)


def liveness(memo: kopf.Memo, **_: Any) -> float:
    """/healthz: fails (Kopf answers 500) when no gate's status was refreshed for too long."""
    try:
        return runtime.of(memo).watchdog.check()
    except watchdog.Stalled as exc:
        raise kopf.PermanentError(str(exc)) from exc  # permanent: Kopf would retry otherwise


def is_deletion(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


async def forget(namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A deleted gate's metric series go with it."""
    if namespace and name:
        runtime.of(memo).metrics.gates.forget(namespace, name)


async def inject(
    body: kopf.Body,
    patch: kopf.Patch,
    warnings: list[str],
    memo: kopf.Memo,
    logger: Logger,
    **_: Any,
) -> None:
    raw = dict(body)
    namespace = str(raw.get("metadata", {}).get("namespace") or "")
    await inject_pod.inject(
        runtime=runtime.of(memo),
        body=raw,
        namespace=namespace,
        patch=patch,
        warnings=warnings,
        logger=logger,
    )


async def validate(
    body: kopf.Body, userinfo: kopf.UserInfo, memo: kopf.Memo, **kwargs: Any
) -> None:
    rt = runtime.of(memo)
    old = kwargs.get("old")  # the stored gate on UPDATE (Kopf's WebhookFn protocol omits it)
    await validate_gate.validate(
        kube=rt.kube,
        allowed_images=rt.config.sidecar.allowed,
        body=dict(body),
        old=dict(old) if old is not None else None,
        userinfo=dict(userinfo),
    )


def without_finalizers(registry: kopf.OperatorRegistry) -> None:
    """Let gates be deleted without the operator: no finalizer for the status loop.

    Kopf marks every daemon as needing a finalizer, to stop it before its object goes. Ours
    ends by itself when its gate is gone (the status write answers 404), while a finalizer
    makes ``kubectl delete hg`` hang whenever the operator is down, and gates and their
    namespaces stay Terminating after ``helm uninstall`` (issue 11). Kopf also removes its
    finalizer from gates that still carry one once no handler requires it.
    """
    spawning = registry._spawning
    spawning._handlers = [
        dataclasses.replace(h, requires_finalizer=False) for h in spawning._handlers
    ]


def owned_by(shard: sharding.Shard) -> Any:
    """Kopf's ``when=`` filter: this replica's shard owns the gate.

    Kopf evaluates it for every event and before spawning a daemon, so a gate is reconciled,
    refreshed, restarted and told of shared outages by its shard's active replica only.
    """

    def owned(namespace: str | None, name: str | None, **_: Any) -> bool:
        return shard.owns(namespace, name)

    return owned


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Attach every handler to ``registry``; gate handlers only for this shard's gates."""
    owned = owned_by(config.peering.shard)
    kopf.on.login(registry=registry)(login)
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(*GATES, registry=registry, backoff=5, when=owned)(reconcile)
    kopf.daemon(*GATES, registry=registry, cancellation_timeout=5.0, when=owned)(refresh)
    kopf.on.probe(id="refresh-age", registry=registry)(liveness)
    without_finalizers(registry)
    kopf.on.event(*GATES, registry=registry, when=kopf.all_([owned, is_deletion]))(forget)
    kopf.on.event(*GATES, id="trim-body", registry=registry, when=owned)(trim)
    # Admission is not sharded: the API server calls any replica behind the Service, and every
    # replica answers for every gate from its cache of all gates (gatecache.py).
    kopf.on.mutate(
        "v1",
        "pods",
        id=constants.WEBHOOK_HANDLER_ID,
        operations=["CREATE"],
        registry=registry,
    )(inject)
    kopf.on.validate(
        *GATES,
        id=constants.VALIDATE_HANDLER_ID,
        operations=["CREATE", "UPDATE"],
        registry=registry,
    )(validate)
