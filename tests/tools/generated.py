"""The command line every generator in ``tests/tools`` shares: write the file, or ``--check``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def main(
    argv: Sequence[str] | None, *, target: Path, generate: Callable[[], str], module: str
) -> int:
    """Write ``generate()`` to ``target``; with ``--check``, exit 1 (naming the fix) if stale."""
    parser = argparse.ArgumentParser(description=f"Regenerate {target.name}.")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    fresh = generate()
    if args.check:
        if target.read_text() != fresh:
            print(f"{target} is stale: run python -m {module}", file=sys.stderr)
            return 1
        return 0
    target.write_text(fresh)
    return 0
