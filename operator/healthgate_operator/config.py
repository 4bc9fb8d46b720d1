"""The operator's settings: command line flags, each also readable from a ``HEALTHGATE_*`` variable.

A flag wins over its variable, the variable over the default. Every field documents its unit,
default and why it exists; :func:`parse` turns argv + environment into an :class:`OperatorConfig`.
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import inspect
import itertools
import json
import os
import random
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthgate_operator import __version__, constants, flagvalues, sharding
from healthgate_operator.builders.injection import SidecarDefaults
from healthgate_operator.crd import parts

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty means all (cluster-wide)."""
    webhook_host: str = "0.0.0.0"
    """Address the admission webhook listens on (HTTPS)."""
    webhook_port: int = 9443
    """Port of the admission webhook."""
    webhook_url: str | None = None
    """URL the API server calls (e.g. https://healthgate.ns.svc:443); names the self-signed
    certificate's host. The installed webhook configurations hold the address itself."""
    webhook_cert: Path | None = None
    """PEM certificate for the webhook; a self-signed one is generated when unset."""
    webhook_key: Path | None = None
    """PEM private key matching ``webhook_cert``."""
    webhook_configuration: str = constants.WEBHOOK_CONFIGURATION
    """Name of the installed Mutating- and ValidatingWebhookConfiguration whose caBundle the
    operator publishes (chart: webhook.configurationName); it creates neither."""
    webhook_failure_policy: str = "Ignore"
    """The installed pod webhook's failurePolicy (chart: webhook.failurePolicy). Ignore: a
    broken operator never blocks pod creation (a pod is admitted unchanged when HealthGates
    cannot be read). Fail: no pod unguarded (it is refused then)."""
    listen_host: str = "0.0.0.0"
    """Address of the metrics and liveness endpoints."""
    metrics_port: int = 8080
    """Port of /metrics (Prometheus)."""
    health_port: int = 8081
    """Port of the liveness endpoint /healthz."""
    sidecar_image: str = constants.DEFAULT_IMAGE
    """Image injected when a gate does not name one."""
    allowed_sidecar_images: tuple[str, ...] = ()
    """Images a HealthGate may name in spec.sidecar.image: comma-separated shell patterns
    (registry.example.com/healthgate/*). Empty: only --sidecar-image. The installer decides
    what runs in other people's pods; a gate's author does not."""
    sidecar_port: int = constants.DEFAULT_PORT
    """Port of the injected sidecar when a gate sets no spec.sidecar.port (1024-65535)."""
    sidecar_resources: dict[str, Any] = field(
        default_factory=lambda: copy.deepcopy(parts.DEFAULT_RESOURCES)
    )
    """Resources (JSON) of the injected sidecar when a gate sets no spec.sidecar.resources."""
    status_interval: float = 10.0
    """Seconds between status refreshes of each gate."""
    refresh_stale_after: float = 180.0
    """Seconds without any gate status refreshed (written, or found current) after which /healthz
    fails, so that the kubelet restarts an operator whose refreshes stopped; must exceed
    --status-interval."""
    health_timeout: float = 1.0
    """Seconds to wait for one pod's /health; a slow sidecar counts as unreachable."""
    health_concurrency: int = 32
    """Pods probed at once across all gates: bounds sockets and CPU with many pods."""
    peering: str | None = "healthgate"
    """Kopf peering object; replicas coordinate through it. None: standalone."""
    shard_count: int = 1
    """Active replicas splitting the gates by a hash of namespace/name, each shard with its own
    peering object (the peering name suffixed -shard-INDEX). 1: one active replica for all."""
    shard_index: int = 0
    """This replica's shard, 0 to --shard-count minus 1 (see docs/design.md, Sharding)."""
    priority: int = field(default_factory=lambda: random.randint(1, 2**31 - 1))
    """Peering priority. Random by default: the highest replica works, the others stand by."""
    operator_namespace: str | None = None
    """The operator's own namespace, never injected (its pods must not depend on themselves)."""
    log_level: str = "info"
    """debug, info, warning or error."""
    directive_key: Path | None = None
    """PEM file of the Ed25519 private key that signs shared-outage directives (chart: a
    Secret it generates once). Unset: a key made at start, lost at exit (see docs/design.md)."""
    directive_trusted_keys: tuple[str, ...] = ()
    """Further Ed25519 public keys (comma-separated base64 of the raw 32 bytes) the sidecars
    accept besides this operator's own: the next key during a rotation."""

    @property
    def shard(self) -> sharding.Shard:
        return sharding.Shard(index=self.shard_index, count=self.shard_count)

    @property
    def peering_name(self) -> str | None:
        """The peering object this replica joins: one per shard."""
        return self.shard.peering(self.peering)

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @property
    def advertised_url(self) -> str:
        host = "127.0.0.1" if self.webhook_host in ("0.0.0.0", "") else self.webhook_host
        return self.webhook_url or f"https://{host}:{self.webhook_port}"

    @property
    def sidecar_defaults(self) -> SidecarDefaults:
        return SidecarDefaults(
            image=self.sidecar_image, port=self.sidecar_port, resources=self.sidecar_resources
        )

    @property
    def allowed_images(self) -> tuple[str, ...]:
        return self.allowed_sidecar_images or (self.sidecar_image,)

    @property
    def skip_namespaces(self) -> tuple[str, ...]:
        return (self.operator_namespace,) if self.operator_namespace else ()


def _env(environ: Mapping[str, str], flag: str) -> str | None:
    return environ.get("HEALTHGATE_" + flag.upper().replace("-", "_")) or None


