"""The CRD in the real API server: explain, valid gates, and a table of invalid ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.operator import objects
from tests.integration.operator.conftest import Kube

pytestmark = pytest.mark.integration
Json = dict[str, Any]


def test_explain_teaches_the_api(k8s: Kube) -> None:
    out = k8s.run("explain", "healthgate.spec.dependencies")
    assert "Dependencies to check" in out
    assert "timeoutSeconds" in out
    assert "requiredForStartup" in out
    redis = k8s.run("explain", "healthgate.spec.dependencies.redis.urlFrom")
    assert "never reads the value" in redis
    probes = k8s.run("explain", "healthgate.spec.probes.readiness")
    assert "periodSeconds" in probes


def test_short_name_and_columns(k8s: Kube, namespace: str) -> None:
    k8s.apply(objects.gate("columns", namespace))
    out = k8s.run("get", "hg", "-n", namespace)
    header = ["NAME", "STATUS", "READY", "UNHEALTHY", "NOT-INJECTED", "AGE"]
    assert out.split("\n")[0].split() == header


ALL_TYPES: list[Json] = [
    objects.REDIS_DEP,
    {
        "name": "graph",
        "type": "neo4j",
        "neo4j": {
            "uri": "bolt://neo4j:7687",
            "passwordFrom": {"secretKeyRef": {"name": "neo4j-auth", "key": "password"}},
        },
    },
    {"name": "db", "type": "postgres", "postgres": {"dsn": "postgresql://app@db/app"}},
    {
        "name": "site",
        "type": "http",
        "critical": False,
        "http": {
            "url": "https://example.org/health",
            "expectedStatus": [200, 204],
            "headers": [
                {"name": "X-Trace", "value": "1"},
                {
                    "name": "Authorization",
                    "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}},
                },
            ],
        },
    },
    {
        "name": "llm",
        "type": "llm",
        "llm": {
            "baseUrl": "https://openrouter.ai/api/v1",
            "apiKeyFrom": {"secretKeyRef": {"name": "llm", "key": "key"}},
        },
    },
    {
        "name": "status",
        "type": "http",
        "http": {
            "url": "https://example.org/actuator/health",
            "maxBodyBytes": 65536,
            "assertions": [
                {"jsonPath": "$.status", "equals": "UP"},
                {"jsonPath": "$.components.*.status", "regex": "^UP$"},
            ],
        },
    },
    {
        "name": "mysql",
        "type": "mysql",
        "mysql": {
            "host": "db",
            "username": "app",
            "passwordFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
        },
    },
    {
        "name": "temporal",
        "type": "grpc",
        "grpc": {
            "host": "temporal",
            "port": 7233,
            "metadata": [
                {
                    "name": "authorization",
                    "valueFrom": {"secretKeyRef": {"name": "temporal", "key": "token"}},
                }
            ],
        },
    },
    {
        "name": "mq",
        "type": "amqp",
        "amqp": {"urlFrom": {"secretKeyRef": {"name": "mq", "key": "url"}}, "queue": "jobs"},
    },
    {
        "name": "mail",
        "type": "smtp",
        "smtp": {
            "host": "mail",
            "port": 587,
            "tls": "starttls",
            "username": "app",
            "passwordFrom": {"secretKeyRef": {"name": "mail", "key": "password"}},
        },
    },
    {"name": "port", "type": "tcp", "tcp": {"host": "db", "port": 5432, "tls": True}},
    {"name": "name", "type": "dns", "dns": {"name": "example.org", "recordType": "AAAA"}},
    {"name": "email", "type": "env", "env": {"names": ["SMTP_HOST"]}},
    # A timeout equal to the interval is allowed, as in Prometheus.
    {
        "name": "env-equal",
        "type": "env",
        "intervalSeconds": 3,
        "timeoutSeconds": 3,
        "env": {"names": ["A"]},
    },
]


def test_valid_gates_are_accepted(k8s: Kube, namespace: str) -> None:
    k8s.apply(objects.gate("every-type", namespace, ALL_TYPES))
    body = k8s.get("hg", "every-type", namespace)
    assert body is not None
    deps = body["spec"]["dependencies"]
    assert deps[0]["intervalSeconds"] == 1
    assert deps[2]["failureThreshold"] == 3
    assert body["spec"]["probes"]["startup"]["failureThreshold"] == 30
    # No port default in the schema: an unset port is the operator's --sidecar-port.
    assert "port" not in body["spec"]["sidecar"]
    assert body["spec"]["sidecar"]["drainSeconds"] == 5  # other sidecar defaults still apply
    assert body["spec"]["sharedOutage"] == {"policy": "FailOpen"}  # the tuning: operator defaults


def dep(**changes: Any) -> Json:
    out = copy.deepcopy(objects.REDIS_DEP)
    out.update(changes)
    return out


# (case id, spec changes applied to a valid gate, fragments the error must contain)
INVALID: list[tuple[str, Any, list[str]]] = [
    ("no-block", lambda s: s["dependencies"][0].pop("redis"),
     ["dependencies[0].redis", "required"]),
    ("wrong-block", lambda s: s["dependencies"][0].update(tcp={"host": "x", "port": 1}),
     ["dependencies[0].tcp", "not allowed"]),
    ("bad-type", lambda s: s["dependencies"][0].update(type="mongo"),
     ["dependencies[0].type", "Unsupported value"]),
    ("duplicate-names", lambda s: s["dependencies"].append(dep()),
     ["dependencies[1]", "Duplicate value"]),
    ("timeout-above-interval", lambda s: s["dependencies"][0].update(timeoutSeconds=1.5),
     ["dependencies[0].timeoutSeconds", "must not exceed intervalSeconds"]),
    ("bad-name", lambda s: s["dependencies"][0].update(name="Cache_1"),
     ["dependencies[0].name", "should match"]),
    ("threshold-range", lambda s: s["dependencies"][0].update(failureThreshold=0),
     ["dependencies[0].failureThreshold", "greater than or equal to 1"]),
    ("url-and-urlFrom", lambda s: s["dependencies"][0]["redis"].update(url="redis://cache:6379"),
     ["dependencies[0].redis", "exactly one of url or urlFrom"]),
    ("password-in-url", lambda s: s["dependencies"][0].update(
        redis={"url": "redis://:hunter2@cache:6379"}),
     ["dependencies[0].redis.url", "must not contain a password"]),
    # Each inline URL-like field refuses a password: it would land in the ConfigMap.
    ("password-in-dsn", lambda s: s["dependencies"].__setitem__(
        0, {"name": "db", "type": "postgres", "postgres": {"dsn": "postgresql://app:hunter2@db/app"}}),
     ["dependencies[0].postgres.dsn", "must not contain a password"]),
    ("keyword-password-in-dsn", lambda s: s["dependencies"].__setitem__(
        0, {"name": "db", "type": "postgres", "postgres": {"dsn": "host=db password=hunter2"}}),
     ["dependencies[0].postgres.dsn", "must not contain a password"]),
    ("password-in-uri", lambda s: s["dependencies"].__setitem__(0, {
        "name": "g", "type": "neo4j", "neo4j": {
            "uri": "bolt://neo4j:hunter2@g:7687",
            "passwordFrom": {"secretKeyRef": {"name": "neo4j-auth", "key": "password"}}}}),
     ["dependencies[0].neo4j.uri", "must not contain a password"]),
    ("password-in-base-url", lambda s: s["dependencies"].__setitem__(0, {
        "name": "llm", "type": "llm", "llm": {
            "baseUrl": "https://u:hunter2@llm.example/v1",
            "apiKeyFrom": {"secretKeyRef": {"name": "llm", "key": "key"}}}}),
     ["dependencies[0].llm.baseUrl", "must not contain a password"]),
    ("password-in-amqp-url", lambda s: s["dependencies"].__setitem__(
        0, {"name": "mq", "type": "amqp", "amqp": {"url": "amqp://app:hunter2@mq/"}}),
     ["dependencies[0].amqp.url", "must not contain a password"]),
    ("assertion-equals-and-regex", lambda s: s["dependencies"].__setitem__(0, {
        "name": "api", "type": "http", "http": {"url": "https://api.example/health",
        "assertions": [{"jsonPath": "$.status", "equals": "UP", "regex": "UP"}]}}),
     ["dependencies[0].http.assertions[0].regex", "only one of equals, regex"]),
    ("smtp-username-without-password", lambda s: s["dependencies"].__setitem__(
        0, {"name": "mail", "type": "smtp", "smtp": {"host": "mail", "username": "app"}}),
     ["dependencies[0].smtp.username", "username and passwordFrom go together"]),
    ("password-in-http-url", lambda s: s["dependencies"].__setitem__(
        0, {"name": "site", "type": "http", "http": {"url": "https://u:hunter2@site.example/"}}),
     ["dependencies[0].http.url", "must not contain a password"]),
    ("neo4j-without-password", lambda s: s["dependencies"].__setitem__(
        0, {"name": "g", "type": "neo4j", "neo4j": {"uri": "bolt://g:7687"}}),
     ["dependencies[0].neo4j.passwordFrom", "Required value"]),
    ("bad-secret-ref", lambda s: s["dependencies"][0]["redis"]["urlFrom"].update(
        secretKeyRef={"name": "redis-auth"}),
     ["urlFrom.secretKeyRef.key", "Required value"]),
    ("unknown-field", lambda s: s["dependencies"][0].update(retries=3),
     ['unknown field "spec.dependencies[0].retries"']),
    ("env-file-not-offered", lambda s: s["dependencies"][0]["redis"].update(urlFile="/x"),
     ['unknown field "spec.dependencies[0].redis.urlFile"']),
    ("empty-selector", lambda s: s.update(selector={}), ["spec.selector", "must not be empty"]),
    ("no-dependencies", lambda s: s.update(dependencies=[]), ["spec.dependencies", "at least 1"]),
    ("liveness-success-threshold", lambda s: s.update(probes={"liveness": {"successThreshold": 2}}),
     ["spec.probes.liveness.successThreshold", "less than or equal to 1"]),
    ("privileged-port", lambda s: s.update(sidecar={"port": 80}),
     ["spec.sidecar.port", "greater than or equal to 1024"]),
    ("bad-log-level", lambda s: s.update(sidecar={"logLevel": "loud"}),
     ["spec.sidecar.logLevel", "Unsupported value"]),
    ("expression-without-values", lambda s: s.update(
        selector={"matchExpressions": [{"key": "app", "operator": "In"}]}),
     ["spec.selector.matchExpressions[0]", "values must be non-empty"]),
    ("fail-closed-with-tuning", lambda s: s.update(
        sharedOutage={"policy": "FailClosed", "thresholdPercent": 50}),
     ["spec.sharedOutage", "apply to policy FailOpen only"]),
    ("shared-outage-threshold-range", lambda s: s.update(sharedOutage={"thresholdPercent": 0}),
     ["spec.sharedOutage.thresholdPercent", "greater than or equal to 1"]),
    ("shared-outage-bad-policy", lambda s: s.update(sharedOutage={"policy": "Panic"}),
     ["spec.sharedOutage.policy", "Unsupported value"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mutate", "fragments"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_gate_is_rejected_naming_the_field(
    k8s: Kube, case: str, mutate: Any, fragments: list[str]
) -> None:
    manifest = objects.gate(f"bad-{case}".lower(), "default")
    mutate(manifest["spec"])
    proc = k8s.apply(manifest, check=False)
    assert proc.returncode != 0, f"{case}: accepted"
    for fragment in fragments:
        assert fragment in proc.stderr, f"{case}: {fragment!r} not in:\n{proc.stderr}"
    assert "hunter2" not in proc.stderr  # the API server must not echo a rejected password
