"""The catalog types' Secret references (passwordFrom, urlFrom, metadata valueFrom) in a gate."""

from __future__ import annotations

from typing import Any

import yaml

from healthgate_operator.builders import config


def ref(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


SPEC: dict[str, Any] = {
    "selector": {"matchLabels": {"app": "shop"}},
    "dependencies": [
        {"name": "db", "type": "mysql",
         "mysql": {"host": "db", "username": "app", "passwordFrom": ref("db", "password")}},
        {"name": "mq", "type": "amqp", "amqp": {"urlFrom": ref("mq", "url"), "queue": "jobs"}},
        {"name": "mail", "type": "smtp", "smtp": {"host": "mail", "port": 587, "tls": "starttls",
         "username": "app", "passwordFrom": ref("mail", "password")}},
        {"name": "temporal", "type": "grpc", "grpc": {"host": "temporal", "port": 7233,
         "metadata": [{"name": "authorization", "valueFrom": ref("temporal", "token")}]}},
    ],
}  # fmt: skip


def test_catalog_secrets_become_projected_files() -> None:
    rendered = config.render_config(SPEC)
    db, mq, mail, temporal = yaml.safe_load(rendered.text)["dependencies"]
    root = "/var/run/healthgate/secrets/"
    assert db["mysql"]["passwordFile"] == root + "HG_DB_PASSWORD"
    assert mq["amqp"]["urlFile"] == root + "HG_MQ_URL"
    assert mail["smtp"]["passwordFile"] == root + "HG_MAIL_PASSWORD"
    assert temporal["grpc"]["metadata"][0]["valueFile"] == root + "HG_TEMPORAL_METADATA_0_VALUE"
    keys = {i["key"] for s in rendered.secret_sources for i in s["secret"]["items"]}
    assert keys == {"password", "url", "token"}
    assert "passwordFrom" not in rendered.text  # the CRD-only field never reaches the sidecar
