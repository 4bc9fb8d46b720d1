"""Check types: a registry from type name to the module that implements it.

Each module has one factory ``create(params, *, timeout) -> Prober``. Modules are imported only
when a dependency of their type is configured, so unused drivers (neo4j, psycopg, dnspython,
grpcio, asyncmy, aiormq, aiosmtplib) are never loaded. Adding a type: one module here, one line
in :data:`REGISTRY`, one block in ``params.py`` (or ``catalog_params.py``).
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from healthgate_sidecar.checks.base import Prober
from healthgate_sidecar.contract import Dependency, Params

REGISTRY: dict[str, str] = {
    "redis": "healthgate_sidecar.checks.redis",
    "neo4j": "healthgate_sidecar.checks.neo4j",
    "postgres": "healthgate_sidecar.checks.postgres",
    "http": "healthgate_sidecar.checks.http",
    "llm": "healthgate_sidecar.checks.llm",
    "tcp": "healthgate_sidecar.checks.tcp",
    "dns": "healthgate_sidecar.checks.dns",
    "env": "healthgate_sidecar.checks.env",
    "mysql": "healthgate_sidecar.checks.mysql",
    "grpc": "healthgate_sidecar.checks.grpc",
    "amqp": "healthgate_sidecar.checks.amqp",
    "smtp": "healthgate_sidecar.checks.smtp",
}


class Factory(Protocol):
    def __call__(self, params: Params, /, *, timeout: float) -> Prober: ...


def factory_for(type_name: str) -> Factory:
    """The ``create`` function of a type's module, importing the module (and driver) now."""
    module = importlib.import_module(REGISTRY[type_name])
    return cast(Factory, module.create)


def create_prober(dep: Dependency) -> Prober:
    """Build the prober (and its client) of a dependency; may raise ``CheckFailure``."""
    return factory_for(dep.type)(dep.params, timeout=dep.timeout_seconds)
