"""config: flags, HEALTHGATE_* variables and defaults."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from healthgate_operator import config, options


def test_defaults() -> None:
    c = config.parse([], {})
    assert c.scope.clusterwide
    assert c.webhook.failure_policy == "Ignore"
    assert c.peering.name == "healthgate"
    assert c.sidecar.image.startswith("ghcr.io/healthgate/healthgate:")
    assert c.webhook.advertised_url == "https://127.0.0.1:9443"
    assert 1 <= c.peering.priority < 2**31


def test_flags() -> None:
    c = config.parse(
        [
            "-n",
            "a",
            "--namespace",
            "b",
            "--webhook-host",
            "127.0.0.2",
            "--webhook-port",
            "1234",
            "--webhook-failure-policy",
            "Fail",
            "--sidecar-image",
            "img:2",
            "--status-interval",
            "2.5",
            "--standalone",
            "--priority",
            "7",
            "--operator-namespace",
            "ops",
        ],
        {},
    )
    assert c.scope.namespaces == ("a", "b")
    assert not c.scope.clusterwide
    assert c.webhook.advertised_url == "https://127.0.0.2:1234"
    assert c.webhook.failure_policy == "Fail"
    assert c.sidecar.image == "img:2"
    assert c.status.interval == 2.5
    assert c.peering.standalone
    assert c.peering.priority == 7
    assert c.scope.skip_namespaces == ("ops",)


def test_environment_and_flag_precedence() -> None:
    env = {
        "HEALTHGATE_WEBHOOK_PORT": "7000",
        "HEALTHGATE_WEBHOOK_FAILURE_POLICY": "Fail",
        "HEALTHGATE_STANDALONE": "true",
        "HEALTHGATE_NAMESPACE": "x,y",
        "HEALTHGATE_WEBHOOK_URL": "https://hg.ops.svc:443",
        "POD_NAMESPACE": "ops",
    }
    c = config.parse([], env)
    assert c.webhook.port == 7000
    assert c.webhook.failure_policy == "Fail"
    assert c.peering.standalone
    assert c.scope.namespaces == ("x", "y")
    assert c.webhook.advertised_url == "https://hg.ops.svc:443"
    assert c.scope.operator_namespace == "ops"
    assert config.parse(["--webhook-port", "8000"], env).webhook.port == 8000


def test_cert_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        config.parse(["--webhook-cert", str(tmp_path / "c")], {})


def test_bad_policy_rejected() -> None:
    with pytest.raises(SystemExit):
        config.parse(["--webhook-failure-policy", "Maybe"], {})


def test_every_flag_has_help_text() -> None:
    """``--help`` teaches every flag; texts come from the settings fields' metadata."""
    parser = config.build_parser()
    flags = [a for a in parser._actions if a.option_strings and a.dest not in ("help", "version")]
    missing = [
        a.option_strings[-1] for a in flags if not (a.help or "").split("(default")[0].strip()
    ]
    assert missing == []
    assert "never blocks pod" in parser.format_help()


def test_sidecar_defaults_and_webhook_configuration_flags() -> None:
    c = config.parse(
        [
            "--sidecar-port=9100",
            '--sidecar-resources={"requests": {"cpu": 0.05, "memory": "64Mi"}}',
            "--webhook-configuration=hg.healthgate.io",
        ],
        {},
    )
    assert c.sidecar.port == 9100
    assert c.sidecar.resources == {"requests": {"cpu": "0.05", "memory": "64Mi"}}
    assert c.webhook.configuration == "hg.healthgate.io"
    assert config.parse([], {}).webhook.configuration == "healthgate.io"
    env = {
        "HEALTHGATE_SIDECAR_PORT": "9200",
        "HEALTHGATE_SIDECAR_RESOURCES": '{"limits": {"memory": "1Gi"}}',
    }
    c = config.parse([], env)
    assert c.sidecar.port == 9200
    assert c.sidecar.resources == {"limits": {"memory": "1Gi"}}
    assert config.parse([], {}).sidecar.resources == {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"memory": "160Mi"},
    }


