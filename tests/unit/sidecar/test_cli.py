"""The command line in-process: ``check`` exit codes and output, invalid configs, ``schema``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from healthgate_sidecar import cli
from tests.unit.sidecar.test_contract import EXPECTED, INVALID

READY = """
dependencies:
  - {name: home, type: env, env: {names: [HOME]}}
  - {name: mail, type: env, critical: false, env: {names: [HEALTHGATE_TEST_UNSET_VAR]}}
"""
NOT_READY = """
dependencies:
  - {name: home, type: env, env: {names: [HOME]}}
  - {name: oauth, type: env, env: {names: [HEALTHGATE_TEST_UNSET_VAR]}}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_check_ready_exits_0_with_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", "--config", write(tmp_path, READY)]) == 0
    out = capsys.readouterr().out
    header, home, mail = out.splitlines()[:3]
    assert header.split() == ["NAME", "TYPE", "STATUS", "LATENCY", "MESSAGE"]
    assert home.split()[:3] == ["home", "env", "healthy"]
    assert mail.split()[:3] == ["mail", "env", "unhealthy"]
    assert "missing or empty: HEALTHGATE_TEST_UNSET_VAR" in mail
    assert "overall: degraded, ready" in out


def test_check_not_ready_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", write(tmp_path, NOT_READY)]) == 1
    assert "NOT ready" in capsys.readouterr().out


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", write(tmp_path, NOT_READY), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["status"], data["ready"]) == ("unhealthy", False)
    assert data["components"]["oauth"]["reason"] == "assertion"


def test_env_check_never_shows_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHGATE_TEST_SECRET_VAR", "env-Value-Canary-77")
    text = "dependencies:\n- {name: s, type: env, env: {names: [HEALTHGATE_TEST_SECRET_VAR]}}\n"
    assert cli.main(["check", "--config", write(tmp_path, text), "--json"]) == 0
    assert "env-Value-Canary-77" not in capsys.readouterr().out


def test_config_from_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHGATE_CONFIG", write(tmp_path, READY))
    assert cli.main(["check"]) == 0


def test_no_config_is_a_usage_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEALTHGATE_CONFIG", raising=False)
    assert cli.main(["check"]) == 2
    assert "--config" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_config_exits_2_with_the_field_path(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", "--config", str(INVALID / name)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert any(line.startswith(EXPECTED[name]) for line in lines), lines
    assert "Traceback" not in captured.err


def test_serve_with_invalid_config_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--config", str(INVALID / "http-missing-url.yaml")]) == 2
    assert capsys.readouterr().err == "dependencies[1].http.url: Field required\n"


def test_bad_port_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEALTHGATE_PORT", "eighty")
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve", "--config", write(tmp_path, READY)])
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_schema_prints_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "Dependency" in schema["$defs"]


def test_console_script_invalid_config_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "healthgate_sidecar.cli", "check", "--config",
         str(INVALID / "duplicate-name.yaml")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == "dependencies[1].name: duplicate name 'cache'\n"
