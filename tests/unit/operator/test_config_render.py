"""builders.config: a gate spec becomes the contract's config plus Secret files or env vars."""

from __future__ import annotations

import copy
import gc
from typing import Any

import pydantic
import pytest
import yaml

from healthgate_operator.builders import config
from healthgate_sidecar import contract
from tests.unit.operator.conftest import SPEC


def test_secret_refs_become_projected_files_by_default() -> None:
    # Files, not env: the kubelet updates a projected Secret volume in a running pod.
    rendered = config.render_config(SPEC)
    data = yaml.safe_load(rendered.text)
    cache, graph = data["dependencies"][:2]
    assert cache["redis"]["urlFile"] == "/var/run/healthgate/secrets/HG_CACHE_URL"
    assert graph["neo4j"]["passwordFile"] == "/var/run/healthgate/secrets/HG_GRAPH_PASSWORD"
    assert "urlFrom" not in cache["redis"]
    assert "urlFromEnv" not in cache["redis"]
    assert rendered.env == []
    assert rendered.secret_sources == [
        {"secret": {"name": "redis-auth", "items": [{"key": "url", "path": "HG_CACHE_URL"}]}},
        {
            "secret": {
                "name": "neo4j-auth",
                "items": [{"key": "password", "path": "HG_GRAPH_PASSWORD"}],
            }
        },
    ]


def test_two_keys_of_one_secret_share_a_source() -> None:
    spec = copy.deepcopy(SPEC)
    ref = {"secretKeyRef": {"name": "redis-auth", "key": "password"}}
    spec["dependencies"][0]["redis"]["passwordFrom"] = ref
    [first, _] = config.render_config(spec).secret_sources
    assert [i["path"] for i in first["secret"]["items"]] == ["HG_CACHE_URL", "HG_CACHE_PASSWORD"]


def test_secrets_as_env_keeps_environment_variables() -> None:
    spec = copy.deepcopy(SPEC)
    spec["sidecar"]["secretsAs"] = "env"
    rendered = config.render_config(spec)
    assert rendered.secret_sources == []
    data = yaml.safe_load(rendered.text)
    cache = data["dependencies"][0]
    assert cache["redis"]["urlFromEnv"] == "HG_CACHE_URL"
    assert "urlFrom" not in cache["redis"]
    assert rendered.env == [
        {
            "name": "HG_CACHE_URL",
            "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}},
        },
        {
            "name": "HG_GRAPH_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "neo4j-auth", "key": "password"}},
        },
    ]


def test_rendered_config_is_what_the_contract_parses() -> None:
    rendered = config.render_config(SPEC)
    again = contract.parse_text(rendered.text)
    assert again == rendered.config


def reachable(root: object) -> list[object]:
    seen: set[int] = set()
    todo, found = [root], []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        found.append(obj)
        todo.extend(gc.get_referents(obj))
    return found


def test_a_kept_render_holds_no_pydantic_model() -> None:
    # Renders are kept per spec, two per gate: a validated model is ~6 KiB of it, text ~1 KiB.
    rendered = config.render_config(SPEC)
    assert not [o for o in reachable(rendered) if isinstance(o, pydantic.BaseModel)]
    assert rendered.config == contract.parse_text(rendered.text)  # still there when asked


@pytest.mark.parametrize(
    ("dependency", "path", "expected"),
    [
        ("cache", ["url"], "HG_CACHE_URL"),
        ("my-graph", ["password"], "HG_MY_GRAPH_PASSWORD"),
        ("llm", ["apiKey"], "HG_LLM_API_KEY"),
        ("api", ["headers", 0, "value"], "HG_API_HEADERS_0_VALUE"),
    ],
)
def test_env_names(dependency: str, path: list[str | int], expected: str) -> None:
    assert config.env_name(dependency, path) == expected


def test_header_values_from_secrets() -> None:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"a": "b"}},
        "dependencies": [
            {
                "name": "api",
                "type": "http",
                "http": {
                    "url": "https://api.example/health",
                    "headers": [
                        {"name": "X-Plain", "value": "1"},
                        {
                            "name": "Authorization",
                            "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}},
                        },
                    ],
                },
            }
        ],
    }
    rendered = config.render_config(spec)
    headers = rendered.config.dependencies[0].http.headers  # type: ignore[attr-defined]
    assert headers[1].value_file == "/var/run/healthgate/secrets/HG_API_HEADERS_1_VALUE"
    [source] = rendered.secret_sources
    assert source["secret"]["items"] == [{"key": "token", "path": "HG_API_HEADERS_1_VALUE"}]


def _ref(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def test_nested_secrets_of_the_service_types() -> None:
    kafka = {
        "bootstrapServers": ["kafka:9092"],
        "sasl": {"username": "app", "passwordFrom": _ref("kafka", "password")},
    }
    oidc = {
        "issuer": "https://id.example/",
        "clientCredentials": {"clientId": "app", "clientSecretFrom": _ref("idp", "secret")},
    }
    s3 = {
        "endpoint": "https://s3.example",
        "bucket": "media",
        "accessKeyId": "AK",
        "secretAccessKeyFrom": _ref("s3", "secret"),
        "sessionTokenFrom": _ref("s3", "token"),
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"a": "b"}},
        "dependencies": [
            {"name": "events", "type": "kafka", "kafka": kafka},
            {"name": "idp", "type": "oidc", "oidc": oidc},
            {"name": "media", "type": "s3", "s3": s3},
        ],
    }  # fmt: skip
    data = yaml.safe_load(config.render_config(spec).text)
    events, idp, media = (d[d["type"]] for d in data["dependencies"])
    secrets = "/var/run/healthgate/secrets"
    assert events["sasl"]["passwordFile"] == f"{secrets}/HG_EVENTS_SASL_PASSWORD"
    assert (
        idp["clientCredentials"]["clientSecretFile"]
        == f"{secrets}/HG_IDP_CLIENT_CREDENTIALS_CLIENT_SECRET"
    )
    assert media["secretAccessKeyFile"] == f"{secrets}/HG_MEDIA_SECRET_ACCESS_KEY"
    assert media["sessionTokenFile"] == f"{secrets}/HG_MEDIA_SESSION_TOKEN"
    assert media["accessKeyId"] == "AK"


def test_sidecar_settings_are_passed_container_settings_are_not() -> None:
    spec = copy.deepcopy(SPEC)
    spec["sidecar"].update({"logLevel": "debug", "image": "x:1"})
    data = yaml.safe_load(config.render_config(spec).text)
    assert data["logLevel"] == "debug"
    assert "image" not in data
    assert "port" not in data
    assert "resources" not in data


def test_hash_follows_the_text() -> None:
    first = config.render_config(SPEC)
    spec = copy.deepcopy(SPEC)
    spec["dependencies"][0]["intervalSeconds"] = 30
    assert config.render_config(SPEC).hash == first.hash
    assert config.render_config(spec).hash != first.hash


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda s: s["dependencies"][0].update(timeoutSeconds=20), "timeoutSeconds"),
        (lambda s: s["dependencies"][0].update(type="tcp"), "dependencies[0]"),
        (lambda s: s["dependencies"][1].update(name="cache"), "duplicate name"),
        (lambda s: s["dependencies"][0]["redis"].update(bogus=1), "unknown key"),
    ],
)
def test_invalid_specs_name_the_field(mutate: Any, fragment: str) -> None:
    spec = copy.deepcopy(SPEC)
    mutate(spec)
    with pytest.raises(config.InvalidSpec) as info:
        config.render_config(spec)
    assert any(fragment in problem for problem in info.value.problems)
