"""A folder of jars from Maven Central: a pom's runtime classpath, for the JVM servers we run.

Neo4j and Kafka have no Debian package and their release tarballs live on hosts the test
machines cannot reach; their jars are on Maven Central. A pom naming the artifact, and Maven's
dependency plugin copies its whole runtime classpath into one folder for ``java -cp 'lib/*'``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.env import common

# Pinned so that a cold install does not depend on whichever plugin version Maven picks.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def classpath(pom: str, lib: Path, *, what: str) -> None:
    """Resolve ``pom`` (its text) and copy its runtime classpath into ``lib`` (emptied first)."""
    mvn = common.which_or_install("mvn", "maven")
    shutil.rmtree(lib, ignore_errors=True)  # what an interrupted run left behind
    build = lib.parent / "build"
    build.mkdir(parents=True, exist_ok=True)
    (build / "pom.xml").write_text(pom)
    proc = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            build / "pom.xml",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ],
        cwd=build,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # Maven prints its errors on stdout
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise common.EnvMissing(
            f"Maven could not fetch {what} from Maven Central (network, or a proxy/mirror"
            f" missing from ~/.m2/settings.xml?):\n{tail}"
        )
    shutil.rmtree(build)
