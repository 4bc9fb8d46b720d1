"""config: flags, HEALTHGATE_* variables and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthgate_operator import config


def test_defaults() -> None:
    c = config.parse([], {})
    assert c.clusterwide
    assert c.webhook_failure_policy == "Ignore"
    assert c.peering == "healthgate"
    assert c.sidecar_image.startswith("ghcr.io/healthgate/healthgate:")
    assert c.advertised_url == "https://127.0.0.1:9443"
    assert 1 <= c.priority < 2**31


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
    assert c.namespaces == ("a", "b")
    assert not c.clusterwide
    assert c.advertised_url == "https://127.0.0.2:1234"
    assert c.webhook_failure_policy == "Fail"
    assert c.sidecar_image == "img:2"
    assert c.status_interval == 2.5
    assert c.peering is None
    assert c.priority == 7
    assert c.skip_namespaces == ("ops",)


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
    assert c.webhook_port == 7000
    assert c.webhook_failure_policy == "Fail"
    assert c.peering is None
    assert c.namespaces == ("x", "y")
    assert c.advertised_url == "https://hg.ops.svc:443"
    assert c.operator_namespace == "ops"
    assert config.parse(["--webhook-port", "8000"], env).webhook_port == 8000


def test_cert_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        config.parse(["--webhook-cert", str(tmp_path / "c")], {})


def test_bad_policy_rejected() -> None:
    with pytest.raises(SystemExit):
        config.parse(["--webhook-failure-policy", "Maybe"], {})


def test_every_flag_has_help_text() -> None:
    """``--help`` teaches every flag; texts come from OperatorConfig's attribute docstrings."""
    parser = config.build_parser({})
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
    assert c.sidecar_defaults.port == 9100
    assert c.sidecar_defaults.resources == {"requests": {"cpu": "0.05", "memory": "64Mi"}}
    assert c.webhook_configuration == "hg.healthgate.io"
    assert config.parse([], {}).webhook_configuration == "healthgate.io"
    env = {
        "HEALTHGATE_SIDECAR_PORT": "9200",
        "HEALTHGATE_SIDECAR_RESOURCES": '{"limits": {"memory": "1Gi"}}',
    }
    c = config.parse([], env)
    assert c.sidecar_port == 9200
    assert c.sidecar_resources == {"limits": {"memory": "1Gi"}}
    assert config.parse([], {}).sidecar_resources == {
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
