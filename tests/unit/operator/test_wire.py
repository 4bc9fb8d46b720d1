"""The wire contract across the boundary: what the operator writes, the sidecar understands.

Each test takes the operator's side and the sidecar's side from their own code (the injection
builder and the sidecar's argument parser, the sidecar's routes and the kubelet probes, the
sidecar's /health renderer and the operator's status aggregation), not from a restated value.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from healthgate_operator import constants
from healthgate_operator.builders import config, injection, status
from healthgate_sidecar import cli, render, server, state, wire
from healthgate_sidecar.contract import SidecarConfig
from tests.unit.operator.conftest import SPEC

ROOT = Path(__file__).resolve().parents[3]


def sidecar_container(port: int) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    spec["sidecar"]["port"] = port
    return injection.build_sidecar_container(
        spec, config.render_config(spec), injection.SidecarDefaults()
    )


@pytest.mark.parametrize("port", [constants.DEFAULT_PORT, 9000])
def test_the_injected_command_line_parses_with_the_sidecars_parser(port: int) -> None:
    container = sidecar_container(port)
    program, *argv = container["command"] + container["args"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[program] == "healthgate_sidecar.cli:main"
    args = cli._parser().parse_args(argv)
    assert (args.command, args.config) == ("serve", constants.CONFIG_PATH)
    assert (args.host, args.port) == ("0.0.0.0", port)
    assert container["ports"][0]["containerPort"] == port


def test_both_sides_default_to_one_port() -> None:
    assert constants.DEFAULT_PORT == cli.DEFAULT_PORT == wire.DEFAULT_PORT
    assert injection.SidecarDefaults().port == wire.DEFAULT_PORT


def test_the_kubelet_probes_reach_routes_the_sidecar_serves() -> None:
    app = server.create_app(SidecarConfig(), registry=CollectorRegistry())
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    container = sidecar_container(constants.DEFAULT_PORT)
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    assert wire.HEALTH in routes  # what the operator's status rounds read


def pod_health(statuses: dict[str, state.Status]) -> wire.HealthBody | None:
    """A sidecar's /health for components in ``statuses``, through JSON, as the operator reads."""
    comps = []
    for name, value in statuses.items():
        comp = state.Component(name=name, type="env")
        comp.status = value
        comps.append(comp)
    overall = state.aggregate(comps)
    body = render.health(comps, overall, ready=overall.ready, full=True)
    return wire.read_health(json.loads(render.dumps(body, "components")))


@pytest.mark.parametrize(
    ("pods", "gate"),
    [
        ([{"cache": "healthy"}, {"cache": "healthy"}], "Healthy"),
        ([{"cache": "degraded"}, {"cache": "healthy"}], "Degraded"),
        # The bug of issue 13: unknown ranked below degraded on the operator's side only.
        ([{"cache": "degraded"}, {"cache": "unknown"}], "Unknown"),
        ([{"cache": "unknown"}, {"cache": "unhealthy"}], "Unhealthy"),
    ],
)
def test_the_gate_ranks_pod_statuses_as_the_sidecar_does(
    pods: list[dict[str, state.Status]], gate: str
) -> None:
    reports = [status.PodReport(f"p{i}", True, True, pod_health(p)) for i, p in enumerate(pods)]
    summary = status.summarize(["cache"], reports, None)
    assert summary.status == gate
    # ... and the gate's worst is the sidecar's own worst over the same statuses.
    flat = [s for p in pods for s in p.values()]
    assert summary.status == wire.worst(flat).capitalize()
    assert (
        summary.status.lower()
        == state.aggregate(
            [state.Component(name=str(i), type="env", status=s) for i, s in enumerate(flat)]
        ).status
    )


def test_a_health_body_is_read_back_leniently() -> None:
    body = wire.read_health({"status": "DEGRADED", "components": {"a": {"status": "odd"}}})
    assert body == {
        "status": "degraded",
        "ready": False,
        "components": {"a": {"status": "unknown"}},
    }
    assert wire.read_health(["not", "an", "object"]) is None
    assert wire.read_health(None) is None
