"""Importing a driver without the optional extras it picks up when they happen to be installed.

Some drivers import heavy packages "if available" for features a health check never calls:
neo4j loads numpy, pandas and pyarrow for ``Result.to_df()``. numpy alone added 47 MiB to the
sidecar's RSS wherever it was installed (a dev environment, a data-science base image), for
nothing. :func:`without` makes those imports fail, for the duration of the driver's import only,
so the driver takes its documented fallback (the feature is off) and nothing else changes.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def without(*names: str) -> Iterator[None]:
    """While the block runs, ``import name`` raises ImportError for each name not yet imported.

    A package already imported by someone else is left alone: blocking it could not save
    memory, and its users keep working.
    """
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # Python's documented import block
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
