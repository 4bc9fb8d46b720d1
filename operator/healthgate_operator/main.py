"""Kopf wiring: which event calls which handler. Only thin stubs here; logic is in ``handlers``.

Handlers are registered on an explicit registry by :func:`register` rather than at import time,
because some decorator arguments are settings (the status interval); tests build their own.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from healthgate_operator import constants, runtime
from healthgate_operator.config import OperatorConfig
from healthgate_operator.handlers import (
    ensure_peering,
    inject_pod,
    reconcile_gate,
    update_status,
    validate_gate,
)

Logger = logging.Logger | logging.LoggerAdapter[Any]
GATES = (constants.GROUP, constants.VERSION, constants.PLURAL)


async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # The same client library as our own calls: kubeconfig, in-cluster token, exec plugins.
    return await kopf.login_via_async_client(**kwargs)


async def startup(memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    rt = runtime.of(memo)
    await rt.open()
    await ensure_peering.ensure(rt.kube, rt.config, logger)


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await runtime.of(memo).close()


async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    await reconcile_gate.reconcile(runtime=runtime.of(memo), body=dict(body), patch=patch)


async def refresh(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: Logger,
    **_: Any,
) -> None:
    rt = runtime.of(memo)
    namespace = str(body.get("metadata", {}).get("namespace"))
    await update_status.refresh(
        runtime=rt,
        body=dict(body),
        patch=patch,
        logger=logger,
        memory=memo,
        gates=rt.gates.gates(namespace),
    )


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
        allowed_images=rt.config.allowed_images,
        body=dict(body),
        old=dict(old) if old is not None else None,
        userinfo=dict(userinfo),
    )


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Attach every handler to ``registry``."""
    kopf.on.login(registry=registry)(login)
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(*GATES, registry=registry, backoff=5)(reconcile)
    kopf.timer(
        *GATES,
        registry=registry,
        interval=config.status_interval,
        initial_delay=min(1.0, config.status_interval),
    )(refresh)
    kopf.on.event(*GATES, registry=registry, when=is_deletion)(forget)
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
