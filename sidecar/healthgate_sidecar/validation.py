"""Where a config is validated: in this process when it has pydantic, else in a short-lived child.

Pydantic and the contract's models cost a serving sidecar ~13 MiB, multiplied by every pod, and
it needs them only when a config arrives: at start and at each reload. So ``serve`` never loads
them (:func:`stubs.prefer`): it reads the file itself (a regular file, capped, see :mod:`files`)
and hands the bytes to ``python -m healthgate_sidecar.validation``, which validates them with
:mod:`contract` and answers one JSON object: the problems (the same ``path: message`` lines as
ever), or the config dumped by field name, which the server turns into :mod:`records`. The
child exits at once, so the peak is the server's memory plus a validator's for a second, and the
memory the server keeps does not include it.

A process that has pydantic loaded anyway (``check``, tests, the operator) validates in process.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthgate_sidecar import files, params, records

if TYPE_CHECKING:
    from healthgate_sidecar.contract import SidecarConfig

# A 1,000-dependency config validates in about a second on a loaded core; far more is a hang.
CHILD_TIMEOUT_SECONDS = 60


class ConfigError(Exception):
    """An unreadable or invalid config; ``problems`` holds one ``path: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read(path: str | Path) -> tuple[str, bytes]:
    """(sha256 hex digest, bytes) of the config file; raises :class:`ConfigError`."""
    try:
        data = files.read_regular(path, limit=files.CONFIG_LIMIT)
    except files.FileError as exc:
        raise ConfigError([f"<file>: {exc}"]) from None
    return hashlib.sha256(data).hexdigest(), data


def parse(data: bytes, path: str | Path) -> SidecarConfig:
    """Validate a config file's bytes (YAML or JSON); raises :class:`ConfigError`."""
    if params.PYDANTIC:
        return _parse_here(data, path)
    return _parse_in_child(data, path)


def _parse_here(data: bytes, path: str | Path) -> SidecarConfig:
    from healthgate_sidecar import contract  # noqa: PLC0415 - pydantic: only where it is loaded

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"<file>: cannot read {path}: not UTF-8 text"]) from None
    return contract.parse_text(text)


def _parse_in_child(data: bytes, path: str | Path) -> SidecarConfig:
    argv = [sys.executable, "-m", "healthgate_sidecar.validation", str(path)]
    try:
        done = subprocess.run(
            argv, input=data, capture_output=True, timeout=CHILD_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError([f"<file>: not validated within {CHILD_TIMEOUT_SECONDS} s"]) from None
    except OSError as exc:
        raise ConfigError([f"<file>: cannot start the validator: {exc.strerror}"]) from None
    try:
        answer: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        # Its stderr is not shown: a traceback could quote the config, secrets and all.
        problem = f"the validator failed (exit code {done.returncode})"
        raise ConfigError([f"<file>: {problem}"]) from None
    if "problems" in answer:
        raise ConfigError([str(problem) for problem in answer["problems"]])
    return records.config(answer["config"])


def main() -> int:
    """The child: validate the bytes on stdin (read from the path in argv), answer on stdout."""
    path = sys.argv[1] if len(sys.argv) > 1 else "<stdin>"
    try:
        config = _parse_here(sys.stdin.buffer.read(), path)
        answer: dict[str, Any] = {"config": config.model_dump(mode="json")}
    except ConfigError as exc:
        answer = {"problems": exc.problems}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    # Run as the module itself, not as __main__: contract raises *its* ConfigError class.
    from healthgate_sidecar import validation  # noqa: PLW0406

    sys.exit(validation.main())
