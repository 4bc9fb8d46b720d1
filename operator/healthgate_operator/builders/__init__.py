"""Pure functions that render manifests and statuses; no I/O, unit-tested without a cluster."""
