"""Check types: each module ``checks/<name>.py`` declares one; :data:`TYPES` lists them.

Adding a type: one module ``checks/<name>.py`` holding

- its parameters model (a :class:`~healthgate_sidecar.params.Model`; secret-bearing fields
  declared as data in ``secret_fields``, see :mod:`healthgate_sidecar.params`),
- its factory ``create(params, *, timeout) -> Checker`` (see :mod:`.base`),
- ``CHECK_TYPE = CheckType(name=<name>, params=..., create=create, description=...)``;

its name appended to :data:`TYPES`, its test, and its row in README.md's table of types (then
regenerate the CRD and ``make docs``, see docs/design.md "Adding a check type"). Nothing else: the
contract's ``type`` values and blocks, this registry and the operator's CRD (with its Secret
references) derive from ``CHECK_TYPE``. Modules whose name starts with ``_`` and :mod:`.base` are
helpers, not types; a unit test fails when another module is missing from :data:`TYPES`.

Drivers load lazily: every type module is imported with the contract (the operator imports it
to generate the CRD), so a module imports its driver (redis, neo4j, psycopg, dnspython, ...)
only inside the functions that use it, never at module level; annotations name it under
``TYPE_CHECKING``. A sidecar therefore loads only the drivers of the types it has configured
(memory is multiplied by every pod): ``tests/unit/sidecar/test_checks_offline.py`` fails when
importing the contract loads any third-party package the sidecar does not already need. A
serving sidecar, which never imports the contract, imports only its configured types' modules
(:func:`declared`): the 15 together are ~0.9 MiB.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from healthgate_sidecar.checks.base import Checker, CheckType

if TYPE_CHECKING:
    from healthgate_sidecar.contract import Dependency

# The type names, each the name of its module. This order is the order of the contract's ``type``
# values, so of the CRD's enum and blocks and of the "Input should be ..." error: append new ones.
TYPES = (
    "redis", "neo4j", "postgres", "http", "llm", "tcp", "dns", "env", "mysql", "grpc", "amqp",
    "smtp", "oidc", "kafka", "s3",
)  # fmt: skip
HELPERS = frozenset({"base"})  # with the modules named _*: shared code, not types


@functools.cache
def declared(name: str) -> CheckType[Any]:
    """The declaration of type ``name``; imports its module the first time."""
    if name not in TYPES:
        raise KeyError(name)
    module = importlib.import_module(f"{__name__}.{name}")
    found = getattr(module, "CHECK_TYPE", None)
    if not isinstance(found, CheckType) or found.name != name:
        raise TypeError(f"{module.__name__} must declare CHECK_TYPE = CheckType(name={name!r}...)")
    return found


def registry() -> dict[str, CheckType[Any]]:
    """Type name -> its declaration, in the order of TYPES (imports every type's module)."""
    return {name: declared(name) for name in TYPES}


def create_checker(dep: Dependency) -> Checker:
    """Build the checker (and its client) of a dependency; may raise ``CheckFailure``."""
    return declared(dep.type).create(dep.params, timeout=dep.timeout_seconds)
