"""The webhook's decision for one pod: which gate (if any) injects it, and the mutated pod.

Kept pure so every branch (opt-out, system namespace, already injected, two gates, invalid spec,
port clash) is a unit test. The webhook never blocks a pod: every reason not to inject is an
answer "allowed, unchanged", with a warning when the user should hear about it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from healthgate_operator import constants
from healthgate_operator.builders import conditions, config, injection, selectors
from healthgate_operator.kubetypes import Json


@dataclass
class Decision:
    """``pod`` is the mutated pod when ``gate`` injects it, else None."""

    reason: str
    gate: str | None = None
    pod: Json | None = None
    warnings: list[str] = field(default_factory=list)


def selecting_gates(gates: Iterable[Json], labels: dict[str, str]) -> list[Json]:
    """Live gates whose selector matches, alphabetically: the first one wins, deterministically."""
    found = [
        g
        for g in gates
        if not g.get("metadata", {}).get("deletionTimestamp")
        and selectors.matches(g.get("spec", {}).get("selector") or {}, labels)
    ]
    return sorted(found, key=lambda g: str(g["metadata"]["name"]))


def image_allowed(image: str, patterns: Iterable[str]) -> bool:
    """Shell-style patterns (``registry.example.com/healthgate/*``); exact names match too."""
    return any(fnmatch.fnmatchcase(image, pattern) for pattern in patterns)


def skip_reason(pod: Json, namespace: str, skip_namespaces: Collection[str]) -> str | None:
    """Why this pod is none of our business, before looking at gates."""
    if namespace in constants.SYSTEM_NAMESPACES or namespace in skip_namespaces:
        return "system-namespace"
    annotations = pod.get("metadata", {}).get("annotations") or {}
    if str(annotations.get(constants.ANNOTATION_INJECT, "")).lower() == "false":
        return "opted-out"
    if injection.has_sidecar(pod):
        return "already-injected"
    return None


def decide(
    pod: Json,
    namespace: str,
    gates: Iterable[Json],
    *,
    defaults: injection.SidecarDefaults,
    allowed_images: Collection[str],
    skip_namespaces: Collection[str] = (),
) -> Decision:
    reason = skip_reason(pod, namespace, skip_namespaces)
    if reason is not None:
        return Decision(reason=reason)
    labels = pod.get("metadata", {}).get("labels") or {}
    candidates = selecting_gates(gates, labels)
    if not candidates:
        return Decision(reason="no-gate")
    winner = candidates[0]
    name = str(winner["metadata"]["name"])
    warnings = []
    if len(candidates) > 1:
        others = ", ".join(str(g["metadata"]["name"]) for g in candidates[1:])
        warnings.append(
            f"healthgate: pod selected by several HealthGates ({name}, {others}); "
            f"{name} injects it (alphabetically first)"
        )
    if not conditions.is_true(winner, "Reconciled"):
        # Its ConfigMap may not exist: the pod would hang in Init:ContainerCreating forever.
        warnings.append(
            f"healthgate: HealthGate {name} is not Reconciled (see its status); "
            "pod admitted without the sidecar"
        )
        return Decision(reason="not-reconciled", gate=name, warnings=warnings)
    spec: Json = winner.get("spec", {})
    image = (spec.get("sidecar") or {}).get("image")
    if image and not image_allowed(str(image), allowed_images):
        # The validating webhook refuses such a gate, but one created before the installer
        # narrowed --allowed-sidecar-images (or while that webhook was down) still exists.
        warnings.append(
            f"healthgate: HealthGate {name} names sidecar image {image!r}, which the installer "
            "does not allow; pod admitted without the sidecar"
        )
        return Decision(reason="image-not-allowed", gate=name, warnings=warnings)
    try:
        rendered = config.render_config(spec)
    except config.InvalidSpec as exc:
        warnings.append(f"healthgate: HealthGate {name} is invalid, not injected: {exc}")
        return Decision(reason="invalid-spec", gate=name, warnings=warnings)
    port = injection.sidecar_port(spec, defaults.port)
    if port in injection.used_ports(pod):
        warnings.append(
            f"healthgate: port {port} is used by the pod; set spec.sidecar.port of "
            f"HealthGate {name} to a free port. Not injected."
        )
        return Decision(reason="port-conflict", gate=name, warnings=warnings)
    container = injection.build_sidecar_container(spec, rendered, defaults)
    mutated = injection.inject(pod, name, container, rendered)
    return Decision(reason="injected", gate=name, pod=mutated, warnings=warnings)
