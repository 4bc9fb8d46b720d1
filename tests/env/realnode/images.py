"""Small OCI images made locally with umoci from static Debian binaries, cached by their inputs.

The node pulls nothing: its sandbox ("pause") image is Debian's statically linked ``catatonit``
in pause mode, and the plain test image is Debian's ``busybox-static`` (its ``httpd`` answers the
kubelet's HTTP probes). Each image is an OCI archive under ``CACHE/images`` whose name carries a
hash of everything that went into it, so a changed binary or recipe makes a new one and a warm run
rebuilds nothing. ``ctr images import`` loads an archive into the node's containerd.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.env import common

IMAGES = common.CACHE / "images"
REGISTRY = "localhost/healthgate"  # a name no registry answers for: nothing is ever pulled


@dataclass(frozen=True)
class Recipe:
    """An image of a few static files: ``files`` maps a path in the image to a host file."""

    name: str
    tag: str
    files: tuple[tuple[str, Path], ...]
    entrypoint: tuple[str, ...]
    dirs: tuple[str, ...] = ()
    symlinks: tuple[tuple[str, str], ...] = ()  # (path in the image, target)

    @property
    def ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.tag}"

    def digest(self) -> str:
        """A hash of the recipe and of every file's bytes: the cache key."""
        h = hashlib.sha256(repr((self.entrypoint, self.dirs, self.symlinks)).encode())
        for dest, src in self.files:
            h.update(dest.encode())
            h.update(src.read_bytes())
        return h.hexdigest()[:16]


def pause() -> Recipe:
    catatonit = common.which_or_install("catatonit", "catatonit")
    return Recipe(
        name="pause",
        tag="catatonit",
        files=(("catatonit", catatonit),),
        entrypoint=("/catatonit", "-P"),
    )


def busybox() -> Recipe:
    binary = common.which_or_install("busybox", "busybox-static", extra_paths=["/bin"])
    applets = ("sh", "ls", "cat", "rm", "touch", "ip", "sleep", "httpd", "wget")
    return Recipe(
        name="busybox",
        tag="static",
        files=(("bin/busybox", binary),),
        entrypoint=("/bin/busybox",),
        dirs=("www", "tmp"),
        symlinks=tuple((f"bin/{a}", "busybox") for a in applets),
    )


def archive(recipe: Recipe) -> Path:
    """The OCI archive of ``recipe``, built once per distinct input."""
    path = IMAGES / f"{recipe.name}-{recipe.digest()}.tar"
    if path.exists():
        return path
    umoci = common.which_or_install("umoci", "umoci")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=IMAGES) as tmp:
        layout, bundle = Path(tmp) / "layout", Path(tmp) / "bundle"
        image = f"{layout}:{recipe.tag}"
        common.run([umoci, "init", "--layout", layout])
        common.run([umoci, "new", "--image", image])
        common.run([umoci, "unpack", "--image", image, bundle])
        rootfs = bundle / "rootfs"
        for name in recipe.dirs:
            (rootfs / name).mkdir(parents=True, exist_ok=True)
            (rootfs / name).chmod(0o1777)
        for dest, src in recipe.files:
            (rootfs / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, rootfs / dest)
        for link, target in recipe.symlinks:
            (rootfs / link).symlink_to(target)
        common.run([umoci, "repack", "--image", image, bundle])
        entry = [f"--config.entrypoint={arg}" for arg in recipe.entrypoint]
        env = "--config.env=PATH=/bin"
        common.run([umoci, "config", "--image", image, *entry, "--config.cmd=", env])
        partial = path.with_suffix(".partial")
        common.run(["tar", "-C", layout, "-cf", partial, "."])
        partial.rename(path)  # last: an interrupted build leaves no archive that looks whole
    return path


def index_tags(archive_path: Path) -> list[str]:
    """The tags an archive's index names (to check what an import will create)."""
    out = common.run(["tar", "-xOf", archive_path, "./index.json"])
    manifests = json.loads(out).get("manifests", [])
    return [
        m.get("annotations", {}).get("org.opencontainers.image.ref.name", "") for m in manifests
    ]
