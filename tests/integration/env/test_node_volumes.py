"""The local node's volume files on a real filesystem: the kubelet's atomic ``..data`` layout."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from tests.env.node import podspec, volumes

Obj = dict[str, Any]
POD: Obj = {
    "metadata": {"name": "p", "namespace": "ns", "labels": {"b": "2", "a": "1"}},
    "spec": {},
}


def data_dir(target: Path) -> str:
    return os.readlink(target / "..data")


def test_first_write_lays_out_data_dir_and_symlinks(tmp_path: Path) -> None:
    changed = volumes.write_atomic(tmp_path, {"config.yaml": (b"a: 1\n", 0o644)})
    assert changed
    stamp = data_dir(tmp_path)
    assert stamp.startswith("..")
    assert (tmp_path / stamp).is_dir()
    assert os.readlink(tmp_path / "config.yaml") == "..data/config.yaml"
    assert (tmp_path / "config.yaml").read_text() == "a: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["..data", stamp, "config.yaml"])


def test_an_update_swaps_data_and_removes_the_old_dir(tmp_path: Path) -> None:
    volumes.write_atomic(tmp_path, {"config.yaml": (b"v1", 0o644), "old": (b"x", 0o644)})
    first = data_dir(tmp_path)
    assert not volumes.write_atomic(tmp_path, {"config.yaml": (b"v1", 0o644), "old": (b"x", 0o644)})
    assert data_dir(tmp_path) == first  # unchanged content: nothing rewritten
    assert volumes.write_atomic(tmp_path, {"config.yaml": (b"v2", 0o600), "dir/new": (b"n", 0o644)})
    second = data_dir(tmp_path)
    assert second != first
    assert not (tmp_path / first).exists()
    assert not (tmp_path / "..data_tmp").exists()
    assert (tmp_path / "config.yaml").read_text() == "v2"
    assert ((tmp_path / "config.yaml").stat().st_mode & 0o777) == 0o600
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert (tmp_path / "dir" / "new").read_text() == "n"
    assert not (tmp_path / "old").exists()
    assert not (tmp_path / "old").is_symlink()


@pytest.mark.parametrize("bad", ["../escape", "/abs", "..hidden"])
def test_paths_outside_the_volume_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(podspec.Missing):
        volumes.write_atomic(tmp_path, {bad: (b"x", 0o644)})


def test_payloads_of_each_volume_type() -> None:
    objects: dict[tuple[str, str, str], Obj] = {
        ("ConfigMap", "ns", "cm"): {
            "data": {"a.yaml": "a", "b.yaml": "b"},
            "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()},
        },
        ("Secret", "ns", "s"): {"data": {"token": base64.b64encode(b"t0k").decode()}},
    }

    def lookup(kind: str, namespace: str, name: str) -> Obj | None:
        return objects.get((kind, namespace, name))

    cm = volumes.payload({"configMap": {"name": "cm", "defaultMode": 0o600}}, POD, lookup)
    assert cm == {"a.yaml": (b"a", 0o600), "b.yaml": (b"b", 0o600), "bin": (b"\x00\x01", 0o600)}
    items = {"name": "cm", "items": [{"key": "a.yaml", "path": "sub/x.yaml", "mode": 0o400}]}
    assert volumes.payload({"configMap": items}, POD, lookup) == {"sub/x.yaml": (b"a", 0o400)}
    secret = volumes.payload({"secret": {"secretName": "s"}}, POD, lookup)
    assert secret == {"token": (b"t0k", 0o644)}
    downward = {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}
    assert volumes.payload({"downwardAPI": downward}, POD, lookup) == {
        "labels": (b'a="1"\nb="2"', 0o644)
    }
    projected = {
        "sources": [{"secret": {"name": "s"}}, {"configMap": {"name": "gone", "optional": True}}]
    }
    assert volumes.payload({"projected": projected}, POD, lookup) == {"token": (b"t0k", 0o644)}
    assert volumes.payload({"emptyDir": {}}, POD, lookup) is None
    with pytest.raises(podspec.Missing):
        volumes.payload({"configMap": {"name": "gone"}}, POD, lookup)
