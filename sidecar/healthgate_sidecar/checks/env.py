"""env: variables that must be present and non-empty; only their names are ever reported."""

from __future__ import annotations

import os
from typing import Annotated

from healthgate_sidecar.checks.base import Checker, CheckFailure, CheckType, Details
from healthgate_sidecar.params import ENV_NAME_PATTERN, Field, Model

EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]


class EnvParams(Model):
    """Environment variables that must be present and non-empty (values are never shown)."""

    names: list[EnvName] = Field(
        min_length=1, description="Variable names, e.g. SMTP_HOST for an 'email configured' check."
    )


def create(params: EnvParams, *, timeout: float) -> Checker:
    names = list(params.names)

    async def check() -> Details:
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise CheckFailure("assertion", f"missing or empty: {', '.join(missing)}")
        return {"present": len(names)}

    return Checker(check=check)


CHECK_TYPE = CheckType(
    name="env", params=EnvParams, create=create, description="Settings of an env check."
)