def test_flags_of_the_self_applied_webhook_configuration_are_gone() -> None:
    """The install ships the webhook configurations now; these flags would be silently unused."""
    for gone in ("--webhook-owner=x", "--webhook-timeout=5", "--webhook-namespace-selector={}"):
        with pytest.raises(SystemExit):
            config.parse([gone], {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sidecar-port=80"], "--sidecar-port: must be within 1024-65535"),
        (["--sidecar-resources=nope"], "--sidecar-resources: not JSON"),
        (["--sidecar-resources=[]"], "--sidecar-resources: must be a JSON object"),
        (['--sidecar-resources={"requests": {"cpu": "lots"}}'], "requests: cpu: 'lots'"),
        (
            ['--sidecar-resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "1Mi"}}'],
            "requests.memory (1Gi) exceeds limits.memory (1Mi)",
        ),
        (['--sidecar-resources={"claims": []}'], "claims: Extra inputs are not permitted"),
    ],
)
def test_invalid_json_flags_name_the_flag_and_field(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        config.parse(argv, {})
    assert message in str(exited.value)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        # Accepted before: a zero timeout or interval, no probe slots, a port off the range.
        (["--health-timeout=0"], {}, "--health-timeout: must be above 0"),
        (["--status-interval=-1"], {}, "--status-interval: must be above 0"),
        (["--health-concurrency=0"], {}, "--health-concurrency: must be at least 1"),
        (["--webhook-port=70000"], {}, "--webhook-port: must be within 0-65535"),
        (["--metrics-port=-1"], {}, "--metrics-port: must be within 0-65535"),
        (["--shard-count=0"], {}, "--shard-count: must be at least 1"),
        # A variable is held to the same limits as its flag (before: a traceback).
        ([], {"HEALTHGATE_WEBHOOK_PORT": "nine"}, "--webhook-port (from HEALTHGATE_WEBHOOK_PORT)"),
        ([], {"HEALTHGATE_SIDECAR_PORT": "80"}, "--sidecar-port: must be within 1024-65535"),
        ([], {"HEALTHGATE_LOG_LEVEL": "loud"}, "--log-level: must be one of debug, info"),
        (["--sidecar-port=80"], {}, "--sidecar-port: must be within 1024-65535"),
        (["--status-interval=10", "--refresh-stale-after=10"], {}, "--refresh-stale-after"),
    ],
)
def test_every_out_of_range_value_is_a_usage_error_naming_the_flag(
    argv: list[str], environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No value is clamped or let through: exit code 2 as argparse's, the flag named."""
    with pytest.raises(SystemExit) as exited:
        config.parse(argv, environ)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"healthgate-operator: error: {message}" in err
    assert "Traceback" not in err


def test_groups_built_directly_are_held_to_the_same_limits() -> None:
    with pytest.raises(options.SettingError, match="--health-timeout: must be above 0"):
        config.StatusSettings(health_timeout=0)
    with pytest.raises(options.SettingError, match="--webhook-cert: goes together"):
        config.WebhookSettings(cert=Path("c"))


def test_every_setting_has_one_flag_and_its_variable() -> None:
    specs = list(options.all_specs(config.OperatorConfig))
    flags = [spec.flag for spec in specs]
    assert len(flags) == len(set(flags))
    parser = config.build_parser()
    assert {spec.flag for spec in specs} <= set(parser._option_string_actions)
    assert {s.variable for s in specs} >= {"HEALTHGATE_NAMESPACE", "HEALTHGATE_STANDALONE"}


def test_the_settings_import_none_of_the_code_they_configure() -> None:
    """config sits below builders, crd and handlers (kopf's layering, as import-linter would)."""
    seen: set[str] = set()
    todo = ["healthgate_operator.config"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                todo += [n for n in [node.module, *names] if _is_module(n)]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if _is_module(a.name)]
    layers = {name.split(".")[1] for name in seen if name.count(".") >= 1}
    assert not layers & {"builders", "crd", "handlers", "wiring", "runtime", "cli"}


def _is_module(name: str) -> bool:
    if not name.startswith("healthgate_operator."):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
