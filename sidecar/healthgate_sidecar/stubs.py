"""Stand-ins for the few pydantic names the check types' class bodies use, for a serving process.

The contract models live beside their checks (one file per type), so importing a check imports
its parameters model. Pydantic and the built models cost ~13 MiB of every pod's sidecar, yet a
serving sidecar never validates: the config it runs has been validated in a short-lived child
process (:mod:`validation`) and reaches it as canonical JSON, turned into :mod:`records`. So in
a process that called :func:`prefer` before importing any check, :mod:`params` takes these
names instead of pydantic's: the class bodies then run without building a validator, and the
classes only name the fields (mypy still checks everything against the real pydantic models).

Nothing here validates anything; ``tests/integration/sidecar/test_imports.py`` proves that a
serving sidecar never loads pydantic.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

_preferred = False


def prefer() -> None:
    """Use the stand-ins in this process, unless pydantic is loaded already (then it is free)."""
    global _preferred  # noqa: PLW0603 - one switch for the whole process, set once at start
    _preferred = True


def wanted() -> bool:
    """Whether :mod:`params` (imported now) should take these names instead of pydantic's."""
    return _preferred and "pydantic" not in sys.modules


class BaseModel:
    """A class that only names its fields: instances are :class:`records.Record`, never this."""


def Field(*_args: Any, **_kwargs: Any) -> Any:
    return None


def ConfigDict(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def AfterValidator(_function: Callable[..., Any]) -> Any:
    return None


def _unchanged(*_args: Any, **_kwargs: Any) -> Callable[[Any], Any]:
    return lambda function: function


field_validator = model_validator = _unchanged


def to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def PydanticCustomError(*_args: Any) -> Exception:
    raise RuntimeError("validation runs in the validation process, never in a serving one")
