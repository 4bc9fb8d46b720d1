"""A container's environment, resolved as the kubelet resolves it.

``envFrom`` first, then ``env`` in order (a later entry wins); ``value`` strings and the command and
arguments get ``$(VAR)`` expansion against what was defined before them (``$$`` escapes);
``valueFrom`` reads ``secretKeyRef``, ``configMapKeyRef`` (honouring ``optional``) and ``fieldRef``.
A missing non-optional reference raises :class:`podspec.Missing`, which the node reports as the
kubelet does: the container waits with ``CreateContainerConfigError`` and is retried.
``resourceFieldRef`` is not emulated (there are no cgroups): such variables are left unset.
"""

from __future__ import annotations

import base64
import re

from tests.env.node import api, podspec, volumes

_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown references stay as written, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def _key_ref(kind: str, ref: api.Obj, namespace: str, lookup: volumes.Lookup) -> str | None:
    obj = lookup(kind, namespace, ref.get("name", ""))
    data = {} if obj is None else _decoded(kind, obj)
    if ref["key"] in data:
        return data[ref["key"]]
    if ref.get("optional"):
        return None
    where = f'{kind.lower()} "{ref.get("name")}"'
    raise podspec.Missing(f"couldn't find key {ref['key']} in {where}" if obj else where)


def _decoded(kind: str, obj: api.Obj) -> dict[str, str]:
    raw = obj.get("data") or {}
    if kind == "Secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in raw.items()}
    return dict(raw)


def _from_sources(container: api.Obj, namespace: str, lookup: volumes.Lookup) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = (
            ("Secret", source["secretRef"])
            if "secretRef" in source
            else (
                "ConfigMap",
                source.get("configMapRef") or {},
            )
        )
        obj = lookup(kind, namespace, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise podspec.Missing(f'{kind.lower()} "{ref.get("name")}" not found')
        prefix = source.get("prefix", "")
        env.update({prefix + k: v for k, v in _decoded(kind, obj).items()})
    return env


def _value_from(source: api.Obj, pod: api.Obj, lookup: volumes.Lookup) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "secretKeyRef" in source:
        return _key_ref("Secret", source["secretKeyRef"], namespace, lookup)
    if "configMapKeyRef" in source:
        return _key_ref("ConfigMap", source["configMapKeyRef"], namespace, lookup)
    if "fieldRef" in source:
        return podspec.field_value(pod, source["fieldRef"]["fieldPath"])
    return None  # resourceFieldRef: see the module doc


def resolve(container: api.Obj, pod: api.Obj, lookup: volumes.Lookup) -> dict[str, str]:
    """The variables the container's spec defines (not the base environment of a process)."""
    env = _from_sources(container, pod["metadata"]["namespace"], lookup)
    for entry in container.get("env") or []:
        if "valueFrom" in entry:
            value = _value_from(entry["valueFrom"], pod, lookup)
            if value is not None:
                env[entry["name"]] = value
        else:
            env[entry["name"]] = expand(entry.get("value", ""), env)
    return env


def references(container: api.Obj, namespace: str) -> set[tuple[str, str, str]]:
    """ConfigMaps and Secrets the env reads: their creation may unblock a waiting container."""
    refs = set()
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            refs.add(("Secret", namespace, source["secretRef"].get("name", "")))
        if "configMapRef" in source:
            refs.add(("ConfigMap", namespace, source["configMapRef"].get("name", "")))
    for entry in container.get("env") or []:
        source = entry.get("valueFrom") or {}
        if "secretKeyRef" in source:
            refs.add(("Secret", namespace, source["secretKeyRef"].get("name", "")))
        if "configMapKeyRef" in source:
            refs.add(("ConfigMap", namespace, source["configMapKeyRef"].get("name", "")))
    return refs