@functools.cache
def field_docs() -> dict[str, str]:
    """The attribute docstrings of :class:`OperatorConfig`, as ``--help`` texts (one source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(OperatorConfig)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        if documented and isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            text = str(after.value.value)
            docs[node.target.id.replace("_", "-")] = text.replace("%", "%%")
    return docs


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthgate-operator",
        description="Reconcile HealthGates, inject the HealthGate sidecar, aggregate status. "
        "Every flag can also be set as HEALTHGATE_<FLAG> (e.g. HEALTHGATE_WEBHOOK_PORT).",
    )
    parser.add_argument("--version", action="version", version=__version__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=None,
        help="serve this namespace (repeatable)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="serve every namespace")
    opt = OperatorConfig
    for flag, kind, default in (
        ("webhook-host", str, opt.webhook_host),
        ("webhook-port", int, opt.webhook_port),
        ("webhook-url", str, None),
        ("webhook-cert", Path, None),
        ("webhook-key", Path, None),
        ("webhook-configuration", str, opt.webhook_configuration),
        ("listen-host", str, opt.listen_host),
        ("metrics-port", int, opt.metrics_port),
        ("health-port", int, opt.health_port),
        ("sidecar-image", str, opt.sidecar_image),
        ("sidecar-port", int, opt.sidecar_port),
        ("allowed-sidecar-images", str, ""),
        ("sidecar-resources", str, json.dumps(parts.DEFAULT_RESOURCES)),
        ("status-interval", float, opt.status_interval),
        ("refresh-stale-after", float, opt.refresh_stale_after),
        ("health-timeout", float, opt.health_timeout),
        ("health-concurrency", int, opt.health_concurrency),
        ("shard-count", int, opt.shard_count),
        ("shard-index", int, opt.shard_index),
        ("priority", int, None),
        ("operator-namespace", str, None),
        ("directive-key", Path, None),
        ("directive-trusted-keys", str, ""),
    ):
        value = _env(environ, flag)
        parser.add_argument(
            f"--{flag}",
            type=kind,
            default=kind(value) if value else default,
            help=f"{field_docs().get(flag, '')} (default: %(default)s)",
        )
    policy = _env(environ, "webhook-failure-policy") or opt.webhook_failure_policy
    parser.add_argument(
        "--webhook-failure-policy",
        choices=["Ignore", "Fail"],
        default=policy,
        help=field_docs()["webhook-failure-policy"],
    )
    level = _env(environ, "log-level") or opt.log_level
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=level,
        help="lowest level logged",
    )
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering", default=_env(environ, "peering") or opt.peering, help=field_docs()["peering"]
    )
    standalone = (_env(environ, "standalone") or "").lower() in ("1", "true", "yes")
    peering.add_argument(
        "--standalone", action="store_true", default=standalone, help="run without peering"
    )
    return parser


def _operator_namespace(given: str | None, environ: Mapping[str, str]) -> str | None:
    if given:
        return given
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return SA_NAMESPACE_FILE.read_text().strip() or None
    except OSError:
        return None


def parse(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> OperatorConfig:
    environ = os.environ if environ is None else environ
    args = build_parser(environ).parse_args(argv)
    namespaces = tuple(args.namespaces or ())
    if not namespaces and not args.all_namespaces and _env(environ, "namespace"):
        namespaces = tuple(str(_env(environ, "namespace")).split(","))
    if (args.webhook_cert is None) != (args.webhook_key is None):
        raise SystemExit("healthgate-operator: --webhook-cert and --webhook-key go together")
    if not 1024 <= args.sidecar_port <= 65535:
        raise SystemExit("healthgate-operator: --sidecar-port: must be within 1024-65535")
    if args.refresh_stale_after <= args.status_interval:
        raise SystemExit(
            "healthgate-operator: --refresh-stale-after: must exceed --status-interval"
        )
    try:
        sharding.Shard(index=args.shard_index, count=args.shard_count)
    except ValueError as exc:
        raise SystemExit(f"healthgate-operator: {exc}") from None
    json_flags: dict[str, Any] = {}
    for dest, parse_value in (("sidecar_resources", flagvalues.resources),):
        try:
            json_flags[dest] = parse_value(getattr(args, dest))
        except flagvalues.FlagValueError as exc:
            flag = dest.replace("_", "-")
            raise SystemExit(f"healthgate-operator: --{flag}: {exc}") from None
    extra = {} if args.priority is None else {"priority": args.priority}
    return OperatorConfig(
        namespaces=namespaces,
        webhook_host=args.webhook_host,
        webhook_port=args.webhook_port,
        webhook_url=args.webhook_url,
        webhook_cert=args.webhook_cert,
        webhook_key=args.webhook_key,
        webhook_configuration=args.webhook_configuration,
        webhook_failure_policy=args.webhook_failure_policy,
        listen_host=args.listen_host,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        sidecar_image=args.sidecar_image,
        sidecar_port=args.sidecar_port,
        allowed_sidecar_images=tuple(
            p.strip() for p in args.allowed_sidecar_images.split(",") if p.strip()
        ),
        status_interval=args.status_interval,
        refresh_stale_after=args.refresh_stale_after,
        health_timeout=args.health_timeout,
        health_concurrency=args.health_concurrency,
        shard_count=args.shard_count,
        shard_index=args.shard_index,
        peering=None if args.standalone else args.peering,
        operator_namespace=_operator_namespace(args.operator_namespace, environ),
        log_level=args.log_level,
        directive_key=args.directive_key,
        directive_trusted_keys=tuple(
            k.strip() for k in args.directive_trusted_keys.split(",") if k.strip()
        ),
        **json_flags,
        **extra,
    )
