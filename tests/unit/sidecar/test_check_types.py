"""Each check type declared once: the registry, the contract and the secret declarations agree."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest
from pydantic import Field

from bench import sidecar_memory
from healthgate_sidecar import checks, contract, params
from healthgate_sidecar.checks.base import CheckType
from tests.env import common


def test_every_type_module_is_registered() -> None:
    modules = {
        m.name
        for m in pkgutil.iter_modules(checks.__path__)
        if not m.name.startswith("_") and m.name not in checks.HELPERS
    }
    assert modules == set(checks.TYPES)
    for name, declared in checks.registry().items():
        assert isinstance(declared, CheckType)
        assert declared.name == name


def test_the_contract_derives_its_types_and_blocks_from_the_registry() -> None:
    assert contract.DEPENDENCY_TYPES == checks.TYPES
    fields = contract.Dependency.model_fields
    for name, declared in checks.registry().items():
        assert fields[name].alias == name
        assert fields[name].annotation == declared.params | None
        assert fields[name].description == declared.description


def test_importing_the_contract_loads_no_driver() -> None:
    """Every type module loads with the contract: none may import a third-party package at once.

    Generic on purpose: a new type's driver is caught without listing it here.
    """
    code = """
import sys
import aiohttp, prometheus_client, yaml  # what the sidecar loads anyway
from healthgate_sidecar import params  # pydantic and the building blocks of the models
before = {name.split(".")[0] for name in sys.modules}
import healthgate_sidecar.contract
after = {name.split(".")[0] for name in sys.modules}
stdlib = sys.stdlib_module_names
print(",".join(sorted(n for n in after - before if n not in stdlib and n != "healthgate_sidecar")))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""


def test_a_secret_declaration_must_match_the_fields() -> None:
    with pytest.raises(TypeError, match="secret_fields"):

        class Undeclared(params.Model):  # a token_from_env field, but no declaration
            token_from_env: str | None = params.env_field("Variable holding the token.")
            token_file: str | None = params.file_field("File holding the token.")

    with pytest.raises(TypeError, match="each with its _file field"):

        class NoFileField(params.Model):
            secret_fields = (params.Secret("token"),)
            token_from_env: str | None = params.env_field("Variable holding the token.")


class Declared(params.Model):
    secret_fields = (params.Secret("url", required=True), params.Secret("token"))
    url: str | None = Field(None, description="Inline URL.")
    url_from_env: str | None = params.env_field("Variable holding the URL.")
    url_file: str | None = params.file_field("File holding the URL.")
    token_from_env: str | None = params.env_field("Variable holding the token.")
    token_file: str | None = params.file_field("File holding the token.")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "one of url, urlFromEnv, urlFile is required"),
        ({"url": "u", "urlFile": "/f"}, "only one of url, urlFromEnv, urlFile may be set"),
        ({"url": "u", "tokenFromEnv": "T", "tokenFile": "/f"}, "only one of tokenFromEnv"),
    ],
)
def test_declared_secrets_are_validated(data: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Declared.model_validate(data)
    assert Declared.model_validate({"urlFromEnv": "U"}).url_from_env == "U"


def test_the_memory_bench_measures_every_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15's cost rule: `make bench` prints RSS with every type, and each catalog type alone.

    A type added to the registry but not to ``bench.sidecar_memory`` would quietly drop out of
    the "every type" figure.
    """
    monkeypatch.setattr(common, "free_port", lambda *_: 9)  # no socket: the configs only
    every = sidecar_memory.every_type("redis://127.0.0.1:6379", "http://127.0.0.1:8080")
    assert {dep["type"] for dep in every} == set(checks.TYPES)
    contract.parse_config({"dependencies": every})  # each one a valid dependency
    alone = sidecar_memory.alone("http://127.0.0.1:8080")
    catalog = {"grpc", "mysql", "amqp", "smtp", "kafka", "oidc", "s3"}  # issue 15's new types
    assert catalog <= {dep["type"] for deps in alone.values() for dep in deps}
