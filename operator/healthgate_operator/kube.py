"""A thin JSON client for the few API calls the operator makes itself (Kopf makes the rest).

Plain aiohttp on the credentials of :mod:`healthgate_operator.login` (the same as Kopf's), with
plain JSON dicts in and out: no client library's generated model classes, which cost a lot of
CPU and memory for pod lists and buy nothing here. Only ConfigMaps, Pods, HealthGates,
workloads and the webhook caBundle are touched; the operator never reads Secrets (its RBAC
forbids it, too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import kopf

from healthgate_operator import constants, login
from healthgate_operator.kubetypes import Json

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
FIELD_MANAGER = constants.MANAGER
# Connections to the API server at once (as kubernetes_asyncio's pool had): callers bound
# their own concurrency (Kopf's workers, the status rounds); this only caps a runaway.
CONNECTIONS = 100
POD_PAGE = 100  # pods per LIST page: ~0.5 MB of JSON, a few ms of the loop to decode
# Pod LISTs in flight at once. The status rounds' workers (runtime.STATUS_WORKERS) mostly wait
# on sidecars, and a LIST takes milliseconds, so 8 keep up with them; each concurrent LIST
# keeps a TLS connection alive, and each costs ~300 KiB (asyncio's 256 KiB read buffer).
POD_LISTS = 8
Login = Callable[[], Awaitable[kopf.ConnectionInfo]]


class KubeError(Exception):
    """A failed API call; ``status`` is the HTTP status (0 for a connection failure)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status

    @property
    def temporary(self) -> bool:
        """Worth retrying: throttling, server errors, conflicts, connection failures."""
        return self.status in (0, 409, 429) or self.status >= 500


async def connect(relogin: Login = login.connection_info) -> Kube:
    """An authenticated client: in-cluster when running in a pod, else the kubeconfig."""
    return Kube(await relogin(), relogin=relogin)


