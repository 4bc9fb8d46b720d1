"""HealthGate sidecar: runs dependency checks in the background and answers probes from memory."""

__version__ = "0.1.0"
