"""Pod volumes as files, written with the kubelet's atomic layout.

A ConfigMap, Secret, downwardAPI or projected volume becomes a directory laid out exactly like
the kubelet's ``AtomicWriter`` lays it out::

    <volume>/..2026_05_09_07_35_25.1234567/config.yaml   the data, in a timestamped directory
    <volume>/..data -> ..2026_05_09_07_35_25.1234567     the one symlink that is swapped
    <volume>/config.yaml -> ..data/config.yaml           what a reader opens

An update writes a new timestamped directory, points a fresh ``..data_tmp`` symlink at it and
renames that over ``..data`` (one atomic ``rename(2)``), then removes the old directory: a reader
sees the old files or the new ones, never a mix, which is what the sidecar's hot reload relies on.
``emptyDir`` is an empty directory; other volume types (hostPath, PVCs, service account tokens) are
not emulated and appear as empty directories.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.env.node import api, podspec

DATA, DATA_TMP = "..data", "..data_tmp"
DEFAULT_MODE = 0o644

# (kind, namespace, name) -> the object from the node's watch cache, or None if absent
Lookup = Callable[[str, str, str], api.Obj | None]
Files = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


def _source_data(kind: str, obj: api.Obj) -> dict[str, bytes]:
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _keyed_files(
    kind: str, source: api.Obj, namespace: str, lookup: Lookup, default_mode: int
) -> Files:
    """A configMap or secret source: every key, or the listed ``items`` under their paths."""
    name = source.get("name") or source.get("secretName") or ""
    optional = bool(source.get("optional", False))
    obj = lookup(kind, namespace, name)
    if obj is None:
        if optional:
            return {}
        raise podspec.Missing(f'{kind.lower()} "{name}" not found')
    data = _source_data(kind, obj)
    items = source.get("items")
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    files: Files = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise podspec.Missing(f'key "{item["key"]}" not found in {kind.lower()} "{name}"')
        files[item["path"]] = (data[item["key"]], int(item.get("mode", default_mode)))
    return files


def _field(pod: api.Obj, path: str) -> str:
    meta = pod["metadata"]
    if path in ("metadata.labels", "metadata.annotations"):
        pairs = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in pairs)
    return podspec.field_value(pod, path)


def _downward_files(source: api.Obj, pod: api.Obj, default_mode: int) -> Files:
    files: Files = {}
    for item in source.get("items") or []:
        if "fieldRef" in item:
            value = _field(pod, item["fieldRef"]["fieldPath"])
            files[item["path"]] = (value.encode(), int(item.get("mode", default_mode)))
    return files


def _projected_files(source: api.Obj, pod: api.Obj, lookup: Lookup) -> Files:
    namespace, mode = pod["metadata"]["namespace"], int(source.get("defaultMode", DEFAULT_MODE))
    files: Files = {}
    for part in source.get("sources") or []:
        if "configMap" in part:
            files.update(_keyed_files("ConfigMap", part["configMap"], namespace, lookup, mode))
        elif "secret" in part:
            files.update(_keyed_files("Secret", part["secret"], namespace, lookup, mode))
        elif "downwardAPI" in part:
            files.update(_downward_files(part["downwardAPI"], pod, mode))
        # serviceAccountToken: not emulated (no process here reads the in-cluster token path)
    return files


def payload(volume: api.Obj, pod: api.Obj, lookup: Lookup) -> Files | None:
    """The files of one volume, or None for a volume that is just a directory (emptyDir, ...)."""
    namespace = pod["metadata"]["namespace"]
    if "configMap" in volume:
        source = volume["configMap"]
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        return _keyed_files("ConfigMap", source, namespace, lookup, mode)
    if "secret" in volume:
        source = volume["secret"]
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        return _keyed_files("Secret", source, namespace, lookup, mode)
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        return _downward_files(source, pod, int(source.get("defaultMode", DEFAULT_MODE)))
    if "projected" in volume:
        return _projected_files(volume["projected"], pod, lookup)
    return None


def _check_path(relative: str) -> None:
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts or parts[0].startswith(".."):
        raise podspec.Missing(f"invalid path {relative!r} in volume")


def _current(target: Path) -> Files | None:
    data = target / DATA
    if not data.is_symlink():
        return None
    current: Files = {}
    for path in data.resolve().rglob("*"):
        if path.is_file():
            relative = str(path.relative_to(data.resolve()))
            current[relative] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return current


def write_atomic(target: Path, files: Files) -> bool:
    """Make ``target`` hold exactly ``files``; True if anything changed. See the module doc."""
    for relative in files:
        _check_path(relative)
    target.mkdir(parents=True, exist_ok=True)
    if _current(target) == files:
        return False
    old = os.readlink(target / DATA) if (target / DATA).is_symlink() else None
    stamp = dt.datetime.now(dt.UTC).strftime("..%Y_%m_%d_%H_%M_%S.")
    fresh = Path(tempfile.mkdtemp(prefix=stamp, dir=target))
    fresh.chmod(0o755)
    for relative, (content, mode) in files.items():
        path = fresh / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    tmp_link = target / DATA_TMP
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(fresh.name)
    tmp_link.rename(target / DATA)  # the atomic switch from the old files to the new ones
    visible = {Path(relative).parts[0] for relative in files}
    for name in visible:
        if not (target / name).is_symlink():
            (target / name).symlink_to(f"{DATA}/{name}")
    if old is not None:
        shutil.rmtree(target / old, ignore_errors=True)
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in visible:
            entry.unlink()
    return True
