"""A small Kubernetes API client for the local node: plain dicts over aiohttp, plus list+watch.

The node needs only a handful of calls (create, get, merge-patch, delete, list, watch) on a few
resources, so it talks to the API server directly with the kubeconfig's client certificate rather
than through a generated client: objects stay plain JSON dicts, and a watch stream is parsed line
by line without per-object model conversion, which keeps 50+ pods cheap to follow.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

log = logging.getLogger("healthgate.node.api")

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
WATCH_SECONDS = 290  # the server ends a watch after this; we simply resume from the last version


class ApiError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code (404, 409, 410, ...)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


def _ssl_context(config: Obj) -> tuple[str, ssl.SSLContext]:
    """Server URL and a TLS context with the first user's client certificate."""
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    # load_cert_chain wants files; the kubeconfig embeds the data, so write it privately once.
    with tempfile.TemporaryDirectory(prefix="hg-node-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(str(cert), str(key))
    return str(cluster["server"]), context


class Api:
    """Calls against one API server; one aiohttp session (connection pool) for everything."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        self.server, self._ssl = _ssl_context(config)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Watches hold one connection each; status writes of many pods share the rest.
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=64)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Obj | None = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=30)
        async with self.session.request(
            method, self.server + path, data=data, params=params, headers=headers, timeout=timeout
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise ApiError(resp.status, text)
            result: Obj = json.loads(text) if text else {}
            return result

    async def get(self, path: str, **params: str) -> Obj:
        return await self.call("GET", path, params=params or None)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.call("POST", path, body=body)

    async def patch(self, path: str, body: Obj) -> Obj:
        return await self.call("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.call("DELETE", path, body=body)

    async def stream(self, path: str, params: dict[str, str]) -> AsyncIterator[Obj]:
        """The events of one watch request, until the server closes it."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=WATCH_SECONDS + 30)
        query = {**params, "watch": "true", "allowWatchBookmarks": "true"}
        query["timeoutSeconds"] = str(WATCH_SECONDS)
        async with self.session.get(self.server + path, params=query, timeout=timeout) as resp:
            if resp.status >= 300:
                raise ApiError(resp.status, await resp.text())
            buffer = b""
            # iter_any, not readline: a big object (a ConfigMap) may exceed the line limit.
            async for chunk in resp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)


# What a loop that must outlive a flaky connection catches (and logs) instead of dying.
TRANSIENT = (ApiError, aiohttp.ClientError, TimeoutError, OSError)

Handler = Callable[[str, Obj], Awaitable[None]]


def key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Reflector:
    """List, then watch, one collection forever; hands ADDED/MODIFIED/DELETED to ``handler``.

    Like client-go's reflector: a relist (after a 410 Gone or a broken stream) replays the
    current objects as MODIFIED and reports the ones that vanished meanwhile as DELETED, so the
    handler sees a consistent sequence whatever happened to the connection.
    """

    def __init__(self, api: Api, path: str, handler: Handler, **params: str) -> None:
        self.api, self.path, self.handler, self.params = api, path, handler, params
        self.store: dict[str, Obj] = {}
        self.synced = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                version = await self._relist()
                self.synced.set()
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status != 410:
                    log.warning("watch %s: %s", self.path, exc)
                    await asyncio.sleep(1)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("watch %s broke (%r); relisting", self.path, exc)
                await asyncio.sleep(0.5)

    async def _relist(self) -> str:
        listed = await self.api.get(self.path, **self.params)
        fresh = {key(obj): obj for obj in listed.get("items", [])}
        for gone in set(self.store) - set(fresh):
            await self.handler("DELETED", self.store.pop(gone))
        for name, obj in fresh.items():
            kind = "MODIFIED" if name in self.store else "ADDED"
            self.store[name] = obj
            await self.handler(kind, obj)
        version: str = listed["metadata"]["resourceVersion"]
        return version

    async def _watch(self, version: str) -> None:
        while True:
            params = {**self.params, "resourceVersion": version}
            async for event in self.api.stream(self.path, params):
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    raise ApiError(int(obj.get("code", 500)), str(obj.get("message")))
                version = obj["metadata"]["resourceVersion"]
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    self.store.pop(key(obj), None)
                else:
                    self.store[key(obj)] = obj
                await self.handler(kind, obj)
