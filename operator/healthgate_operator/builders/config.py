"""Render a HealthGate spec into the sidecar's config (the contract) and its Secret references.

A CRD field ``xFrom: {secretKeyRef}`` becomes, by default (``sidecar.secretsAs: file``),
``xFile: /var/run/healthgate/secrets/HG_<DEP>_<PATH>`` in the config and an item of a projected
Secret volume in the injected pod: the kubelet updates such files in a running pod, so a rotated
Secret reaches the sidecar without a restart. With ``secretsAs: env`` it becomes
``xFromEnv: HG_<DEP>_<PATH>`` and an env var with ``valueFrom.secretKeyRef`` (fixed until the
pod restarts). Either way the operator handles only the *reference*, never the value.

The result is validated with the contract itself, so a spec that slipped past the CRD schema (an
older CRD, a rule CEL cannot express) is caught here and reported as an invalid spec instead of
shipping a config the sidecar would reject.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from healthgate_operator.crd.secrets import ENV_SUFFIX, FILE_SUFFIX, FROM_SUFFIX
from healthgate_operator.kubetypes import Json

if TYPE_CHECKING:
    from healthgate_sidecar import contract

ENV_PREFIX = "HG_"
SECRETS_DIR = "/var/run/healthgate/secrets"  # the projected Secret volume's mount path
# spec.sidecar keys that shape the container, not the sidecar process; ``directives`` is the
# operator's to render (the CRD prunes it; dropped here too, for a spec from an older CRD).
CONTAINER_KEYS = frozenset({"image", "port", "resources", "directives"})


class InvalidSpec(ValueError):
    """The spec cannot become a valid sidecar config; ``problems`` name the fields."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# Rendered specs, ~2-3 KiB each (the text, the key). Above the number of gates: the status rounds
# visit every gate in turn, which an LRU smaller than that set would miss every time.
RENDER_CACHE = 2048


@dataclass(frozen=True)
class RenderedConfig:
    """What the ConfigMap and the injected container need from one gate spec.

    Kept per spec (see :func:`render_config`), so it holds the rendered text and no pydantic
    model: the validated model of a two-dependency spec costs ~6 KiB, two per gate.
    """

    text: str
    env: list[Json] = field(default_factory=list)
    # Sources of the projected Secret volume (``secretsAs: file``): {"secret": {name, items}}.
    secret_sources: list[Json] = field(default_factory=list)
    # The variable names the spec's ``env`` checks look at (admission copies the app's).
    env_names: frozenset[str] = frozenset()

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def config(self) -> contract.SidecarConfig:
        """The config the sidecar reads, parsed again from :attr:`text` (for tests and tools;
        10-20 ms, nothing kept)."""
        from healthgate_sidecar import contract  # noqa: PLC0415 - see _render

        return contract.parse_text(self.text)


def env_name(dependency: str, path: list[str | int]) -> str:
    """``HG_<DEP>_<PATH>``: e.g. ``cache`` + ``[url]`` -> ``HG_CACHE_URL``."""
    parts = [dependency, *(str(p) for p in path)]
    words = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", p) for p in parts]
    return ENV_PREFIX + "_".join(w.replace("-", "_").upper() for w in words)


def _is_secret_ref(key: str, value: Any) -> bool:
    return key.endswith(FROM_SUFFIX) and isinstance(value, dict) and "secretKeyRef" in value


