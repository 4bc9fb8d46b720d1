"""Neo4j 5.26 community server, built from Maven Central jars, on a free loopback Bolt port.

The Neo4j checks need a real server that speaks Bolt and enforces a password. Debian ships no
Neo4j and the release tarball lives on a host the test machines cannot reach, so
:func:`ensure_installed` has Maven resolve ``org.neo4j:neo4j`` (the community edition, which
holds the server entry point) with its runtime dependencies into one folder of jars, and
:func:`start` runs ``org.neo4j.server.CommunityEntryPoint`` from it: the same command line that
``neo4j console --dry-run`` prints, minus the bootloader JVM in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import neo4j

from tests.env import common, jvm, maven

NEO4J_VERSION = "5.26.30"  # newest 5.26 (LTS) patch on Maven Central
USER = "neo4j"  # the initial admin user
PASSWORD = "neo4j-canary-Pw-3c5d"  # a canary: tests assert it never appears in sidecar output
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"  # what `neo4j-admin` runs in its child JVM

# A pom with the one dependency we want; copy-dependencies then yields the whole classpath.
_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>healthgate.tests</groupId>
  <artifactId>neo4j-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.neo4j</groupId>
      <artifactId>neo4j</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

# The heap a health-check test needs is small, and the JVM commits all of -Xmx during start-up
# anyway, so a smaller heap is a smaller RSS. C1 only and the serial GC start faster on two
# cores. The rest is what the neo4j.conf shipped with 5.26 passes (server.jvm.additional):
# without the --add-opens the page cache and the transaction log fall back to slower paths
# and log a warning on every file they touch.
JVM_FLAGS = (
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",  # die visibly rather than answer half the requests
    "-Dfile.encoding=UTF-8",
    "-Dlog4j2.disable.jmx=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


@dataclass
class Neo4jServer:
    """A running Neo4j; ``stop``/``start`` simulate an outage, keeping the port and the data."""

    host: str
    bolt_port: int
    user: str
    password: str
    workdir: Path
    lib: Path  # the folder of jars from ensure_installed()
    process: common.Process | None = None

    @property
    def uri(self) -> str:
        return f"bolt://{self.host}:{self.bolt_port}"

    @property
    def conf_dir(self) -> Path:
        return self.workdir / "conf"

    def start(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "neo4j.conf").write_text(self._config())
        if not (self.workdir / "data" / "databases" / "system").exists():
            self._set_initial_password()
        self.process = jvm.start(
            "console",
            lib=self.lib,
            main_class=ENTRY_POINT,
            args=[
                f"--home-dir={self.workdir}",
                f"--config-dir={self.conf_dir}",
                "--console-mode",  # the user log on stdout too, so log_tail() explains failures
            ],
            flags=JVM_FLAGS,
            log_dir=self.workdir / "logs",
            ready=lambda _process: self._accepts_login(),
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=jvm.STOP_TIMEOUT)
            self.process = None

    def _config(self) -> str:
        settings = {
            "server.default_listen_address": self.host,
            "server.default_advertised_address": self.host,  # for neo4j:// routing tables
            "server.bolt.listen_address": f"{self.host}:{self.bolt_port}",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "server.memory.pagecache.size": "16m",
            "server.directories.data": self.workdir / "data",
            "server.directories.logs": self.workdir / "logs",
            "server.directories.run": self.workdir / "run",
            "dbms.usage_report.enabled": "false",
            # Otherwise every database preallocates 256 MB of transaction log on disk.
            "db.tx_log.preallocate": "false",
            # Bolt waits 2 x 5 s for connections and threads on shutdown; tests that stop
            # Neo4j to simulate an outage should not pay for that (the data is already safe).
            "internal.server.bolt.connection_shutdown_wait_time": "0s",
            "internal.server.bolt.thread_pool_shutdown_wait_time": "0s",
            "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
            "internal.dbms.bolt.netty_server_shutdown_timeout": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _set_initial_password(self) -> None:
        """``neo4j-admin dbms set-initial-password``: writes data/dbms/auth.ini for first start."""
        # The message leaves out the command line: it has the password.
        jvm.tool(
            self.lib,
            ADMIN_TOOL,
            "dbms",
            "set-initial-password",
            self.password,
            what="neo4j-admin dbms set-initial-password",
            env={"NEO4J_HOME": str(self.workdir), "NEO4J_CONF": str(self.conf_dir)},
        )

    def _accepts_login(self) -> bool:
        """Ready means a real Bolt login and query work, not merely that the port is open."""
        if not common.port_open(self.host, self.bolt_port):
            return False
        try:
            # A session's auto-commit query is tried once (execute_query would retry for up to
            # 30 s), and the short timeouts keep a listener that never answers from stalling
            # the loop that notices a dead JVM.
            with (
                neo4j.GraphDatabase.driver(
                    self.uri,
                    auth=(self.user, self.password),
                    connection_timeout=2.0,
                    connection_acquisition_timeout=5.0,
                ) as driver,
                driver.session() as session,
            ):
                record = session.run("RETURN 1 AS ok").single(strict=True)
        except neo4j.exceptions.AuthError as exc:
            # Retrying would not help and would trip Neo4j's failed-login rate limit.
            raise common.EnvMissing(
                f"Neo4j at {self.uri} refused the test password: {exc}"
            ) from exc
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError):
            return False  # not up yet: Bolt may accept connections before it can answer
        return bool(record["ok"] == 1)


def ensure_installed() -> Path:
    """The folder of every jar Neo4j needs, fetched from Maven Central on first use."""
    return common.cached("neo4j", NEO4J_VERSION, _install) / "lib"


def _install(dest: Path) -> None:
    jvm.java()
    lib = dest / "lib"
    common.progress(
        f"downloading Neo4j {NEO4J_VERSION} and its dependencies from Maven Central into {lib}"
        " (~125 MB; a minute or two)"
    )
    maven.classpath(
        _POM.format(version=NEO4J_VERSION), lib, what=f"org.neo4j:neo4j:{NEO4J_VERSION}"
    )
    if not (lib / f"neo4j-{NEO4J_VERSION}.jar").exists():
        raise common.EnvMissing(f"Maven ran but left no neo4j-{NEO4J_VERSION}.jar in {lib}")


def start(workdir: Path, host: str = "127.0.0.1") -> Neo4jServer:
    lib = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    server = Neo4jServer(
        host=host,
        bolt_port=common.free_port(host),
        user=USER,
        password=PASSWORD,
        workdir=workdir,
        lib=lib,
    )
    server.start()
    return server
