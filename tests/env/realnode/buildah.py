"""Images built from our own Dockerfile with buildah, on a Debian base made here by mmdebstrap.

No registry image is pulled: the base (bookworm's Python 3.11) comes from Debian's packages
through mmdebstrap and enters the Dockerfile through its ``PYTHON_IMAGE`` argument. buildah uses
vfs storage and chroot isolation (no overlay or user namespaces needed) with its storage under
the cache. The machine's CA bundle reaches the build by a mount (``buildah bud -v``), so pip can
get through the TLS proxy in front of the registries, and is never part of an image. Each result
is an OCI archive named by a hash of its inputs (base recipe, Dockerfile, sources, the build's
part of pyproject.toml), so a warm run builds nothing and
:meth:`tests.env.realnode.runtime.Containerd.import_archive` loads it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from tests.env import common
from tests.env.realnode import images

REPO = Path(__file__).resolve().parents[3]
STORAGE = common.CACHE / "buildah"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"  # Python 3.11, the version the project targets
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3")  # `python`, as the Dockerfile says
REDIS_PACKAGES = ("redis-server",)
# What the HealthGate image is made of: a change to any of these makes a new image. Of
# pyproject.toml only what pip's build reads counts (see image_key); README.md is not copied.
SOURCES = ("Dockerfile", "sidecar", "operator")
# pyproject.toml's tables that shape the installed package: a change to the settings of pytest,
# ruff or mypy there (or to the dev extras' neighbours) leaves the image as it was.
BUILD_TABLES = ("build-system", "project")
KEEP_ARCHIVES = 3  # HealthGate images kept in the cache (about 120 MB each)


def _buildah(*args: str | Path) -> str:
    common.which_or_install("buildah", "buildah")
    return common.run(
        [
            "buildah",
            f"--root={STORAGE / 'root'}",
            f"--runroot={STORAGE / 'runroot'}",
            "--storage-driver=vfs",
            *args,
        ]
    )


def _hash(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def pyproject_key(text: str) -> bytes:
    """The part of pyproject.toml the image's ``pip install .`` depends on, canonically."""
    data = tomllib.loads(text)
    used = {name: data.get(name) for name in BUILD_TABLES}
    used["tool.setuptools"] = data.get("tool", {}).get("setuptools")
    return json.dumps(used, sort_keys=True).encode()


def image_key(base: str) -> str:
    """The HealthGate image's cache key: the base image, the sources and the build's part of
    pyproject.toml."""
    pyproject = pyproject_key((REPO / "pyproject.toml").read_text())
    return _hash(base.encode(), pyproject, *_tree_bytes(SOURCES))


def _tree_bytes(paths: tuple[str, ...]) -> list[bytes]:
    files = []
    for name in paths:
        top = REPO / name
        found = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in found:
            if path.is_file() and "__pycache__" not in path.parts:
                files.append(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return files


def _debian_image(name: str, packages: tuple[str, ...]) -> str:
    """A bookworm root filesystem with ``packages`` (mmdebstrap), committed as ``name``."""
    tag = _hash(SUITE.encode(), " ".join(packages).encode())
    ref = f"{images.REGISTRY}/{name}:{tag}"
    if _exists(ref):
        return ref
    common.which_or_install("mmdebstrap", "mmdebstrap")
    common.progress(f"making {ref} from Debian {SUITE} with mmdebstrap ({', '.join(packages)})")
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        common.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                "--aptopt=APT::Install-Recommends false",
                "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
                SUITE,
                rootfs,
            ]
        )
        container = _buildah("from", "scratch").strip()
        try:
            _buildah("add", container, rootfs, "/")
            _buildah("commit", "--rm", container, ref)
        except common.EnvMissing:
            _buildah("rm", container)
            raise
    return ref


def _exists(ref: str) -> bool:
    try:
        _buildah("inspect", "--type=image", ref)
    except common.EnvMissing:
        return False
    return True


def _archive(ref: str, stem: str) -> Path:
    """``ref`` as an OCI archive under the image cache (written last, renamed into place)."""
    images.IMAGES.mkdir(parents=True, exist_ok=True)
    path = images.IMAGES / f"{stem}.tar"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _buildah("push", ref, f"oci-archive:{partial}:{ref}")
        partial.rename(path)
    return path


def healthgate() -> tuple[str, Path]:
    """The HealthGate image from our Dockerfile: its name and OCI archive (built once)."""
    base = _debian_image("python", BASE_PACKAGES)
    digest = image_key(base)
    ref = f"{images.REGISTRY}/healthgate:{digest}"
    stem = f"healthgate-{digest}"
    if (images.IMAGES / f"{stem}.tar").exists():
        return ref, images.IMAGES / f"{stem}.tar"
    common.progress(f"building {ref} from the Dockerfile with buildah (a cold build: minutes)")
    with tempfile.TemporaryDirectory() as tmp:
        pip_conf = Path(tmp) / "pip.conf"
        pip_conf.write_text(f"[global]\ncert = {CA_BUNDLE}\n")
        common.which_or_install("buildah", "buildah")
        proc = subprocess.run(
            [
                "buildah",
                f"--root={STORAGE / 'root'}",
                f"--runroot={STORAGE / 'runroot'}",
                "--storage-driver=vfs",
                "bud",
                "--isolation=chroot",
                "--layers=false",
                f"--build-arg=PYTHON_IMAGE={base}",
                # Only the build sees the machine's CA (for pip through the TLS proxy).
                f"--volume={CA_BUNDLE}:{CA_BUNDLE}:ro",
                f"--volume={pip_conf}:/etc/pip.conf:ro",
                f"--tag={ref}",
                str(REPO),
            ],
            stdout=sys.stderr,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0:
        raise common.EnvMissing("buildah bud of the Dockerfile failed; see the output above")
    archive = _archive(ref, stem)
    _buildah("rmi", ref)  # the archive is what is kept: vfs storage would grow by a copy per edit
    prune_archives("healthgate", keep=KEEP_ARCHIVES)
    return ref, archive


def prune_archives(name: str, *, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest archives of ``name`` (each source edit makes one; a
    few are kept for work trees of other branches sharing the cache). Returns the deleted."""
    found = sorted(images.IMAGES.glob(f"{name}-*.tar"), key=lambda p: p.stat().st_mtime)
    old = found[:-keep] if keep else found
    for path in old:
        path.unlink(missing_ok=True)
    return old


def redis() -> tuple[str, Path]:
    """Debian's redis-server as an image, the same way (for Redis as a pod)."""
    ref = _debian_image("redis", REDIS_PACKAGES)
    return ref, _archive(ref, f"redis-{ref.rsplit(':', 1)[1]}")
