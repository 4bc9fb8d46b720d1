"""``python -m healthgate_operator.crd``: print the generated HealthGate CRD as YAML."""

from __future__ import annotations

import sys

from healthgate_operator.crd import render_crd


def main() -> int:
    sys.stdout.write(render_crd())
    return 0


if __name__ == "__main__":
    sys.exit(main())
