"""What the operator loads at start: its memory with no gate is paid by every install."""

from __future__ import annotations

import subprocess
import sys

# The operator's entry modules, imported as the image's entry point does (without the optional
# kubernetes_asyncio, which the image lacks).
START = """
import sys
sys.modules["kubernetes_asyncio"] = None
from healthgate_operator import cli, wiring
print(",".join(sorted(m for m in sys.modules if m.startswith("healthgate_sidecar"))))
"""


def loaded_at_start() -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", START], capture_output=True, text=True, check=True, timeout=60
    )
    return set(proc.stdout.strip().split(","))


def test_operator_starts_with_only_the_wire_constants_of_the_sidecar() -> None:
    # The contract (pydantic models of every check type, ~2.5 MiB) loads with the first spec
    # rendered; what operator and sidecar say at run time is all the operator needs before.
    assert loaded_at_start() == {
        "healthgate_sidecar",
        "healthgate_sidecar.directive_format",
        "healthgate_sidecar.wire",
    }


def test_rendering_a_spec_loads_the_contract() -> None:
    code = START.replace(
        "print(",
        "from healthgate_operator.builders import config\n"
        "config.render_config({'dependencies': [{'name': 'a', 'type': 'env', "
        "'env': {'names': ['HOME']}}]})\nprint(",
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "healthgate_sidecar.contract" in proc.stdout.split(",")
