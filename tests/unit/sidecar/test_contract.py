"""The config contract: defaults, aliases, the JSON schema, and every invalid case (testdata)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from healthgate_sidecar import checks, contract, files
from healthgate_sidecar.checks.redis import RedisParams
from healthgate_sidecar.contract import ConfigError

INVALID = Path(__file__).parent / "testdata" / "invalid"

# file -> the problem line it must produce (a prefix of it), like blackbox_exporter's table.
EXPECTED: dict[str, str] = {
    "unknown-top-level-key.yaml": "dependancies: unknown key",
    "unknown-dependency-key.yaml": "dependencies[0].intervalSecs: unknown key",
    "unknown-type.yaml": "dependencies[0].type: Input should be 'redis'",
    "missing-name.yaml": "dependencies[0].name: Field required",
    "bad-name.yaml": "dependencies[0].name: String should match pattern",
    "duplicate-name.yaml": "dependencies[1].name: duplicate name 'cache'",
    "missing-type-block.yaml": "dependencies[0].redis: required for type redis",
    "block-of-another-type.yaml": "dependencies[0].http: not allowed for type redis",
    "timeout-above-interval.yaml": (
        "dependencies[0].timeoutSeconds: must not exceed intervalSeconds"
    ),
    "interval-too-small.yaml": "dependencies[0].intervalSeconds: Input should be greater than",
    "failure-threshold-zero.yaml": "dependencies[0].failureThreshold: Input should be greater",
    "critical-not-boolean.yaml": "dependencies[0].critical: Input should be a valid boolean",
    "degraded-latency-zero.yaml": "dependencies[0].degradedLatencyMs: Input should be greater",
    "redis-no-url.yaml": "dependencies[0].redis.url: one of url, urlFromEnv, urlFile is required",
    "redis-two-url-sources.yaml": "dependencies[0].redis.urlFromEnv: only one of url, urlFromEnv",
    "redis-bad-scheme.yaml": "dependencies[0].redis.url: String should match pattern",
    "redis-two-password-sources.yaml": (
        "dependencies[0].redis.passwordFile: only one of passwordFromEnv, passwordFile"
    ),
    "redis-bad-env-name.yaml": "dependencies[0].redis.urlFromEnv: String should match pattern",
    "neo4j-no-password.yaml": (
        "dependencies[0].neo4j.passwordFromEnv: one of passwordFromEnv, passwordFile is required"
    ),
    "neo4j-bad-uri.yaml": "dependencies[0].neo4j.uri: String should match pattern",
    "postgres-no-dsn.yaml": "dependencies[0].postgres.dsn: one of dsn, dsnFromEnv, dsnFile",
    "http-missing-url.yaml": "dependencies[1].http.url: Field required",
    "http-bad-method.yaml": "dependencies[0].http.method: Input should be 'GET'",
    "http-bad-status.yaml": "dependencies[0].http.expectedStatus[1]: Input should be less than",
    "http-bad-regex.yaml": "dependencies[0].http.bodyRegex: invalid regular expression",
    "http-header-two-sources.yaml": (
        "dependencies[0].http.headers[0].valueFromEnv: only one of value, valueFromEnv"
    ),
    "http-header-no-value.yaml": "dependencies[0].http.headers[0].value: one of value,",
    "llm-two-key-sources.yaml": "dependencies[0].llm.apiKeyFile: only one of apiKeyFromEnv",
    "llm-inline-key.yaml": "dependencies[0].llm.apiKey: unknown key",
    "tcp-bad-port.yaml": "dependencies[0].tcp.port: Input should be less than or equal to 65535",
    "dns-bad-record-type.yaml": "dependencies[0].dns.recordType: Input should be 'A'",
    "dns-bad-nameserver.yaml": "dependencies[0].dns.nameservers[0]: not an IP address",
    "env-no-names.yaml": "dependencies[0].env.names: List should have at least 1 item",
    "env-bad-name.yaml": "dependencies[0].env.names[1]: String should match pattern",
    "kafka-bad-bootstrap.yaml": "dependencies[0].kafka.bootstrapServers[1]: String should match",
    "kafka-sasl-no-password.yaml": (
        "dependencies[0].kafka.sasl.passwordFromEnv: one of passwordFromEnv, passwordFile is"
    ),
    "oidc-bad-issuer.yaml": "dependencies[0].oidc.issuer: String should match pattern",
    "oidc-client-no-secret.yaml": (
        "dependencies[0].oidc.clientCredentials.clientSecretFromEnv: one of clientSecretFromEnv,"
    ),
    "s3-no-secret-key.yaml": (
        "dependencies[0].s3.secretAccessKeyFromEnv: one of secretAccessKeyFromEnv, secretAccess"
    ),
    "s3-bad-bucket.yaml": "dependencies[0].s3.bucket: String should match pattern",
    "drain-too-long.yaml": "drainSeconds: Input should be less than or equal to 30",
    "bad-log-format.yaml": "logFormat: Input should be 'text' or 'json'",
    "jitter-too-big.yaml": "jitter: Input should be less than or equal to 0.5",
    "dependencies-not-a-list.yaml": "dependencies: Input should be a valid list",
    "not-a-mapping.yaml": "<root>: expected a mapping, got list",
    "not-yaml.yaml": "<file>: not valid YAML or JSON",
    "unknown-key.json": "dependencies[0].env.values: unknown key",
}


def test_every_testdata_file_has_an_expectation() -> None:
    assert sorted(p.name for p in INVALID.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_config(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        contract.load_config(INVALID / name)
    problems = caught.value.problems
    assert any(p.startswith(EXPECTED[name]) for p in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    data = {
        "drainSeconds": -1,
        "dependencies": [
            {"name": "a", "type": "env", "env": {"names": ["A"]}, "bogus": 1},
            {"name": "b", "type": "http", "http": {"url": "ftp://x"}},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        contract.parse_config(data)
    paths = sorted(p.split(":")[0] for p in caught.value.problems)
    assert paths == ["dependencies[0].bogus", "dependencies[1].http.url", "drainSeconds"]


def test_problems_never_echo_values() -> None:
    data = {
        "dependencies": [
            {"name": "Bad", "type": "redis", "redis": {"url": "redis://:s3cr3t-canary@h"}}
        ]
    }
    with pytest.raises(ConfigError) as caught:
        contract.parse_config(data)
    assert "s3cr3t-canary" not in str(caught.value)


def test_yaml_syntax_error_does_not_quote_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        contract.parse_text('dependencies: [{name: x, dsn: "postgresql://u:pw-canary@h/db"\n')
    assert "pw-canary" not in str(caught.value)


def test_timeout_may_equal_the_interval() -> None:
    # As Prometheus accepts scrape_timeout == scrape_interval.
    dep = {"name": "c", "type": "redis", "redis": {"url": "redis://c:6379"}}
    config = contract.parse_config(
        {"dependencies": [{**dep, "intervalSeconds": 1, "timeoutSeconds": 1}]}
    )
    assert config.dependencies[0].timeout_seconds == 1


def test_defaults_and_camel_case() -> None:
    config = contract.parse_config(
        {"dependencies": [{"name": "cache", "type": "redis", "redis": {"url": "redis://c:6379"}}]}
    )
    dep = config.dependencies[0]
    assert (dep.critical, dep.required_for_startup) == (True, False)
    assert (dep.interval_seconds, dep.timeout_seconds) == (10, 2)
    assert (dep.failure_threshold, dep.success_threshold, dep.degraded_latency_ms) == (3, 1, None)
    assert isinstance(dep.params, RedisParams)
    assert dep.params.write_check is False
    assert (config.drain_seconds, config.log_format, config.jitter) == (5, "text", 0.1)
    dumped = config.model_dump(by_alias=True, exclude_none=True)
    assert dumped["dependencies"][0]["intervalSeconds"] == 10
    assert "requiredForStartup" in dumped["dependencies"][0]


def test_json_and_yaml_are_both_accepted(tmp_path: Path) -> None:
    data = {"dependencies": [{"name": "home", "type": "env", "env": {"names": ["HOME"]}}]}
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.yaml").write_text(
        "dependencies:\n- {name: home, type: env, env: {names: [HOME]}}\n"
    )
    assert contract.load_config(tmp_path / "c.json") == contract.load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n", "---\n"])
def test_empty_or_comment_only_file_is_rejected(tmp_path: Path, text: str) -> None:
    # A truncate-then-write editor produces this: it must not mean "nothing to check".
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        contract.load_config(tmp_path / "c.yaml")
    assert caught.value.problems == [contract.EMPTY_PROBLEM]


def test_explicit_empty_dependency_list_is_valid(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("dependencies: []\n")
    assert contract.load_config(tmp_path / "c.yaml").dependencies == []


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "too big"])
def test_config_must_be_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "c.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # reading it the naive way would block forever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # never ends
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_text("# " + "x" * files.CONFIG_LIMIT + "\ndependencies: []\n")
    with pytest.raises(ConfigError) as caught:
        contract.load_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"<file>: cannot read {path}")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        contract.load_config(tmp_path / "nope.yaml")
    assert caught.value.problems[0].startswith("<file>: cannot read")


def test_registry_covers_exactly_the_contract_types() -> None:
    assert set(checks.registry()) == set(contract.DEPENDENCY_TYPES)


def test_schema_documents_every_field() -> None:
    """Descriptions become `kubectl explain` text: every property of every model needs one."""
    schema = contract.json_schema()
    models = [schema, *schema["$defs"].values()]
    undocumented = [
        f"{model.get('title')}.{name}"
        for model in models
        for name, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []
    dependency = schema["$defs"]["Dependency"]["properties"]
    assert dependency["type"]["enum"] == list(contract.DEPENDENCY_TYPES)
    assert dependency["failureThreshold"]["minimum"] == 1
    assert schema["$defs"]["Dependency"]["additionalProperties"] is False
    assert "urlFromEnv" in schema["$defs"]["RedisParams"]["properties"]


def test_secret_fields_follow_the_naming_rule() -> None:
    """A secret `x` has `xFromEnv` and `xFile`: the operator maps secretKeyRef by that rule."""
    defs = contract.json_schema()["$defs"]
    expected = {
        "RedisParams": ["url", "password"],
        "Neo4jParams": ["password"],
        "PostgresParams": ["dsn"],
        "HttpHeader": ["value"],
        "LlmParams": ["apiKey"],
        "MysqlParams": ["password"],
        "GrpcMetadata": ["value"],
        "AmqpParams": ["url"],
        "SmtpParams": ["password"],
    }
    for model, secrets in expected.items():
        props = defs[model]["properties"]
        for secret in secrets:
            assert f"{secret}FromEnv" in props, (model, secret)
            assert f"{secret}File" in props, (model, secret)


def test_auth_token_file_description_says_what_happens_without_it() -> None:
    # It used to claim the opposite ("without it /health shows statuses only").
    text = contract.json_schema()["properties"]["authTokenFile"]["description"]
    assert "statuses only" not in text
    assert "when unset, every client gets full details" in text


def test_secrets_as_defaults_to_files() -> None:
    assert contract.parse_config({"dependencies": []}).secrets_as == "file"
