"""The local node's pure logic: env resolution, path and host rewriting, probe thresholds,
pod conditions, IP allocation. No cluster, no processes, no files."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from tests.env.node import agent, containers, envvars, events, podspec, probes, status

Obj = dict[str, Any]


def pod(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
        "spec": {"nodeName": "local-node", "containers": [], **spec},
        "status": {"podIP": "127.0.1.7"},
    }


OBJECTS: dict[tuple[str, str, str], Obj] = {
    ("Secret", "shop", "redis"): {"data": {"url": base64.b64encode(b"redis://x").decode()}},
    ("ConfigMap", "shop", "settings"): {"data": {"mode": "fast", "level": "3"}},
}


def lookup(kind: str, namespace: str, name: str) -> Obj | None:
    return OBJECTS.get((kind, namespace, name))


def test_env_resolves_refs_fields_expansion_and_env_from() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "URL", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "url"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "WHERE", "value": "$(IP)/$(NS) $$(IP) $(UNKNOWN)"},
            {
                "name": "GONE",
                "valueFrom": {"secretKeyRef": {"name": "x", "key": "k", "optional": True}},
            },
        ],
    }
    env = envvars.resolve(container, pod(), lookup)
    assert env == {
        "CFG_mode": "fast",
        "CFG_level": "3",
        "URL": "redis://x",
        "MODE": "fast",
        "IP": "127.0.1.7",
        "NS": "shop",
        "APP": "web",
        "WHERE": "127.0.1.7/shop $(IP) $(UNKNOWN)",
    }


@pytest.mark.parametrize(
    "ref",
    [
        {"secretKeyRef": {"name": "absent", "key": "k"}},
        {"secretKeyRef": {"name": "redis", "key": "absent"}},
        {"configMapKeyRef": {"name": "settings", "key": "absent"}},
    ],
)
def test_a_missing_non_optional_ref_holds_the_container(ref: Obj) -> None:
    container = {"name": "c", "env": [{"name": "X", "valueFrom": ref}]}
    with pytest.raises(podspec.Missing):
        envvars.resolve(container, pod(), lookup)


def test_mount_paths_are_rewritten_longest_first() -> None:
    container = {
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/healthgate"},
            {"name": "tok", "mountPath": "/etc/healthgate/token/"},
        ]
    }
    pairs = podspec.mounts(container, {"cfg": Path("/w/cfg"), "tok": Path("/w/tok")})
    assert podspec.rewrite("/etc/healthgate/config.yaml", pairs) == "/w/cfg/config.yaml"
    assert podspec.rewrite("/etc/healthgate/token/t", pairs) == "/w/tok/t"
    assert podspec.rewrite("--config=/etc/healthgate/c.yaml", pairs) == "--config=/w/cfg/c.yaml"
    assert podspec.rewrite("/etc/healthgateway", pairs) == "/etc/healthgateway"
    assert podspec.rewrite("serve", pairs) == "serve"


def test_wildcard_hosts_become_the_pod_ip() -> None:
    words = ["serve", "--host", "0.0.0.0", "--host=::", "--port", "8086"]
    assert podspec.bind_host(words, "127.0.1.9") == [
        "serve",
        "--host",
        "127.0.1.9",
        "--host=127.0.1.9",
        "--port",
        "8086",
    ]
    assert podspec.bind_host(["--host", "127.0.0.5"], "127.0.1.9") == ["--host", "127.0.0.5"]


def test_programs_and_named_ports() -> None:
    sidecar = {"name": "s", "command": ["/usr/bin/healthgate-sidecar", "serve"]}
    assert podspec.program(sidecar) == "healthgate-sidecar"
    assert podspec.program({"name": "a", "args": ["healthgate-operator"]}) == "healthgate-operator"
    assert podspec.program({"name": "app", "command": ["python", "app.py"]}) is None
    assert podspec.program({"name": "app"}) is None
    ports = {"name": "s", "ports": [{"name": "health", "containerPort": 8086}]}
    assert podspec.port_number(ports, "health") == 8086
    assert podspec.port_number(ports, "9000") == 9000
    with pytest.raises(podspec.Missing):
        podspec.port_number(ports, "metrics")


async def run_probe(kind: str, results: list[bool], **spec: Any) -> tuple[list[bool], bool]:
    """Feed scripted results to a worker; the reported flips, and whether it ended by itself."""
    script: Iterator[bool] = iter(results)
    exhausted = asyncio.Event()
    flips: list[bool] = []

    async def check() -> bool:
        value = next(script, None)
        if value is None:
            exhausted.set()
            await asyncio.sleep(3600)
        return bool(value)

    worker = probes.ProbeWorker(
        kind,
        {"periodSeconds": 0.001, **spec},
        check,
        gate=lambda: True,
        on_result=lambda _, result: flips.append(result),
    )
    task = asyncio.create_task(worker.run(asyncio.get_running_loop().time()))
    done, _ = await asyncio.wait(
        [task, asyncio.ensure_future(exhausted.wait())],
        timeout=5,
        return_when=asyncio.FIRST_COMPLETED,
    )
    ended = task in done
    task.cancel()
    return flips, ended


async def test_readiness_flips_only_after_the_thresholds() -> None:
    script = [True, True, False, False, True, False, False, False, True, True]
    flips, ended = await run_probe("readiness", script, failureThreshold=3, successThreshold=2)
    assert flips == [True, False, True]
    assert not ended


async def test_liveness_failure_ends_the_worker_for_a_restart() -> None:
    flips, ended = await run_probe(
        "liveness", [False, True, False, False, True], failureThreshold=2
    )
    assert flips == [False]
    assert ended


async def test_startup_success_ends_probing() -> None:
    flips, ended = await run_probe("startup", [False, False, True, False], failureThreshold=30)
    assert flips == [True]
    assert ended


async def test_initial_delay_skips_early_ticks() -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    calls: list[float] = []

    async def check() -> bool:
        calls.append(loop.time() - began)
        return True

    worker = probes.ProbeWorker(
        "readiness",
        {"periodSeconds": 0.01, "initialDelaySeconds": 0.1},
        check,
        gate=lambda: True,
        on_result=lambda *_: None,
    )
    task = asyncio.create_task(worker.run(began))
    await asyncio.sleep(0.2)
    task.cancel()
    assert calls
    assert min(calls) >= 0.1


def container(spec: Obj, *, init: bool = False, **state: Any) -> containers.Container:
    context = containers.PodContext(
        ip="127.0.1.2",
        logs=Path("/nonexistent"),
        wake=lambda: None,
        prepare=lambda _: containers.Launch(argv=[], env={}),
        session=cast(aiohttp.ClientSession, None),  # never used: nothing is probed here
        backoff=10,
        grace=5,
        restart_policy="Always",
        events=cast(events.Recorder, None),  # never used: nothing starts here
    )
    c = containers.Container(spec, init, context)
    for name, value in state.items():
        setattr(c, name, value)
    return c


def by_type(conditions: list[Obj]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in conditions}


def test_a_native_sidecar_counts_toward_readiness_and_initialization() -> None:
    sidecar = {"name": "hg", "restartPolicy": "Always", "readinessProbe": {}}
    app = container({"name": "app"}, state="running", started=True)
    starting = container(sidecar, init=True, state="running", started=False)
    assert by_type(status.conditions(pod(), [starting], [app], once=False)) == {
        "PodReadyToStartContainers": "True",
        "Initialized": "False",
        "ContainersReady": "False",
        "Ready": "False",
    }
    assert status.phase([starting], [app], once=False) == "Pending"
    unready = container(
        sidecar, init=True, state="running", started=True, probe_results={"readiness": False}
    )
    got = status.conditions(pod(), [unready], [app], once=True)
    assert by_type(got)["Initialized"] == "True"
    assert by_type(got)["Ready"] == "False"
    assert "[hg]" in got[3]["message"]
    ready = container(
        sidecar, init=True, state="running", started=True, probe_results={"readiness": True}
    )
    assert by_type(status.conditions(pod(), [ready], [app], once=True))["Ready"] == "True"
    assert status.phase([ready], [app], once=True) == "Running"


def test_readiness_gates_hold_ready() -> None:
    gated = pod(readinessGates=[{"conditionType": "example.com/lb"}])
    app = container({"name": "app"}, state="running", started=True)
    assert by_type(status.conditions(gated, [], [app], once=True))["Ready"] == "False"
    gated["status"]["conditions"] = [{"type": "example.com/lb", "status": "True"}]
    assert by_type(status.conditions(gated, [], [app], once=True))["Ready"] == "True"


def test_transition_times_change_only_on_transitions() -> None:
    before = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    same = status.stamp([{"type": "Ready", "status": "True"}], before)
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    flipped = status.stamp([{"type": "Ready", "status": "False"}], before)
    assert flipped[0]["lastTransitionTime"] != "2026-01-01T00:00:00Z"


def test_ip_pool_is_distinct_reuses_released_and_keeps_a_known_ip() -> None:
    pool = agent.IpPool()
    first = [pool.allocate() for _ in range(300)]
    assert len(set(first)) == 300
    assert first[0] == "127.0.1.1"
    assert not any(ip.endswith((".0", ".255")) for ip in first)
    pool.release("127.0.1.5")
    assert pool.allocate() == "127.0.1.5"
    assert pool.allocate("127.0.9.9") == "127.0.9.9"
    assert pool.allocate("127.0.9.9") != "127.0.9.9"  # taken: a fresh one
    assert pool.allocate("10.0.0.1") != "10.0.0.1"  # outside the range: ignored
