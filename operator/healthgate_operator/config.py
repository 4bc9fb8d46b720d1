"""The operator's settings, grouped by concern as Kopf groups ``OperatorSettings``.

Each group is a frozen dataclass; each field is declared once with :func:`options.setting`: its
help text, default, limits and (when not derived from the group's prefix and the field's name)
its flag. :func:`build_parser` makes the command line from them in one loop, and every flag is
also readable from a ``HEALTHGATE_*`` variable: a flag wins over its variable, the variable over
the default. A value out of range stops the operator at start with the flag named (exit code 2,
as argparse's own errors), never silently clamped.

Layering: this module sits below the code it configures. It imports no builder, CRD part or
handler; what needs those (the sidecar defaults handed to the injection builder) is assembled by
the wiring (:mod:`healthgate_operator.runtime`).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthgate_operator import __version__, constants, flagvalues, options, sharding
from healthgate_operator.options import setting

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
PORT = options.within(0, 65535)  # 0: any free port (the tests' choice)


@dataclass(frozen=True)
class ScopeSettings(options.Group):
    """Which namespaces the operator serves."""

    namespaces: tuple[str, ...] = setting(
        (),
        flag="--namespace",
        short="-n",
        repeat=True,
        exclusive="scope",
        help="serve this namespace (repeatable; the variable takes a comma-separated list); "
        "none: every namespace",
    )
    all_namespaces: bool = setting(
        False, short="-A", exclusive="scope", help="serve every namespace"
    )
    operator_namespace: str | None = setting(
        None,
        help="The operator's own namespace, never injected (its pods must not depend on "
        "themselves). Unset: POD_NAMESPACE, else the service account's namespace.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.all_namespaces and self.namespaces:
            raise options.SettingError("--all-namespaces: not allowed with --namespace")

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @property
    def skip_namespaces(self) -> tuple[str, ...]:
        return (self.operator_namespace,) if self.operator_namespace else ()


@dataclass(frozen=True)
class WebhookSettings(options.Group):
    """The admission webhook: where it listens, its certificate, the installed configuration."""

    PREFIX = "webhook-"
    host: str = setting("0.0.0.0", help="Address the admission webhook listens on (HTTPS).")
    port: int = setting(9443, check=PORT, help="Port of the admission webhook.")
    url: str | None = setting(
        None,
        help="URL the API server calls (e.g. https://healthgate.ns.svc:443); names the "
        "self-signed certificate's host. The installed webhook configurations hold the address.",
    )
    cert: Path | None = setting(
        None, help="PEM certificate for the webhook; a self-signed one is generated when unset."
    )
    key: Path | None = setting(None, help="PEM private key matching --webhook-cert.")
    configuration: str = setting(
        constants.WEBHOOK_CONFIGURATION,
        help="Name of the installed Mutating- and ValidatingWebhookConfiguration whose caBundle "
        "the operator publishes (chart: webhook.configurationName); it creates neither.",
    )
    failure_policy: str = setting(
        "Ignore",
        choices=("Ignore", "Fail"),
        help="The installed pod webhook's failurePolicy (chart: webhook.failurePolicy). Ignore: "
        "a broken operator never blocks pod creation (a pod is admitted unchanged when "
        "HealthGates cannot be read). Fail: no pod unguarded (it is refused then).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.cert is None) != (self.key is None):
            raise options.SettingError("--webhook-cert: goes together with --webhook-key")

    @property
    def advertised_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return self.url or f"https://{host}:{self.port}"


@dataclass(frozen=True)
class EndpointSettings(options.Group):
    """The operator's own HTTP endpoints besides the webhook."""

    listen_host: str = setting("0.0.0.0", help="Address of the metrics and liveness endpoints.")
    metrics_port: int = setting(8080, check=PORT, help="Port of /metrics (Prometheus).")
    health_port: int = setting(8081, check=PORT, help="Port of the liveness endpoint /healthz.")


@dataclass(frozen=True)
class SidecarSettings(options.Group):
    """What an injected sidecar gets when its gate's spec.sidecar leaves it unset."""

    PREFIX = "sidecar-"
    image: str = setting(
        constants.DEFAULT_IMAGE, help="Image injected when a gate does not name one."
    )
    allowed_images: tuple[str, ...] = setting(
        (),
        flag="--allowed-sidecar-images",
        help="Images a HealthGate may name in spec.sidecar.image: comma-separated shell patterns "
        "(registry.example.com/healthgate/*). Empty: only --sidecar-image. The installer "
        "decides what runs in other people's pods; a gate's author does not.",
    )
    port: int = setting(
        constants.DEFAULT_PORT,
        check=options.within(1024, 65535),
        help="Port of the injected sidecar when a gate sets no spec.sidecar.port (1024-65535).",
    )
    resources: dict[str, Any] = setting(
        factory=lambda: copy.deepcopy(constants.DEFAULT_RESOURCES),
        parse=flagvalues.resources,
        shown=json.dumps(constants.DEFAULT_RESOURCES),
        help="Resources (JSON) of the injected sidecar when a gate sets no spec.sidecar.resources.",
    )

    @property
    def allowed(self) -> tuple[str, ...]:
        """The image patterns in force: the allow-list, or the default image alone."""
        return self.allowed_images or (self.image,)


