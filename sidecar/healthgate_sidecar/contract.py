"""The sidecar's config contract: the single source of the config file's shape and the CRD schema.

The operator renders this contract and generates its CRD from :func:`json_schema`; every field's
``description`` becomes ``kubectl explain`` text. Keys are camelCase like Kubernetes, unknown keys
are errors, ranges are constraints. :func:`load_config` and :func:`parse_config` turn YAML or JSON
into a :class:`SidecarConfig`, or raise :class:`ConfigError` whose ``problems`` are lines like
``dependencies[1].http.url: Field required``.

The per-type blocks come from the check types' declarations (:mod:`healthgate_sidecar.checks`);
what operator and sidecar say at run time is :mod:`healthgate_sidecar.wire`.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import yaml
from pydantic import Field, ValidationError, create_model, field_validator, model_validator
from pydantic_core import ErrorDetails

from healthgate_sidecar import checks, files, params
from healthgate_sidecar.params import Model, field_error
from healthgate_sidecar.validation import ConfigError

if not params.PYDANTIC:  # the check types' models were built from stubs.py's stand-ins
    raise ImportError("the contract needs pydantic, which this serving process went without")

__all__ = [
    "DEPENDENCY_TYPES",
    "ConfigError",
    "Dependency",
    "DirectiveSettings",
    "Model",
    "SidecarConfig",
    "json_schema",
    "load_config",
    "parse_config",
    "schema_models",
]

# The check types, each declared once in checks/<name>.py (in the order of checks.TYPES).
DEPENDENCY_TYPES: tuple[str, ...] = tuple(checks.registry())
EMPTY_PROBLEM = "<file>: empty config (no YAML document); write 'dependencies: []' to check nothing"
# libyaml's loader parses a 1,000-dependency config about ten times faster, when available.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
TYPE_DESCRIPTION = "Check type; the block of the same name is required."


class DependencyFields(Model):
    """One dependency to check: common scheduling fields plus the block named by ``type``."""

    name: str = Field(
        max_length=63,
        pattern=NAME_PATTERN,
        description="Unique name (DNS label: lowercase letters, digits, '-'); used in labels.",
    )
    # Narrowed to a Literal of DEPENDENCY_TYPES by _dependency_model (and so an enum in the CRD).
    type: str = Field(description=TYPE_DESCRIPTION)
    critical: bool = Field(
        True, description="Unhealthy fails readiness when true; only degrades the app when false."
    )
    required_for_startup: bool = Field(
        False, description="/startupz waits until this dependency has been healthy once."
    )
    interval_seconds: float = Field(
        10, ge=0.1, le=86400, description="Seconds between the starts of two checks."
    )
    timeout_seconds: float = Field(
        2, ge=0.01, le=3600, description="Seconds a check may take; at most the interval."
    )
    failure_threshold: int = Field(
        3, ge=1, le=100, description="Consecutive failures before a healthy one is unhealthy."
    )
    success_threshold: int = Field(
        1, ge=1, le=100, description="Consecutive successes before an unhealthy one is healthy."
    )
    degraded_latency_ms: float | None = Field(
        None, ge=1, le=3_600_000, description="A successful check slower than this is degraded."
    )

    @model_validator(mode="after")
    def _consistent(self) -> DependencyFields:
        for other in DEPENDENCY_TYPES:
            if other != self.type and getattr(self, other) is not None:
                raise field_error(other, f"not allowed for type {self.type}")
        if getattr(self, self.type) is None:
            raise field_error(self.type, f"required for type {self.type}")
        # Equality is allowed, as Prometheus allows scrape_timeout == scrape_interval: the next
        # round starts when the previous one ends, and rounds never overlap.
        if self.timeout_seconds > self.interval_seconds:
            raise field_error("timeoutSeconds", "must not exceed intervalSeconds")
        return self

    @property
    def params(self) -> Model:
        """The type block (present by validation)."""
        block: Model = getattr(self, self.type)
        return block


def _dependency_model() -> type[DependencyFields]:
    """:class:`DependencyFields` plus one optional block per check type, named after it."""
    blocks: dict[str, Any] = {
        kind.name: (
            kind.params | None,
            # An explicit alias: to_camel would spell "neo4j" "neo4J".
            Field(None, alias=kind.name, description=kind.description),
        )
        for kind in checks.registry().values()
    }
    type_field = (cast(Any, Literal)[DEPENDENCY_TYPES], Field(description=TYPE_DESCRIPTION))
    return create_model(
        "Dependency",
        __base__=DependencyFields,
        __doc__=DependencyFields.__doc__,
        __module__=__name__,
        type=type_field,
        **blocks,
    )


if TYPE_CHECKING:
    Dependency = DependencyFields
else:
    Dependency = _dependency_model()


class DirectiveSettings(Model):
    """Whose signed directives (shared outages, see directive_format) this sidecar accepts.

    Rendered by the operator into the gate's ConfigMap, never written by users: without it,
    every directive is refused.
    """

    gate: str = Field(
        min_length=1, max_length=128, description="UID of the HealthGate whose directives count."
    )
    public_keys: list[str] = Field(
        min_length=1,
        max_length=8,
        description="Ed25519 public keys (base64 of the 32 raw bytes); any of them may sign.",
    )

    @field_validator("public_keys")
    @classmethod
    def _raw_keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            try:
                raw = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("not base64") from None
            if len(raw) != 32:
                raise ValueError("an Ed25519 public key has 32 bytes")
        return keys


class SidecarConfig(Model):
    """The sidecar's whole config: the dependencies plus sidecar-wide settings."""

    dependencies: list[Dependency] = Field(
        default_factory=list, max_length=1000, description="Dependencies to check."
    )
    drain_seconds: float = Field(
        5, ge=0, le=30, description="Seconds between SIGTERM (readiness false) and exit."
    )
    auth_token_file: str | None = Field(
        None,
        min_length=1,
        description="File holding a bearer token. When set, /health and /health/{name} show "
        "details (messages, latencies, targets) only to requests bearing it, statuses to "
        "everyone else; when unset, every client gets full details (secrets are always "
        "redacted).",
    )
    secrets_as: Literal["file", "env"] = Field(
        "file",
        description="How the operator hands the sidecar the values of secretKeyRef fields: "
        "file (a projected Secret volume, which the kubelet updates in running pods and the "
        "sidecar re-reads, so a rotated Secret needs no restart) or env (environment "
        "variables, fixed until the pod restarts). The sidecar itself reads either.",
    )
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    jitter: float = Field(
        0.1, ge=0, le=0.5, description="Random spread of each interval, as a fraction of it."
    )
    watch_interval_seconds: float = Field(
        1, ge=0.05, le=60, description="Seconds between polls of the config file for changes."
    )
    directives: DirectiveSettings | None = Field(
        None, description="Set by the operator: who may sign shared-outage directives."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> SidecarConfig:
        seen: set[str] = set()
        for index, dep in enumerate(self.dependencies):
            if dep.name in seen:
                raise field_error(f"dependencies[{index}].name", f"duplicate name {dep.name!r}")
            seen.add(dep.name)
        return self


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _problem(error: ErrorDetails) -> str:
    path = _path(tuple(error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    ctx = error.get("ctx") or {}
    if error["type"] == "healthgate":
        # Our own errors name the sub-field, so the path points at the key to fix.
        path = f"{path}.{ctx['field']}" if path else str(ctx["field"])
        message = str(ctx["message"])
    elif error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{path or '<root>'}: {message}"


def parse_config(data: object) -> SidecarConfig:
    """Validate already-decoded data (a dict from YAML or JSON)."""
    if not isinstance(data, dict):
        raise ConfigError([f"<root>: expected a mapping, got {type(data).__name__}"])
    try:
        return SidecarConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(e) for e in exc.errors(include_url=False)]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # str(exc) quotes the offending line, which may hold a secret: keep only position and kind.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return type(exc).__name__


def parse_text(text: str) -> SidecarConfig:
    """Decode YAML (a superset of JSON) and validate.

    An empty or comment-only text is an error, not "no dependencies": a truncate-then-write
    editor or a half-written ConfigMap produces exactly that, and it must not make a pod with a
    down critical dependency ready. A sidecar with nothing to check says ``dependencies: []``.
    """
    try:
        data: Any = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        raise ConfigError([f"<file>: not valid YAML or JSON: {_yaml_problem(exc)}"]) from None
    if data is None:
        raise ConfigError([EMPTY_PROBLEM])
    return parse_config(data)


def load_config(path: str | Path) -> SidecarConfig:
    """Read (a regular file, capped) and validate a config file (YAML or JSON)."""
    try:
        text = files.read_text(path, limit=files.CONFIG_LIMIT)
    except files.FileError as exc:
        raise ConfigError([f"<file>: {exc}"]) from None
    return parse_text(text)


def json_schema() -> dict[str, Any]:
    """JSON schema of :class:`SidecarConfig` with camelCase names, for the CRD generator."""
    return SidecarConfig.model_json_schema(by_alias=True)


def schema_models() -> dict[str, type[Model]]:
    """Every model named in :func:`json_schema`'s ``$defs``, by that name (its class name)."""
    found: dict[str, type[Model]] = {}

    def visit(annotation: Any) -> None:
        is_model = isinstance(annotation, type) and issubclass(annotation, Model)
        if is_model and annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            for field in annotation.model_fields.values():
                visit(field.annotation)
        for arg in get_args(annotation):
            visit(arg)

    for field in SidecarConfig.model_fields.values():
        visit(field.annotation)
    return found


def dumps_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
