"""The records a serving sidecar runs on answer every read the pydantic models answer, alike."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bench import sidecar_memory
from healthgate_sidecar import contract, records
from healthgate_sidecar.checks.base import file_sources
from tests.env import common

NESTED = [
    {"name": "api", "type": "http", "http": {
        "url": "https://example.test/health", "caFile": "/etc/ca.pem",
        "headers": [{"name": "X-Key", "valueFile": "/var/run/key"}],
        "assertions": [{"jsonPath": "$.status", "equals": "up"}], "expectedStatus": [200, 204]}},
    {"name": "rpc", "type": "grpc", "grpc": {
        "host": "h", "port": 1, "metadata": [{"name": "x-token", "valueFromEnv": "TOKEN"}]}},
    {"name": "bus", "type": "kafka", "kafka": {
        "bootstrapServers": ["h:9092"], "sasl": {"username": "u", "passwordFile": "/pw"}}},
]  # fmt: skip
KEY = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> contract.SidecarConfig:
    monkeypatch.setattr(common, "free_port", lambda *_: 9)
    every = sidecar_memory.every_type("redis://127.0.0.1:6379", "http://127.0.0.1:8080")
    deps = [*every, *({**dep, "name": f"{dep['name']}-nested"} for dep in NESTED)]
    directives = {"gate": "uid", "publicKeys": [KEY[-44:]]}
    return contract.parse_config({"dependencies": deps, "authTokenFile": "/t", "jitter": 0.2,
                                  "directives": directives})  # fmt: skip


def same(model: Any, record: Any, path: str) -> None:
    if isinstance(model, BaseModel):
        assert isinstance(record, records.Record), path
        for name in type(model).model_fields:
            same(getattr(model, name), getattr(record, name), f"{path}.{name}")
    elif isinstance(model, list):
        assert isinstance(record, list), path
        assert len(model) == len(record), path
        for index, (left, right) in enumerate(zip(model, record, strict=True)):
            same(left, right, f"{path}[{index}]")
    else:
        assert model == record, path
        # A float field's int default (10) is dumped as 10.0: equal, and float is its type.
        numbers = {type(model), type(record)} <= {int, float}
        assert numbers or type(model) is type(record), path


def test_every_field_of_every_type_reads_the_same(config: contract.SidecarConfig) -> None:
    built = records.config(config.model_dump(mode="json"))
    same(config, built, "config")
    for dep, rec in zip(config.dependencies, built.dependencies, strict=True):
        same(dep.params, rec.params, dep.name)
        assert file_sources(dep.params) == file_sources(rec.params), dep.name
    assert "/var/run/key" in file_sources(built.dependencies[-3].params)


def test_records_compare_by_value_as_frozen_models_do(config: contract.SidecarConfig) -> None:
    data = config.model_dump(mode="json")
    one, two = records.config(data), records.config(data)
    assert one == two
    assert hash(one.dependencies[0]) == hash(two.dependencies[0])
    data["dependencies"][0]["interval_seconds"] = 5
    assert records.config(data).dependencies[0] != one.dependencies[0]
    assert one.dependencies[1] == two.dependencies[1]
    with pytest.raises(AttributeError):
        one.jitter = 0.5  # type: ignore[misc]
