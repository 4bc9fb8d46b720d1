"""Config file watching: rewrite, rename, the ConfigMap ``..data`` swap, invalid and missing."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from healthgate_sidecar import contract, engine, metrics, reload
from healthgate_sidecar.contract import SidecarConfig
from tests.unit.sidecar.helpers import Script, wait_for

V1 = "dependencies:\n- {name: a, type: env, env: {names: [HOME]}}\n"
V2 = V1 + "- {name: b, type: env, env: {names: [PATH]}}\n"
INVALID = V1 + "- {name: b, type: env, env: {names: [PATH]}, bogus: 1}\n"


class Recorder:
    def __init__(self) -> None:
        self.applied: list[SidecarConfig] = []

    async def __call__(self, config: SidecarConfig) -> None:
        self.applied.append(config)


def make_reloader(path: Path, registry: CollectorRegistry) -> tuple[reload.Reloader, Recorder]:
    recorder = Recorder()
    eng = engine.Engine()
    m = metrics.Metrics(registry, eng.snapshot)
    m.reloaded(ok=True, at=0)
    watcher = reload.Reloader(
        path,
        current=contract.load_config(path),
        on_config=recorder,
        metrics=m,
        interval=lambda: 0.05,
    )
    return watcher, recorder


def reload_ok(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("healthgate_config_last_reload_successful")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


async def test_first_poll_of_the_loaded_file_applies_nothing(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(V1)
    watcher, recorder = make_reloader(path, registry)
    await watcher.poll()
    await watcher.poll()
    assert recorder.applied == []
    assert reload_ok(registry) == 1


async def test_rewrite_in_place(tmp_path: Path, registry: CollectorRegistry) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(V1)
    watcher, recorder = make_reloader(path, registry)
    await watcher.poll()
    path.write_text(V2)
    await watcher.poll()
    assert [len(c.dependencies) for c in recorder.applied] == [2]


async def test_replace_by_rename(tmp_path: Path, registry: CollectorRegistry) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(V1)
    watcher, recorder = make_reloader(path, registry)
    await watcher.poll()
    (tmp_path / "config.yaml.tmp").write_text(V2)
    os.replace(tmp_path / "config.yaml.tmp", path)
    await watcher.poll()
    assert len(recorder.applied) == 1


def configmap(root: Path, version: str, text: str) -> None:
    """Lay out a ConfigMap volume as the kubelet does, or swap it atomically to ``version``."""
    (root / version).mkdir()
    (root / version / "config.yaml").write_text(text)
    (root / "..data_tmp").symlink_to(version)
    os.replace(root / "..data_tmp", root / "..data")
    if not (root / "config.yaml").is_symlink():
        (root / "config.yaml").symlink_to("..data/config.yaml")


async def test_kubernetes_configmap_symlink_swap(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    configmap(tmp_path, "..2024_01_01_00_00_00.1", V1)
    path = tmp_path / "config.yaml"
    watcher, recorder = make_reloader(path, registry)
    await watcher.poll()
    configmap(tmp_path, "..2024_01_01_00_01_00.2", V2)
    await watcher.poll()
    assert [len(c.dependencies) for c in recorder.applied] == [2]
    configmap(tmp_path, "..2024_01_01_00_02_00.3", V2)  # same bytes, new symlink target
    await watcher.poll()
    assert len(recorder.applied) == 1


async def test_invalid_config_keeps_the_last_good_one(
    tmp_path: Path, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(V1)
    watcher, recorder = make_reloader(path, registry)
    await watcher.poll()
    with caplog.at_level(logging.ERROR, logger="healthgate"):
        path.write_text(INVALID)
        await watcher.poll()
    assert recorder.applied == []
    assert reload_ok(registry) == 0
    [record] = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert record.fields["problems"] == ["dependencies[1].bogus: unknown key"]  # type: ignore[attr-defined]
    path.write_text(V2)
    await watcher.poll()
    assert len(recorder.applied) == 1
    assert reload_ok(registry) == 1


async def test_missing_file_then_back(tmp_path: Path, registry: CollectorRegistry) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(V1)
    watcher, recorder = make_reloader(path, registry)
    await watcher.poll()
    path.unlink()
    await watcher.poll()
    assert reload_ok(registry) == 0
    path.write_text(V1)
    await watcher.poll()
    assert reload_ok(registry) == 1
    assert recorder.applied == []  # same config as before: nothing to re-apply


async def test_running_reloader_applies_to_the_engine_keeping_state(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        V1.replace("{name: a,", "{name: a, intervalSeconds: 0.1, timeoutSeconds: 0.05,")
    )
    first = contract.load_config(path)
    eng = engine.Engine(create=Script())
    await eng.apply(first)
    await wait_for(lambda: eng.ready)
    kept = eng.runners["a"].component
    watcher = reload.Reloader(
        path, current=first, on_config=eng.apply, metrics=None, interval=lambda: 0.05
    )
    async with watcher.running():
        path.write_text(path.read_text() + "- {name: b, type: env, env: {names: [PATH]}}\n")
        await wait_for(lambda: "b" in eng.runners, timeout=2)
    assert eng.runners["a"].component is kept
    await eng.stop()


async def test_token_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-Token-123\n")
    holder = reload.TokenFile()
    holder.use(str(token))
    assert holder.token == "first-Token-123"
    token.write_text("second-Token-4567\n")
    holder.refresh()
    assert holder.token == "second-Token-4567"
    token.unlink()
    holder.refresh()
    assert holder.token is None
    holder.use(None)
    assert holder.path is None