def _replace_refs(
    node: Any, dependency: str, path: list[str | int], refs: list[tuple[str, Json]], as_file: bool
) -> Any:
    """Copy ``node`` with every ``xFrom`` swapped for ``xFile`` (or ``xFromEnv``); collect refs."""
    if isinstance(node, list):
        return [_replace_refs(v, dependency, [*path, i], refs, as_file) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: Json = {}
    for key, value in node.items():
        if _is_secret_ref(key, value):
            field_name = key.removesuffix(FROM_SUFFIX)
            name = env_name(dependency, [*path, field_name])
            ref = value["secretKeyRef"]
            refs.append((name, {"name": ref["name"], "key": ref["key"]}))
            if as_file:
                out[field_name + FILE_SUFFIX] = f"{SECRETS_DIR}/{name}"
            else:
                out[field_name + ENV_SUFFIX] = name
        else:
            out[key] = _replace_refs(value, dependency, [*path, key], refs, as_file)
    return out


def _env(refs: list[tuple[str, Json]]) -> list[Json]:
    return [{"name": name, "valueFrom": {"secretKeyRef": ref}} for name, ref in refs]


def _sources(refs: list[tuple[str, Json]]) -> list[Json]:
    """One projected source per Secret, each key at the path the config names."""
    by_secret: dict[str, list[Json]] = {}
    for path, ref in refs:
        by_secret.setdefault(ref["name"], []).append({"key": ref["key"], "path": path})
    return [{"secret": {"name": name, "items": items}} for name, items in by_secret.items()]


def _settings(spec: Json) -> Json:
    """The contract's process-wide settings found under spec.sidecar."""
    from healthgate_sidecar import contract  # noqa: PLC0415 - see _render

    known = {f.alias or n for n, f in contract.SidecarConfig.model_fields.items()}
    sidecar: Json = spec.get("sidecar") or {}
    return {k: v for k, v in sidecar.items() if k not in CONTAINER_KEYS and k in known}


def render_config(spec: Mapping[str, Any], *, directives: Json | None = None) -> RenderedConfig:
    """The validated sidecar config of a gate spec; raises :class:`InvalidSpec`.

    ``directives``: the contract's DirectiveSettings (gate uid, public keys) for the ConfigMap;
    None where only the container matters (admission) or the gate fails closed.

    Rendering validates with pydantic and dumps YAML in pure Python: 10-20 ms a spec. The
    webhook renders the selecting gate's spec for every pod, the status rounds every gate's
    spec each interval (to notice a changed ConfigMap), so results are kept per spec text
    (key order included: it orders the rendered env). Callers copy what they change.
    """
    extra = None if directives is None else json.dumps(directives, sort_keys=True)
    return _render_text(json.dumps(spec, default=dict), extra)


@functools.lru_cache(maxsize=RENDER_CACHE)
def _render_text(text: str, directives: str | None) -> RenderedConfig:
    return _render(json.loads(text), None if directives is None else json.loads(directives))


def _render(spec: Json, directives: Json | None) -> RenderedConfig:
    # The contract (pydantic models of every check type) loads with the first spec rendered,
    # not with the operator: an operator with no gate does not pay for it.
    from healthgate_sidecar import contract  # noqa: PLC0415

    refs: list[tuple[str, Json]] = []
    settings = _settings(spec)
    as_file = settings.get("secretsAs", "file") == "file"
    dependencies = []
    for dep in spec.get("dependencies") or []:
        name = str(dep.get("name", ""))
        # The path inside the type block is what names the variable: HG_CACHE_URL, not
        # HG_CACHE_REDIS_URL (the dependency already says which block).
        block_type = dep.get("type")
        rendered = {
            k: (_replace_refs(v, name, [], refs, as_file) if k == block_type else v)
            for k, v in dep.items()
        }
        dependencies.append(rendered)
    data = {"dependencies": dependencies, **settings}
    if directives is not None:
        data["directives"] = directives
    try:
        config = contract.parse_config(data)
    except contract.ConfigError as exc:
        raise InvalidSpec(exc.problems) from None
    dumped = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = "# Rendered by healthgate-operator from a HealthGate; edits are overwritten.\n"
    text += yaml.safe_dump(dumped, sort_keys=False)
    # The operator reads the env type's block as data: it imports no check type's model.
    env_names = frozenset(
        n for d in dumped["dependencies"] if d["type"] == "env" for n in d["env"]["names"]
    )
    if as_file:
        return RenderedConfig(text=text, secret_sources=_sources(refs), env_names=env_names)
    return RenderedConfig(text=text, env=_env(refs), env_names=env_names)
