"""The wire contract: what the operator and the sidecar must agree on, defined once.

The sidecar serves it, the operator speaks it, both import it from here (the operator imports
nothing else from the sidecar but :mod:`.contract`): the default port, the endpoint paths, the
command line that starts the sidecar, the status vocabulary with its one ranking, and the
``/health`` body. Change one of them here and both sides follow. Plain data and pure functions:
importing this costs the operator nothing and loads no sidecar machinery.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal, NotRequired, TypedDict, get_args

DEFAULT_PORT: Final = 8086

# Endpoints. The kubelet's probes use the first three (PROBE_PATHS); the operator reads HEALTH.
LIVEZ: Final = "/livez"
READYZ: Final = "/readyz"
STARTUPZ: Final = "/startupz"
HEALTH: Final = "/health"
HEALTH_ONE: Final = "/health/{name}"
METRICS: Final = "/metrics"
PROBE_PATHS: Final = {"readiness": READYZ, "liveness": LIVEZ, "startup": STARTUPZ}

# The command line: ``PROGRAM serve --config PATH --host HOST --port PORT`` (see cli.py).
PROGRAM: Final = "healthgate-sidecar"  # the console script of pyproject.toml
SERVE: Final = "serve"
CONFIG_FLAG: Final = "--config"
HOST_FLAG: Final = "--host"
PORT_FLAG: Final = "--port"
ALL_INTERFACES: Final = "0.0.0.0"


def serve_command(config_path: str) -> list[str]:
    """The container ``command`` running the sidecar on a config file."""
    return [PROGRAM, SERVE, CONFIG_FLAG, config_path]


def serve_args(*, port: int, host: str = ALL_INTERFACES) -> list[str]:
    """The container ``args`` after :func:`serve_command`: where to listen."""
    return [HOST_FLAG, host, PORT_FLAG, str(port)]


Status = Literal["unknown", "healthy", "degraded", "unhealthy"]
STATUSES: tuple[Status, ...] = get_args(Status)
# The one ranking, for the sidecar's overall status and the operator's gate status alike.
# ``unknown`` ranks above ``degraded``: no result yet cannot vouch for a dependency; but below
# ``unhealthy``, which is known to be bad.
SEVERITY: Final[dict[Status, int]] = {"healthy": 0, "degraded": 1, "unknown": 2, "unhealthy": 3}


def worst(statuses: Iterable[Status], *, default: Status = "healthy") -> Status:
    """The most severe of ``statuses`` (``default`` when there is none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=default)


def is_up(status: Status) -> bool:
    """Healthy or degraded: the dependency answered, in time or late. Readiness asks this."""
    return status in ("healthy", "degraded")


class ComponentBody(TypedDict):
    """One dependency in ``/health``; the details only for an authorized client."""

    status: Status
    type: str
    critical: bool
    message: NotRequired[str]
    responseTimeMs: NotRequired[float | None]
    details: NotRequired[dict[str, str | int | float | bool | None]]
    lastChecked: NotRequired[str | None]
    lastSuccess: NotRequired[str | None]
    lastFailure: NotRequired[str | None]
    consecutiveFailures: NotRequired[int]
    reason: NotRequired[str | None]


class HealthBody(TypedDict):
    """The ``/health`` body (200 when ready, 503 when not: the same body)."""

    status: Status
    ready: bool
    failingOpen: NotRequired[dict[str, str]]  # only during a shared outage
    components: dict[str, ComponentBody]


def _status(value: Any) -> Status:
    text = str(value).lower()
    return next((s for s in STATUSES if s == text), "unknown")


def read_health(data: Any) -> HealthBody | None:
    """A ``/health`` body read back from JSON, leniently: a sidecar of another version, or
    something that is not one, must not break the reader. An unknown status is ``unknown``;
    what is not an object is None."""
    if not isinstance(data, dict):
        return None
    raw_components = data.get("components")
    components: dict[str, ComponentBody] = {}
    for name, raw in (raw_components if isinstance(raw_components, dict) else {}).items():
        entry = dict(raw) if isinstance(raw, dict) else {}
        entry["status"] = _status(entry.get("status"))
        components[str(name)] = entry  # type: ignore[assignment]  # status normalized above
    body: HealthBody = {
        "status": _status(data.get("status")),
        "ready": data.get("ready") is True,
        "components": components,
    }
    if isinstance(data.get("failingOpen"), dict):
        body["failingOpen"] = data["failingOpen"]
    return body
