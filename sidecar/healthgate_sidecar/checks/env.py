"""env: variables that must be present and non-empty; only their names are ever reported."""

from __future__ import annotations

import os

from healthgate_sidecar.checks.base import CheckFailure, Details, Prober
from healthgate_sidecar.contract import EnvParams


def create(params: EnvParams, *, timeout: float) -> Prober:
    names = list(params.names)

    async def check() -> Details:
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise CheckFailure("assertion", f"missing or empty: {', '.join(missing)}")
        return {"present": len(names)}

    return Prober(check=check)
