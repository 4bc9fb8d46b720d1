"""The grpc, mysql, amqp and smtp parameter blocks: defaults and the errors they name."""

from __future__ import annotations

from typing import Any

import pytest

from healthgate_sidecar import contract
from healthgate_sidecar.checks import grpc, mysql, smtp


def problems(dep: dict[str, Any]) -> list[str]:
    with pytest.raises(contract.ConfigError) as caught:
        contract.parse_config({"dependencies": [dep]})
    return caught.value.problems


def test_defaults() -> None:
    config = contract.parse_config({"dependencies": [
        {"name": "db", "type": "mysql", "mysql": {"host": "db", "username": "app"}},
        {"name": "mail", "type": "smtp", "smtp": {"host": "mail"}},
        {"name": "api", "type": "grpc", "grpc": {"host": "api", "port": 7233}},
    ]})  # fmt: skip
    db, mail, api = (d.params for d in config.dependencies)
    assert isinstance(db, mysql.MysqlParams)
    assert (db.port, db.tls) == (3306, False)
    assert isinstance(mail, smtp.SmtpParams)
    assert (mail.port, mail.tls, mail.username) == (25, "none", None)
    assert isinstance(api, grpc.GrpcParams)
    assert (api.service, api.tls) == ("", False)


def test_smtp_username_and_password_go_together() -> None:
    alone = {"name": "mail", "type": "smtp", "smtp": {"host": "m", "username": "u"}}
    assert problems(alone) == [
        "dependencies[0].smtp.passwordFromEnv: a password is required with a username"
    ]
    orphan = {"name": "mail", "type": "smtp", "smtp": {"host": "m", "passwordFromEnv": "P"}}
    assert problems(orphan) == ["dependencies[0].smtp.username: required when a password is given"]


def test_grpc_binary_metadata_is_refused() -> None:
    metadata = [{"name": "x-bin", "value": "v"}]
    dep = {"name": "api", "type": "grpc", "grpc": {"host": "a", "port": 1, "metadata": metadata}}
    assert problems(dep) == [
        "dependencies[0].grpc.metadata[0].name: binary (-bin) metadata is not supported"
    ]


def test_amqp_needs_one_url_source() -> None:
    dep = {"name": "mq", "type": "amqp", "amqp": {"queue": "jobs"}}
    assert problems(dep) == [
        "dependencies[0].amqp.url: one of url, urlFromEnv, urlFile is required"
    ]
    scheme = {"name": "mq", "type": "amqp", "amqp": {"url": "http://mq/"}}
    assert problems(scheme)[0].startswith("dependencies[0].amqp.url: String should match")
