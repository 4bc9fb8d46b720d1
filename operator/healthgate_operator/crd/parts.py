"""The CRD-only parts of a HealthGate: selector, probes, sidecar, rollout, status, columns.

These describe how the operator injects and reports, not what the sidecar checks, so they have
no counterpart in the contract. Probe fields mirror the kubelet's own probe settings and ranges.
"""

from __future__ import annotations

from typing import Any

from healthgate_operator import constants
from healthgate_operator.builders import shared_outage as shared_outage_rule
from healthgate_operator.crd.structural import Schema
from healthgate_sidecar import wire

# The gate's name is the value of the healthgate.io/gate label on its ConfigMap and pods, and
# label values have at most 63 characters: a longer name could never be reconciled.
NAME_MAX_LENGTH = 63
# What Kubernetes accepts as a label value and as a qualified key (RE2, for CEL and patterns;
# no backslashes, which a CEL string literal would need escaped twice).
# Validated here so that a selector means the same to the webhook, the status and the API
# server: "x,app!=y" as a value would otherwise become a different selector in a LIST query.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_KEY_MAX_LENGTH = 317  # a 253-character prefix, a slash and a 63-character name

# Kubelet probe defaults chosen for a sidecar that answers from memory: a fast readiness period,
# a patient liveness, and a startup window of a minute for the first results of slow checks.
PROBE_DEFAULTS: dict[str, dict[str, int]] = {
    "readiness": {"periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 1},
    "liveness": {"periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 1},
    "startup": {"periodSeconds": 2, "failureThreshold": 30, "timeoutSeconds": 1},
}
PROBE_PATHS = wire.PROBE_PATHS
DEFAULT_RESOURCES = constants.DEFAULT_RESOURCES  # the settings' default, documented in the CRD


def _quantities(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"


def _resources_text() -> str:
    """``requests cpu 10m, memory 64Mi; limits memory 160Mi``, from DEFAULT_RESOURCES."""
    return "; ".join(
        f"{kind} " + ", ".join(f"{k} {v}" for k, v in values.items())
        for kind, values in DEFAULT_RESOURCES.items()
    )


def _int(description: str, minimum: int, maximum: int, default: int | None = None) -> Schema:
    out: Schema = {
        "type": "integer",
        "description": description,
        "minimum": minimum,
        "maximum": maximum,
    }
    if default is not None:
        out["default"] = default
    return out


def _string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _expression() -> Schema:
    return {
        "type": "object",
        "required": ["key", "operator"],
        "properties": {
            "key": _string("Label key.", maxLength=LABEL_KEY_MAX_LENGTH, pattern=LABEL_KEY_PATTERN),
            "operator": _string(
                "Relation of the key to the values.",
                enum=["In", "NotIn", "Exists", "DoesNotExist"],
            ),
            "values": {
                "type": "array",
                "description": "Values for In and NotIn; empty for Exists and DoesNotExist.",
                "maxItems": 256,
                "items": _string("Label value.", maxLength=63, pattern=LABEL_VALUE_PATTERN),
            },
        },
        "x-kubernetes-validations": [
            {
                "rule": "(self.operator in ['In', 'NotIn']) == (has(self.values) && "
                "size(self.values) > 0)",
                "message": "values must be non-empty for In and NotIn, and empty otherwise",
            }
        ],
    }


def label_selector() -> Schema:
    return {
        "type": "object",
        "description": "Label selector of the pods this gate guards (in its own namespace).",
        "properties": {
            "matchLabels": {
                "type": "object",
                "description": "Labels a pod must have, all of them.",
                "maxProperties": 64,
                "additionalProperties": _string(
                    "Label value.", maxLength=63, pattern=LABEL_VALUE_PATTERN
                ),
            },
            "matchExpressions": {
                "type": "array",
                "description": "Set-based requirements, all of them.",
                "maxItems": 64,
                "items": _expression(),
            },
        },
        "x-kubernetes-validations": [
            {
                "rule": "(has(self.matchLabels) && size(self.matchLabels) > 0) || "
                "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
                "message": "selector must not be empty: it would select every pod in the namespace",
            },
            {
                "rule": "!has(self.matchLabels) || self.matchLabels.all(k, "
                f"size(k) <= {LABEL_KEY_MAX_LENGTH} && k.matches('{LABEL_KEY_PATTERN}'))",
                "message": "matchLabels keys must be valid label keys ([prefix/]name)",
                "fieldPath": ".matchLabels",
                "reason": "FieldValueInvalid",
            },
        ],
    }


def probe(kind: str) -> Schema:
    defaults = PROBE_DEFAULTS[kind]
    # The kubelet only accepts successThreshold 1 for liveness and startup probes.
    max_success = 100 if kind == "readiness" else 1
    return {
        "type": "object",
        "description": f"Kubelet {kind} probe of the sidecar ({PROBE_PATHS[kind]}).",
        "default": {},
        "properties": {
            "periodSeconds": _int("Seconds between probes.", 1, 3600, defaults["periodSeconds"]),
            "failureThreshold": _int(
                "Consecutive failures before the probe fails.",
                1,
                1000,
                defaults["failureThreshold"],
            ),
            "successThreshold": _int(
                "Consecutive successes before the probe passes again (1 except for readiness).",
                1,
                max_success,
                1,
            ),
            "timeoutSeconds": _int(
                "Seconds the kubelet waits for an answer.", 1, 3600, defaults["timeoutSeconds"]
            ),
            "initialDelaySeconds": _int("Seconds before the first probe.", 0, 3600, 0),
        },
    }


def probes() -> Schema:
    return {
        "type": "object",
        "description": "Kubelet probe settings of the injected sidecar container; the pod's "
        "Ready condition follows the sidecar's /readyz, i.e. its critical dependencies.",
        "default": {},
        "properties": {kind: probe(kind) for kind in PROBE_DEFAULTS},
    }


def quantity_map(description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
            r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        },
    }


def sidecar(contract_settings: dict[str, Schema]) -> Schema:
    """The sidecar container; ``contract_settings`` are the contract's sidecar-wide fields."""
    properties: dict[str, Schema] = {
        "image": _string(
            "Sidecar image; the operator's --sidecar-image when unset.", minLength=1, maxLength=512
        ),
        "port": _int(
            "Port of the sidecar's probe and metrics server (unprivileged; must not clash "
            f"with the app's ports); the operator's --sidecar-port ({constants.DEFAULT_PORT} "
            "unless changed) when unset.",
            1024,
            65535,
        ),
        "resources": {
            "type": "object",
            "description": "Compute resources of the sidecar container; the operator's "
            f"--sidecar-resources when unset (unless changed: {_resources_text()}).",
            "properties": {
                "requests": quantity_map(
                    f"Minimum resources, e.g. {_quantities(DEFAULT_RESOURCES['requests'])}."
                ),
                "limits": quantity_map(
                    f"Maximum resources, e.g. {_quantities(DEFAULT_RESOURCES['limits'])}."
                ),
            },
        },
        **contract_settings,
    }
    return {
        "type": "object",
        "description": "The injected sidecar container and its process-wide settings.",
        "default": {},
        "properties": properties,
    }


def rollout() -> Schema:
    return {
        "type": "object",
        "description": "What the operator does to pods that run an outdated injection.",
        "default": {},
        "properties": {
            "restartOnChange": {
                "type": "boolean",
                "default": False,
                "description": "Restart the owning Deployments and StatefulSets (like kubectl "
                "rollout restart) when their pods lack the sidecar or run an outdated "
                "injection (image, port, probes, secret references). Config-only changes "
                "reach running sidecars through the ConfigMap without restarts.",
            }
        },
    }


def shared_outage() -> Schema:
    """``spec.sharedOutage``: see :mod:`healthgate_operator.builders.shared_outage`.

    Only ``policy`` has a schema default: the other fields apply to FailOpen alone, and the CEL
    rule refuses them under FailClosed, where they would silently mean nothing. The operator
    applies their documented defaults.
    """
    base = shared_outage_rule.Policy()
    tuning = ("thresholdPercent", "minPods", "entryRefreshes", "exitRefreshes")
    return {
        "type": "object",
        "description": "What a critical dependency failing in most pods at once (a shared "
        "outage) does to readiness. FailOpen keeps the pods Ready as far as that dependency is "
        "concerned while the gate reports it; a failure in fewer pods drains only those pods.",
        "default": {},
        "properties": {
            "policy": _string(
                "FailOpen (default): a shared outage keeps pods Ready; FailClosed: every "
                "failing pod leaves its Service, as without this guard.",
                enum=["FailOpen", "FailClosed"],
                default="FailOpen",
            ),
            "thresholdPercent": _int(
                "Share of the reporting pods in which the dependency must fail "
                f"(default {base.threshold_percent}).",
                1,
                100,
            ),
            "minPods": _int(
                f"Failing pods needed at least (default {base.min_pods}).",
                1,
                10000,
            ),
            "entryRefreshes": _int(
                "Status refreshes in a row the rule must hold before the shared outage "
                f"begins (default {base.entry_refreshes}).",
                1,
                100,
            ),
            "exitRefreshes": _int(
                "Status refreshes in a row the rule must not hold before it ends "
                f"(default {base.exit_refreshes}).",
                1,
                100,
            ),
        },
        "x-kubernetes-validations": [
            {
                "rule": "self.policy == 'FailOpen' || !("
                + " || ".join(f"has(self.{f})" for f in tuning)
                + ")",
                "message": "thresholdPercent, minPods, entryRefreshes and exitRefreshes apply "
                "to policy FailOpen only",
            }
        ],
    }
