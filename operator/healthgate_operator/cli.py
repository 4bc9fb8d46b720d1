"""Command line entry point (placeholder until the sidecar issue lands)."""


def main() -> int:
    return 0