class Kube:
    """The operator's own API calls, as JSON."""

    def __init__(
        self, info: kopf.ConnectionInfo, *, relogin: Login | None = None, timeout: float = 10.0
    ) -> None:
        self.server = info.server.rstrip("/")
        self.relogin = relogin
        self.timeout = timeout
        self._pod_lists = asyncio.Semaphore(POD_LISTS)
        connector = aiohttp.TCPConnector(limit=CONNECTIONS, ssl=info.as_ssl_context())
        self.session = aiohttp.ClientSession(
            connector=connector,
            headers={**info.as_http_headers(), "User-Agent": constants.MANAGER},
            proxy=info.proxy_url,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.session.close()

    async def _refresh_login(self) -> bool:
        """After a 401: fresh credentials (a rotated token). False: nothing to refresh with."""
        if self.relogin is None:
            return False
        info = await self.relogin()
        self.session.headers.update(info.as_http_headers())
        return True

    async def _send(
        self, method: str, path: str, limits: aiohttp.ClientTimeout, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """The response (status < 400 or not), logging in again once after a 401."""
        for attempt in range(2):
            try:
                resp = await self.session.request(
                    method, self.server + path, timeout=limits, **kwargs
                )
            except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                raise KubeError(0, f"{type(exc).__name__}: {exc}") from exc
            if resp.status != 401 or attempt or not await self._refresh_login():
                return resp
            resp.release()
        raise AssertionError("unreachable")

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Json:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        resp = await self._send(
            method, path, timeout, params=query or [], data=data, headers=headers
        )
        try:
            async with resp:
                raw = await resp.read()
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise KubeError(0, f"{type(exc).__name__}: {exc}") from exc
        if resp.status >= 400:
            raise KubeError(resp.status, _message(raw))
        parsed: Json = json.loads(raw) if raw else {}
        return parsed

    async def stream(
        self, path: str, query: list[tuple[str, str]], *, read_timeout: float
    ) -> AsyncIterator[Json]:
        """The events of a watch, one JSON object per line, until the server ends it."""
        # No total limit for a watch: connect quickly, then allow quiet periods.
        timeout = aiohttp.ClientTimeout(
            connect=self.timeout, sock_connect=self.timeout, sock_read=read_timeout
        )
        resp = await self._send(
            "GET", path, timeout, params=query, headers={"Accept": "application/json"}
        )
        async with resp:
            if resp.status >= 400:
                raise KubeError(resp.status, _message(await resp.read()))
            # Lines split here, not by the stream's readline: that refuses a line over 128 KiB
            # (an event of a pod with large annotations), which would end every watch on it.
            pending = b""
            try:
                async for chunk in resp.content.iter_any():
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
            except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                raise KubeError(0, f"watch interrupted: {type(exc).__name__}") from exc

    async def list_gates(self, namespace: str) -> list[Json]:
        path = f"/apis/{constants.API_VERSION}/namespaces/{namespace}/{constants.PLURAL}"
        items: list[Json] = (await self.request("GET", path)).get("items", [])
        return items

    async def list_pods(self, namespace: str, selector: str) -> list[Json]:
        """Every selected pod, a page at a time (one consistent snapshot: the continue token).

        Why pages: decoding a LIST holds the event loop, and the webhook answers on that loop.
        1,500 pods are ~7 MB of JSON, 130-240 ms of decoding in one piece; a page of
        ``POD_PAGE`` is a few milliseconds. A token that expired between pages (410) starts
        the list over.
        """
        async with self._pod_lists:
            return await self._list_pods(namespace, selector)

    async def _list_pods(self, namespace: str, selector: str) -> list[Json]:
        path = f"/api/v1/namespaces/{namespace}/pods"
        query = [("labelSelector", selector)] if selector else []
        items: list[Json] = []
        token = ""
        while True:
            page = [*query, ("limit", str(POD_PAGE))] + ([("continue", token)] if token else [])
            try:
                body = await self.request("GET", path, query=page)
            except KubeError as exc:
                if exc.status != 410 or not token:
                    raise
                items, token = [], ""
                continue
            items += body.get("items", [])
            token = str((body.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    async def apply(self, path: str, manifest: Json) -> Json:
        """Server-side apply: create or update in one idempotent call, owned fields only."""
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        return await self.request("PATCH", path, query=query, body=manifest, content_type=APPLY)

    async def apply_configmap(self, manifest: Json) -> Json:
        meta = manifest["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/configmaps/{meta['name']}"
        return await self.apply(path, manifest)

    async def create_subject_access_review(self, review: Json) -> Json:
        """May that user do that? (RBAC and every other authorizer answer; nothing is stored.)"""
        path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        return await self.request("POST", path, body=review)

    async def create_configmap(self, manifest: Json) -> Json:
        """Create only (409 if it exists): never take over a ConfigMap someone else made."""
        path = f"/api/v1/namespaces/{manifest['metadata']['namespace']}/configmaps"
        query = [("fieldManager", FIELD_MANAGER)]
        return await self.request("POST", path, query=query, body=manifest)

    async def get(
        self, api_version: str, kind_plural: str, namespace: str | None, name: str
    ) -> Json:
        """One object; ``namespace`` None for a cluster-scoped kind."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        scope = f"/namespaces/{namespace}" if namespace is not None else ""
        return await self.request("GET", f"{prefix}{scope}/{kind_plural}/{name}")

    async def json_patch(
        self, api_version: str, kind_plural: str, namespace: str | None, name: str, ops: list[Json]
    ) -> Json:
        """An RFC 6902 patch; ``namespace`` None for a cluster-scoped kind."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        scope = f"/namespaces/{namespace}" if namespace is not None else ""
        path = f"{prefix}{scope}/{kind_plural}/{name}"
        return await self.request("PATCH", path, body=ops, content_type=JSON_PATCH)

    async def patch_gate_status(self, namespace: str, name: str, patch: Json) -> Json:
        """Merge-patch a gate's status subresource; a resourceVersion in it is a precondition."""
        base = f"/apis/{constants.API_VERSION}/namespaces/{namespace}/{constants.PLURAL}"
        return await self.request("PATCH", f"{base}/{name}/status", body=patch, content_type=MERGE)

    async def merge_patch(
        self, api_version: str, kind_plural: str, namespace: str, name: str, patch: Json
    ) -> Json:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = f"{prefix}/namespaces/{namespace}/{kind_plural}/{name}"
        return await self.request("PATCH", path, body=patch, content_type=MERGE)


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", ""))[:500]
    except (ValueError, AttributeError):
        return data[:200].decode(errors="replace")
