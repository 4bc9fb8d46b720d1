"""Reading the files the sidecar is given: regular files only, with a size cap, never blocking.

A config, token or secret path is under the control of whoever writes the ConfigMap or Secret,
so it may turn into a FIFO (``open`` would wait forever for a writer), a device (``/dev/zero``
never ends) or a huge file. :func:`read_regular` opens with ``O_NONBLOCK`` (a FIFO opens at once
instead of waiting), refuses anything ``fstat`` does not call a regular file, and reads at most
``limit`` bytes. Symlinks are followed on purpose: Kubernetes volumes are symlinks to ``..data``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CONFIG_LIMIT = 4 << 20  # bytes: 1,000 dependencies render to well under 1 MiB
SECRET_LIMIT = 64 << 10  # bytes: a password, token, DSN or header value


class FileError(OSError):
    """A file that cannot be used; the message names the path and the problem, never content."""


def read_regular(path: str | Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; raises :class:`FileError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileError(f"cannot read {path}: not a regular file ({_kind(mode)})")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except FileError:
        raise
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise FileError(f"cannot read {path}: larger than {limit} bytes")
    return b"".join(chunks)


def read_text(path: str | Path, *, limit: int) -> str:
    """:func:`read_regular` decoded as UTF-8; raises :class:`FileError`."""
    data = read_regular(path, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileError(f"cannot read {path}: not UTF-8 text") from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not regular"


@dataclass(frozen=True)
class Fingerprint:
    """Identity and version of the file behind a path (after following symlinks)."""

    real_path: str
    device: int
    inode: int
    size: int
    mtime_ns: int


def fingerprint(path: Path) -> Fingerprint | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return Fingerprint(real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def fingerprints(paths: Iterable[str]) -> dict[str, Fingerprint | None]:
    return {path: fingerprint(Path(path)) for path in paths}


def changed(known: Mapping[str, Fingerprint | None]) -> bool:
    """Has any of these files changed (a Secret volume update swaps ``..data``) since?"""
    return any(fingerprint(Path(path)) != found for path, found in known.items())
