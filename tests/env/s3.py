"""An S3-compatible server that verifies SigV4 signatures: s3s-fs, built from crates.io.

The s3 checks need a server that rejects a wrong secret key, or their ``auth`` path could never
fail. MinIO is not served by the registries here (and is AGPL); gofakes3 (Go) accepts any
signature; SeaweedFS verifies signatures but is a very large Go build. s3s-fs, the file-system
example server of the ``s3s`` crate (the S3 service layer RustFS is built on), verifies SigV4
against one access key pair and serves buckets as folders of its root. ``cargo install`` builds
it once (about three minutes of CPU) into the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.env import common

S3S_FS_VERSION = "0.14.1"  # the newest that builds with Rust 1.92 (0.17 needs 1.96)
# A debug build: half the CPU of a release build (2.8 vs 5.7 CPU-minutes here), and a test sends
# it a few HEAD requests. The cache key names the profile, so a release build is never mistaken.
PROFILE = "debug"
ACCESS_KEY = "HEALTHGATETESTKEY"
SECRET_KEY = "s3-canary-Secret-4d7a"  # a canary: tests assert it never appears in sidecar output
BUCKET = "photos"


@dataclass
class S3Server(common.BinaryServer):
    """A running s3s-fs; ``stop``/``start`` simulate an outage on the same port and data."""

    name = "s3s-fs"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def root(self) -> Path:
        return self.workdir / "data"

    def create_bucket(self, name: str) -> None:
        (self.root / name).mkdir(parents=True, exist_ok=True)  # a bucket is a folder here

    def argv(self) -> list[str | Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        return [
            self.binary,
            f"--host={self.host}",
            f"--port={self.port}",
            f"--access-key={ACCESS_KEY}",
            f"--secret-key={SECRET_KEY}",
            self.root,
        ]


def ensure_installed() -> Path:
    return common.cached("s3s-fs", f"{S3S_FS_VERSION}-{PROFILE}", _install) / "bin" / "s3s-fs"


def _install(dest: Path) -> None:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not os.access(cargo, os.X_OK):
        raise common.EnvMissing("building s3s-fs needs Rust's cargo (1.92+): install rustup")
    common.progress(f"building s3s-fs {S3S_FS_VERSION} from crates.io into {dest} (minutes)")
    proc = subprocess.run(
        [
            cargo,
            "install",
            "--locked",
            "s3s-fs",
            "--version",
            S3S_FS_VERSION,
            "--features",
            "binary",
            "--debug",
            "--root",
            dest,
        ],
        stdout=sys.stderr,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise common.EnvMissing(f"building s3s-fs {S3S_FS_VERSION} failed; see the output above")


def start(workdir: Path, host: str = "127.0.0.1") -> S3Server:
    binary = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    server = S3Server(host=host, port=common.free_port(host), workdir=workdir, binary=binary)
    server.start()
    server.create_bucket(BUCKET)
    return server