@dataclass(frozen=True)
class StatusSettings(options.Group):
    """Status rounds: how often each gate's pods are asked, and how patiently."""

    interval: float = setting(
        10.0,
        flag="--status-interval",
        check=options.above(0),
        help="Seconds between status refreshes of each gate.",
    )
    refresh_stale_after: float = setting(
        180.0,
        help="Seconds without any gate status refreshed (written, or found current) after which "
        "/healthz fails, so that the kubelet restarts an operator whose refreshes stopped; must "
        "exceed --status-interval.",
    )
    health_timeout: float = setting(
        1.0,
        check=options.above(0),
        help="Seconds to wait for one pod's /health; a slow sidecar counts as unreachable.",
    )
    health_concurrency: int = setting(
        32,
        check=options.at_least(1),
        help="Pods probed at once across all gates: bounds sockets and CPU with many pods.",
    )
    status_writes_per_second: float = setting(
        20.0,
        check=options.above(0),
        help="Gate status writes a second at most, evenly spaced, so that a round in which every "
        "status changes does not flood the API server (and slow pod admission) at once.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.refresh_stale_after <= self.interval:
            raise options.SettingError("--refresh-stale-after: must exceed --status-interval")


@dataclass(frozen=True)
class PeeringSettings(options.Group):
    """Replicas: Kopf peering (one active per peering object) and shards (several active)."""

    name: str = setting(
        "healthgate",
        flag="--peering",
        exclusive="peering",
        help="Kopf peering object; replicas coordinate through it.",
    )
    standalone: bool = setting(False, exclusive="peering", help="run without peering")
    priority: int = setting(
        factory=lambda: random.randint(1, 2**31 - 1),
        shown="random",
        help="Peering priority. Random by default: the highest replica works, the others stand by.",
    )
    shard_count: int = setting(
        1,
        check=options.at_least(1),
        help="Active replicas splitting the gates by a hash of namespace/name, each shard with "
        "its own peering object (the peering name suffixed -shard-INDEX). 1: one active "
        "replica for all.",
    )
    shard_index: int = setting(
        0,
        help="This replica's shard, 0 to --shard-count minus 1 (see docs/design.md, Sharding).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.shard  # noqa: B018 - built for its checks (the index within the count)
        except ValueError as exc:
            raise options.SettingError(str(exc)) from None

    @property
    def shard(self) -> sharding.Shard:
        return sharding.Shard(index=self.shard_index, count=self.shard_count)

    @property
    def object_name(self) -> str | None:
        """The peering object this replica joins, one per shard; None when standalone."""
        return None if self.standalone else self.shard.peering(self.name)


@dataclass(frozen=True)
class LogSettings(options.Group):
    """What the operator logs."""

    PREFIX = "log-"
    level: str = setting(
        "info", choices=("debug", "info", "warning", "error"), help="lowest level logged"
    )


@dataclass(frozen=True)
class DirectiveSettings(options.Group):
    """The key that signs shared-outage directives (see docs/design.md)."""

    PREFIX = "directive-"
    key: Path | None = setting(
        None,
        help="PEM file of the Ed25519 private key that signs shared-outage directives (chart: "
        "a Secret it generates once). Unset: a key made at start, lost at exit.",
    )
    trusted_keys: tuple[str, ...] = setting(
        (),
        help="Further Ed25519 public keys (comma-separated base64 of the raw 32 bytes) the "
        "sidecars accept besides this operator's own: the next key during a rotation.",
    )


@dataclass(frozen=True)
class OperatorConfig:
    """All settings, one group per concern (``config.webhook.port``)."""

    scope: ScopeSettings = field(default_factory=ScopeSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    endpoints: EndpointSettings = field(default_factory=EndpointSettings)
    sidecar: SidecarSettings = field(default_factory=SidecarSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    peering: PeeringSettings = field(default_factory=PeeringSettings)
    log: LogSettings = field(default_factory=LogSettings)
    directives: DirectiveSettings = field(default_factory=DirectiveSettings)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per setting of :class:`OperatorConfig`."""
    return options.build_parser(
        OperatorConfig,
        prog="healthgate-operator",
        version=__version__,
        description="Reconcile HealthGates, inject the HealthGate sidecar, aggregate status. "
        "Every flag can also be set as HEALTHGATE_<FLAG> (e.g. HEALTHGATE_WEBHOOK_PORT).",
    )


def _operator_namespace(environ: Mapping[str, str]) -> str | None:
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return SA_NAMESPACE_FILE.read_text().strip() or None
    except OSError:
        return None


def parse(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> OperatorConfig:
    """The settings from ``argv`` and ``environ``; exits with code 2 on a bad value."""
    environ = os.environ if environ is None else environ
    parser = build_parser()

    def fill(chosen: dict[str, dict[str, Any]]) -> None:
        if not chosen["scope"].get("operator_namespace"):
            chosen["scope"]["operator_namespace"] = _operator_namespace(environ)

    parsed: OperatorConfig = options.parse(OperatorConfig, parser, argv, environ, complete=fill)
    return parsed
