"""Pure helpers on a pod spec: which containers run as processes, their argv, ports and paths.

Two emulation rules live here because a local process is not in a container:

* **Paths.** A process cannot see ``/etc/healthgate`` (there is no mount namespace), so every
  command, argument or environment value that starts with a volumeMount's ``mountPath`` is
  rewritten to the directory where the node materialised that volume (``subPath`` mounts point at
  the file as it was when the container started, as the kubelet's bind mount does).
* **Addresses.** Every pod shares the host's network, so a HealthGate program is bound to its
  pod's own loopback IP: ``HEALTHGATE_HOST`` is set to the pod IP, and a wildcard ``--host``
  (``0.0.0.0``, ``::``) in the arguments is replaced by it, which is what "all interfaces" means
  inside a pod's network namespace.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.env.node import api

PROGRAMS = ("healthgate-sidecar", "healthgate-operator")
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


class Missing(Exception):
    """Something the pod references is absent and not optional: the container must wait."""


def field_value(pod: api.Obj, path: str) -> str:
    """A downward-API ``fieldRef`` value (the fields the kubelet supports for env)."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
    }
    if path in simple:
        return str(simple[path])
    for field in ("labels", "annotations"):
        prefix = f"metadata.{field}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str((meta.get(field) or {}).get(path[len(prefix) : -2], ""))
    raise Missing(f"unsupported fieldRef {path!r}")


def argv(container: api.Obj) -> list[str]:
    """Command plus args; with no command the image's entrypoint is unknown, so args alone."""
    return [*(container.get("command") or []), *(container.get("args") or [])]


def program(container: api.Obj) -> str | None:
    """The HealthGate program this container runs as a local process, or None (reported only)."""
    words = argv(container)
    name = os.path.basename(words[0]) if words else ""
    return name if name in PROGRAMS else None


def program_path(name: str) -> str:
    """The console script in the venv this node runs from (``sys.executable``'s bin dir)."""
    return str(Path(sys.executable).parent / name)


def is_sidecar(container: api.Obj) -> bool:
    """A native sidecar: an init container with ``restartPolicy: Always``."""
    return container.get("restartPolicy") == "Always"


def port_number(container: api.Obj, port: int | str) -> int:
    """A probe's port: a number, or a name looked up in the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for entry in container.get("ports") or []:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise Missing(f"port {port!r} not found in container {container['name']}")


def mounts(container: api.Obj, volume_dirs: dict[str, Path]) -> list[tuple[str, str]]:
    """(mountPath, local path) pairs, longest mountPath first so nested mounts win."""
    pairs = []
    for mount in container.get("volumeMounts") or []:
        local = volume_dirs.get(mount["name"])
        if local is None:
            continue
        target = local / mount["subPath"] if mount.get("subPath") else local
        if mount.get("subPath"):
            target = target.resolve()  # like a bind mount: fixed at container start
        pairs.append((mount["mountPath"].rstrip("/") or "/", str(target)))
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def rewrite(value: str, pairs: list[tuple[str, str]]) -> str:
    """Map a container path (also inside ``--flag=/path``) to its local directory."""
    flag, sep, rest = value.partition("=") if value.startswith("-") else ("", "", value)
    for mount_path, local in pairs:
        if rest == mount_path or rest.startswith(mount_path + "/"):
            return f"{flag}{sep}{local}{rest[len(mount_path) :]}"
    return value


def bind_host(words: list[str], ip: str) -> list[str]:
    """Replace a wildcard ``--host`` value by the pod IP (see the module doc)."""
    out = list(words)
    for index, word in enumerate(out):
        if word == "--host" and index + 1 < len(out) and out[index + 1] in WILDCARDS:
            out[index + 1] = ip
        elif word.startswith("--host=") and word.split("=", 1)[1] in WILDCARDS:
            out[index] = f"--host={ip}"
    return out
