"""The status schema of a HealthGate and the columns ``kubectl get hg`` prints from it."""

from __future__ import annotations

from healthgate_operator.crd.structural import Schema

GATE_STATUSES = ["Healthy", "Degraded", "Unhealthy", "Unknown"]
CONDITION_TYPES = ["Ready", "Degraded", "Reconciled", "SharedOutage"]


def _count(description: str) -> Schema:
    return {"type": "integer", "minimum": 0, "description": description}


def condition() -> Schema:
    return {
        "type": "object",
        "required": ["type", "status", "lastTransitionTime"],
        "properties": {
            "type": {"type": "string", "description": f"One of {', '.join(CONDITION_TYPES)}."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string", "description": "CamelCase reason for the status."},
            "message": {"type": "string", "description": "Human-readable details."},
            "lastTransitionTime": {
                "type": "string",
                "format": "date-time",
                "description": "When status last changed (not when it was last written).",
            },
            "observedGeneration": {
                "type": "integer",
                "description": "metadata.generation the condition was computed for.",
            },
        },
    }


def _dependency_counts() -> Schema:
    return {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "healthy": _count("Injected pods reporting this dependency healthy."),
            "degraded": _count("Injected pods reporting it degraded."),
            "unhealthy": _count("Injected pods reporting it unhealthy."),
            "unknown": _count("Injected pods without a result for it (or unreachable)."),
        },
    }


def _conflict() -> Schema:
    return {
        "type": "object",
        "required": ["gate"],
        "properties": {
            "gate": {"type": "string", "description": "The other HealthGate."},
            "pods": _count("Pods selected by both gates."),
            "winner": {"type": "string", "description": "The gate that injects those pods."},
        },
    }


def _pods() -> Schema:
    return {
        "type": "object",
        "properties": {
            "total": _count("Pods selected by this gate."),
            "injected": _count("Pods running this gate's sidecar."),
            "ready": _count("Pods whose Ready condition is True."),
            "notInjected": _count(
                "Selected pods without this gate's sidecar (created before the gate, or opted out)."
            ),
        },
    }


def status() -> Schema:
    return {
        "type": "object",
        "description": "Observed state, written by the operator.",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "status": {"type": "string", "enum": GATE_STATUSES},
            "ready": {"type": "string", "description": "Ready pods / selected pods, e.g. 2/3."},
            "unhealthy": {
                "type": "string",
                "description": "Comma-separated names of dependencies unhealthy in some pod.",
            },
            "sharedOutage": {
                "type": "array",
                "description": "Critical dependencies in a shared outage (unhealthy in most "
                "pods): the pods fail open on them; see the SharedOutage condition.",
                "items": {"type": "string"},
            },
            "configMap": {"type": "string", "description": "The rendered sidecar config."},
            "injectionHash": {
                "type": "string",
                "description": "Fingerprint of the pod-level injection (env, probes, image).",
            },
            "pods": _pods(),
            "dependencies": {
                "type": "array",
                "description": "Per dependency, how many injected pods report each status.",
                "items": _dependency_counts(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "conflicts": {
                "type": "array",
                "description": "Other gates selecting some of the same pods; the alphabetically "
                "first gate injects them.",
                "items": _conflict(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["gate"],
            },
            "conditions": {
                "type": "array",
                "items": condition(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def printer_columns() -> list[dict[str, str]]:
    return [
        {"name": "Status", "type": "string", "jsonPath": ".status.status"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
        {"name": "Unhealthy", "type": "string", "jsonPath": ".status.unhealthy"},
        {"name": "Not-Injected", "type": "integer", "jsonPath": ".status.pods.notInjected"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
