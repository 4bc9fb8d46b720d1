"""Smoke tests proving the local environment is made of real servers, not stand-ins."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import redis as redis_client
from neo4j import GraphDatabase

from tests.env import kube, neo4j, postgres, redis

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.smoke.healthgate.io}
spec:
  group: smoke.healthgate.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1, maximum: 10}
"""


def widget(size: object) -> str:
    return (
        "apiVersion: smoke.healthgate.io/v1\nkind: Widget\n"
        f"metadata: {{name: w{abs(hash(str(size))) % 1000}, namespace: default}}\n"
        f"spec: {{size: {size}}}\n"
    )


def test_redis_ping(redis_server: redis.RedisServer) -> None:
    client = redis_client.Redis.from_url(redis_server.url)
    assert client.ping() is True
    assert client.info("server")["redis_version"].startswith("7.")


def test_redis_rejects_wrong_password(redis_server: redis.RedisServer) -> None:
    client = redis_client.Redis(host=redis_server.host, port=redis_server.port, password="nope")
    try:
        client.ping()
    except redis_client.AuthenticationError:
        return
    raise AssertionError("Redis accepted a wrong password: the fixture is not the real server")


def test_postgres_select_1(postgres_server: postgres.PostgresServer) -> None:
    with psycopg.connect(postgres_server.dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        version = conn.execute("SHOW server_version").fetchone()
    assert version is not None
    assert int(str(version[0]).split(".")[0]) >= 13


def test_neo4j_return_1(neo4j_server: neo4j.Neo4jServer) -> None:
    auth = (neo4j_server.user, neo4j_server.password)
    with GraphDatabase.driver(neo4j_server.uri, auth=auth) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        assert records[0]["one"] == 1
        components, _, _ = driver.execute_query("CALL dbms.components()")
    assert components[0]["versions"][0].startswith("5.26")
    assert components[0]["edition"] == "community"


def test_promtool_checks_metrics(promtool: Path) -> None:
    good = "# HELP smoke_total A counter.\n# TYPE smoke_total counter\nsmoke_total 1\n"
    ok = subprocess.run(
        [promtool, "check", "metrics"], input=good, text=True, capture_output=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    bad = "# TYPE smoke counter\nsmoke 1\n"  # counters must end in _total
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=bad, text=True, capture_output=True, check=False
    )
    assert lint.returncode != 0
    assert "_total" in lint.stdout + lint.stderr


def test_kubectl_apply_crd_and_object(kube_cluster: kube.KubeCluster) -> None:
    kube_cluster.kubectl("apply", "-f", "-", input=CRD)
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.smoke.healthgate.io"
    )
    kube_cluster.kubectl("apply", "-f", "-", input=widget(3))
    got = kube_cluster.kubectl(
        "get", "widgets", "-n", "default", "-o", "jsonpath={.items[*].spec.size}"
    )
    assert "3" in got.stdout.split()


def test_api_server_rejects_invalid_object(kube_cluster: kube.KubeCluster) -> None:
    kube_cluster.kubectl("apply", "-f", "-", input=CRD)
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.smoke.healthgate.io"
    )
    bad = kube_cluster.kubectl("apply", "-f", "-", input=widget(99), check=False)
    assert bad.returncode != 0
    assert "spec.size" in bad.stderr
    assert "less than or equal to 10" in bad.stderr


def test_api_server_enforces_rbac(kube_cluster: kube.KubeCluster) -> None:
    """RBAC is on: an identity without bindings is denied (the admin is system:masters)."""
    denied = kube_cluster.kubectl(
        "auth", "can-i", "list", "secrets", "--as=system:serviceaccount:default:nobody", check=False
    )
    assert denied.stdout.strip() == "no"
    allowed = kube_cluster.kubectl("auth", "can-i", "list", "secrets")
    assert allowed.stdout.strip() == "yes"


def test_helm_version_and_template(kube_cluster: kube.KubeCluster, tmp_path: Path) -> None:
    version = kube_cluster.helm("version", "--short")
    assert version.stdout.startswith("v3.")
    chart = tmp_path / "smoke"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: smoke\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-cm}\n"
        "data: {greeting: {{ .Values.greeting | quote }}}\n"
    )
    out = kube_cluster.helm("template", "demo", str(chart), "--set", "greeting=hi")
    assert "name: demo-cm" in out.stdout
    assert 'greeting: "hi"' in out.stdout
