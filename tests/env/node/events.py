"""Events the kubelet would record for a pod: Started, Unhealthy, Killing, BackOff, Failed.

They make ``kubectl describe pod`` and ``kubectl get events`` tell the same story as on a real
node. Fire-and-forget: an event that cannot be written is logged, never retried (the kubelet's
recorder drops events under pressure too).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from tests.env.node import api, registration

log = logging.getLogger("healthgate.node.events")


class Recorder:
    """Writes core/v1 Events about one pod, as the component ``kubelet`` on this node."""

    def __init__(self, client: api.Api, pod: api.Obj, node: str) -> None:
        self.api, self.pod, self.node = client, pod, node
        self._pending: set[asyncio.Task[None]] = set()

    def emit(self, container: str, reason: str, message: str, *, warning: bool = False) -> None:
        task = asyncio.create_task(self._write(container, reason, message, warning))
        self._pending.add(task)  # a reference, so the task is not collected before it ran
        task.add_done_callback(self._pending.discard)

    async def _write(self, container: str, reason: str, message: str, warning: bool) -> None:
        meta, stamp = self.pod["metadata"], registration.now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}"},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "fieldPath": f"spec.containers{{{container}}}",
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "kubelet", "host": self.node},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.api.create(f"/api/v1/namespaces/{meta['namespace']}/events", event)
        except api.TRANSIENT as exc:
            log.warning("event %s for %s not recorded: %r", reason, meta["name"], exc)
