"""HealthGate operator: reconciles HealthGate resources, injects the sidecar, aggregates status."""

__version__ = "0.1.0"
