"""The admission webhook endpoint: Kopf's ``WebhookServer`` plus the CA it publishes.

Kopf serves the HTTPS endpoint and routes reviews to ``@kopf.on.mutate``/``@kopf.on.validate``
handlers by path (the handler id), from a thread with its own event loop (admission_thread.py):
pod injection is answered there, away from the status rounds. The webhook configurations
themselves (a MutatingWebhookConfiguration for pod CREATE, a ValidatingWebhookConfiguration for
HealthGates, both named ``--webhook-configuration``) ship with the install: the chart and
``deploy/admission.yaml``.
The operator may not create webhook configurations (a token that can create one can intercept
every Secret written in the cluster); it only publishes the CA bundle it serves with into those
two names (RBAC by resourceNames, and an admission policy that rejects any other change).
Kopf's ``managed`` mode is therefore off. Nothing is deleted on exit: with several replicas,
one stopping must not unhook the others.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf

from healthgate_operator import constants
from healthgate_operator.admission_thread import AdmissionThread
from healthgate_operator.backoff import Backoff
from healthgate_operator.builders import manifests
from healthgate_operator.kube import KubeError
from healthgate_operator.runtime import Runtime

logger = logging.getLogger(__name__)


def with_namespace(review: Any) -> Any:
    """Pods from controllers arrive without metadata.namespace; the review carries it."""
    request = review.get("request") or {}
    obj = request.get("object")
    if isinstance(obj, dict) and request.get("namespace"):
        obj.setdefault("metadata", {}).setdefault("namespace", request["namespace"])
    return review


class WebhookEndpoint:
    """``settings.admission.server``: yields client configs as Kopf expects, publishes the CA."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.applied = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def build_server(self) -> kopf.WebhookServer:
        config = self.runtime.config
        cert, key = config.webhook.cert, config.webhook.key
        if cert is None or key is None:
            # Imported here: cryptography costs ~10 MiB of memory, needed only for this.
            from healthgate_operator import certs  # noqa: PLC0415

            host = urllib.parse.urlsplit(config.webhook.advertised_url).hostname or "localhost"
            directory = Path(tempfile.mkdtemp(prefix="healthgate-webhook-"))
            cert, key = certs.write_self_signed(directory, [host, config.webhook.host])
        return kopf.WebhookServer(
            addr=config.webhook.host, port=config.webhook.port, certfile=cert, pkeyfile=key
        )

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        metrics = self.runtime.metrics

        async def serve(
            request: Any,
            *,
            webhook: str | None = None,
            headers: kopf.Headers | None = None,
            sslpeer: kopf.SSLPeer | None = None,
        ) -> Any:
            started = time.perf_counter()
            try:
                review = with_namespace(request)
                return await fn(review, webhook=webhook, headers=headers, sslpeer=sslpeer)
            finally:
                metrics.admission_seconds.observe(time.perf_counter() - started)

        admission = AdmissionThread(self.build_server(), local=[constants.WEBHOOK_HANDLER_ID])
        async for client_config in admission.configs(serve):
            ca_bundle = client_config.get("caBundle")
            self._start_applying(ca_bundle)
            client_config["url"] = self.runtime.config.webhook.advertised_url
            yield client_config

    def _start_applying(self, ca_bundle: str | None) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._publish(ca_bundle), name="webhook caBundle")

    async def _publish(self, ca_bundle: str | None) -> None:
        """Patch the caBundle into both configurations, retrying: the API may be away, or the
        install not applied yet (then the error names what is missing)."""
        backoff = Backoff()
        while True:
            try:
                name = self.runtime.config.webhook.configuration
                for plural in manifests.WEBHOOK_KINDS:
                    current = await self.runtime.kube.get(
                        "admissionregistration.k8s.io/v1", plural, None, name
                    )
                    patch = manifests.ca_bundle_patch(current, ca_bundle or "")
                    if patch:
                        await self.runtime.kube.json_patch(
                            "admissionregistration.k8s.io/v1", plural, None, name, patch
                        )
            except KubeError as exc:
                hint = " (is the install's admission.yaml applied?)" if exc.status == 404 else ""
                logger.error(
                    "Cannot publish the webhook caBundle%s (retry in %.0fs): %s",
                    hint,
                    backoff.delay,
                    exc,
                )
                await backoff.wait()
                continue
            logger.info("Webhook configuration applied: caBundle published")
            self.applied.set()
            return
