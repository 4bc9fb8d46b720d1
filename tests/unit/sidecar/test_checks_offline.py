"""Check modules' offline parts: the registry's lazy imports, env checks, certificate dates."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from healthgate_sidecar.checks import create_checker, tcp
from healthgate_sidecar.checks.base import CheckFailure, read_secret
from healthgate_sidecar.contract import parse_config
from tests.env import pki


def test_drivers_load_only_for_types_in_use() -> None:
    code = """
import asyncio, sys
from healthgate_sidecar import cli, server
from healthgate_sidecar.checks import create_checker
from healthgate_sidecar.contract import parse_config
cfg = parse_config({"dependencies": [{"name": "a", "type": "env", "env": {"names": ["HOME"]}}]})
async def main():
    await create_checker(cfg.dependencies[0]).check()
asyncio.run(main())
print(",".join(m for m in ("redis", "neo4j", "psycopg", "dns") if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""


def test_the_config_validator_loads_no_network_stack() -> None:
    # serve validates each config in a child beside the running server (validation.py): the
    # pod's memory holds both for that second, so the child loads the contract and no more.
    # aiohttp, asyncio and ssl made it 49.5 MiB instead of 34.7 (peak RSS, no dependency).
    code = """
import io, sys
from healthgate_sidecar import validation
sys.stdin = io.TextIOWrapper(io.BytesIO(b"dependencies: []"))
sys.argv = ["validation", "<test>"]
validation.main()
print()
print(",".join(m for m in ("aiohttp", "asyncio", "ssl", "yarl") if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    answer, loaded = proc.stdout.splitlines()
    assert answer.startswith('{"config": ')
    assert loaded == ""


async def test_env_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_SET", "value-Never-Shown")
    monkeypatch.setenv("HG_EMPTY", "")
    monkeypatch.delenv("HG_UNSET", raising=False)
    cfg = parse_config(
        {
            "dependencies": [
                {"name": "e", "type": "env", "env": {"names": ["HG_SET", "HG_EMPTY", "HG_UNSET"]}}
            ]
        }
    )
    checker = create_checker(cfg.dependencies[0])
    with pytest.raises(CheckFailure) as caught:
        await checker.check()
    assert caught.value.reason == "assertion"
    assert caught.value.message == "missing or empty: HG_EMPTY, HG_UNSET"


def test_read_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "s"
    secret_file.write_text("from-File-Secret\n")
    monkeypatch.setenv("HG_SECRET", "from-Env-Secret")
    assert read_secret(value=None, from_env=None, file=str(secret_file)) == "from-File-Secret"
    assert read_secret(value=None, from_env="HG_SECRET", file=None) == "from-Env-Secret"
    with pytest.raises(CheckFailure, match="HG_NOPE is not set"):
        read_secret(value=None, from_env="HG_NOPE", file=None)
    with pytest.raises(CheckFailure, match="cannot read"):
        read_secret(value=None, from_env=None, file=str(secret_file) + ".missing")


def certificate(not_after: dt.datetime) -> bytes:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert, _ = pki.self_signed("localhost", not_after=not_after, not_before=start)
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2031, 5, 17, 12, 30, 5, tzinfo=dt.UTC),  # UTCTime
        dt.datetime(2061, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # GeneralizedTime (2050 and later)
    ],
)
def test_certificate_expiry_is_read_from_der(when: dt.datetime) -> None:
    assert tcp.not_after(certificate(when)) == when


def test_optional_without_blocks_only_inside_and_only_what_is_not_imported() -> None:
    code = """
import json, sys
from healthgate_sidecar import optional
with optional.without("json", "wave"):
    import json as again  # already imported elsewhere: left alone
    try:
        import wave
        blocked = False
    except ImportError:
        blocked = True
import wave  # after the block, a normal import again
print(blocked, again is json)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.split() == ["True", "True"]
