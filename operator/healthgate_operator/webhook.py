"""The admission webhook endpoint: Kopf's ``WebhookServer`` plus our webhook configuration.

Kopf serves the HTTPS endpoint and routes reviews to ``@kopf.on.mutate`` handlers. The
MutatingWebhookConfiguration is applied by this module rather than by Kopf's ``managed`` mode,
which cannot express what a cluster-wide pod webhook needs: a namespaceSelector that keeps system
namespaces away from the operator (so even ``failurePolicy: Fail`` cannot block kube-system), a
short timeout, and a configurable failure policy. It is never deleted on exit: with several
replicas, one stopping must not unhook the others (Kopf's cleanup would do exactly that).
Instead, with ``--webhook-owner``, it is owned by the install's ClusterRole, so the garbage
collector removes it when the install goes (``helm uninstall``, ``kubectl delete -k``), the way
Kyverno cleans up its self-managed webhooks.
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

from healthgate_operator import certs
from healthgate_operator.builders import manifests
from healthgate_operator.kube import KubeError
from healthgate_operator.runtime import Runtime

logger = logging.getLogger(__name__)
Json = dict[str, Any]
RETRY_MAX_SECONDS = 30.0


def with_namespace(review: Any) -> Any:
    """Pods from controllers arrive without metadata.namespace; the review carries it."""
    request = review.get("request") or {}
    obj = request.get("object")
    if isinstance(obj, dict) and request.get("namespace"):
        obj.setdefault("metadata", {}).setdefault("namespace", request["namespace"])
    return review


class WebhookEndpoint:
    """``settings.admission.server``: yields client configs as Kopf expects, applies ours."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.applied = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def build_server(self) -> kopf.WebhookServer:
        config = self.runtime.config
        cert, key = config.webhook_cert, config.webhook_key
        if cert is None or key is None:
            host = urllib.parse.urlsplit(config.advertised_url).hostname or "localhost"
            directory = Path(tempfile.mkdtemp(prefix="healthgate-webhook-"))
            cert, key = certs.write_self_signed(directory, [host, config.webhook_host])
        return kopf.WebhookServer(
            addr=config.webhook_host, port=config.webhook_port, certfile=cert, pkeyfile=key
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

        async for client_config in self.build_server()(serve):
            ca_bundle = client_config.get("caBundle")
            self._start_applying(ca_bundle)
            client_config["url"] = self.runtime.config.advertised_url
            yield client_config

    def _start_applying(self, ca_bundle: str | None) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._apply(ca_bundle), name="webhook configuration")

    async def _owner(self) -> Json | None:
        """The ownerReference to ``--webhook-owner``; None (with an error logged) if unreadable.

        A missing or forbidden owner must not cost the cluster its webhook: the configuration is
        then applied without one, and only the uninstall clean-up is lost.
        """
        name = self.runtime.config.webhook_owner
        if not name:
            return None
        try:
            role = await self.runtime.kube.get(
                "rbac.authorization.k8s.io/v1", "clusterroles", None, name
            )
        except KubeError as exc:
            if exc.temporary:
                raise
            logger.error(
                "Cannot read ClusterRole %s (--webhook-owner); the webhook configuration will "
                "not be garbage-collected with the install: %s",
                name,
                exc,
            )
            return None
        return manifests.cluster_role_owner(role)

    async def _apply(self, ca_bundle: str | None) -> None:
        """Apply the configuration, retrying with backoff: the API may be briefly away."""
        config = self.runtime.config
        delay = 1.0
        while True:
            try:
                manifest = manifests.build_webhook_configuration(
                    url=config.advertised_url,
                    ca_bundle=ca_bundle,
                    failure_policy=config.webhook_failure_policy,
                    skip_namespaces=config.skip_namespaces,
                    only_namespaces=config.namespaces,
                    timeout_seconds=config.webhook_timeout,
                    extra_namespace_selector=config.webhook_namespace_selector,
                    owner=await self._owner(),
                )
                await self.runtime.kube.apply_webhook_configuration(manifest)
            except KubeError as exc:
                logger.error(
                    "Cannot apply the webhook configuration (retry in %.0fs): %s", delay, exc
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            logger.info("Webhook configuration applied: %s", config.advertised_url)
            self.applied.set()
            return
