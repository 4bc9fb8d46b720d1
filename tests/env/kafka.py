"""Apache Kafka 4 in KRaft mode (one combined broker + controller), from Maven Central jars.

The kafka checks need a real broker. Debian ships none and the release tarball lives on a host
the test machines cannot reach, so, as for Neo4j, Maven resolves ``org.apache.kafka:kafka_2.13``
with its runtime dependencies into one folder of jars (plus log4j's SLF4J binding, which the
tarball adds in its libs/), and :func:`start` does what ``kafka-storage.sh format`` and
``kafka-server-start.sh`` do: ``kafka.tools.StorageTool format``, then ``kafka.Kafka``.

The broker listens on two loopback ports: PLAINTEXT, and SASL_PLAINTEXT with the PLAIN mechanism
and one user (:data:`USER`, :data:`PASSWORD`), so the checks' password path meets a real login.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.env import common, jvm, maven

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"  # the log4j-core Kafka 4.1.1 depends on
USER = "healthgate"
PASSWORD = "kafka-canary-Pw-5b2e"  # a canary: tests assert it never appears in sidecar output

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>healthgate.tests</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

# A small heap and C1 only: a health-check test sends a handful of metadata requests.
JVM_FLAGS = (
    "-Xms64m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

_LOG4J = """rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
"""


@dataclass
class KafkaServer:
    """A running broker; ``stop``/``start`` simulate an outage, keeping the ports and the data."""

    host: str
    port: int  # PLAINTEXT
    sasl_port: int  # SASL_PLAINTEXT, mechanism PLAIN
    controller_port: int
    workdir: Path
    lib: Path
    process: common.Process | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"{self.host}:{self.sasl_port}"

    def start(self) -> None:
        config = self.workdir / "server.properties"
        config.write_text(self._config())
        (self.workdir / "log4j2.properties").write_text(_LOG4J)
        if not (self.workdir / "data" / "meta.properties").exists():
            self._format(config)
        self.process = jvm.start(
            "kafka",
            lib=self.lib,
            main_class="kafka.Kafka",
            args=[config],
            flags=[*JVM_FLAGS, *self._log_flags()],
            log_dir=self.workdir,
            ready=self._started,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=jvm.STOP_TIMEOUT)
            self.process = None

    def _log_flags(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}"]

    def _started(self, process: common.Process) -> bool:
        # The broker logs this once its listeners accept and it has joined the quorum.
        return "Kafka Server started" in process.log_tail(200) and common.port_open(
            self.host, self.port
        )

    def _config(self) -> str:
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{USER}="{PASSWORD}";'
        )
        listeners = {
            "PLAINTEXT": self.port,
            "SASL_PLAINTEXT": self.sasl_port,
            "CONTROLLER": self.controller_port,
        }
        advertised = [f"{n}://{self.host}:{p}" for n, p in listeners.items() if n != "CONTROLLER"]
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": ",".join(f"{n}://{self.host}:{p}" for n, p in listeners.items()),
            "advertised.listeners": ",".join(advertised),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(f"{n}:{n}" for n in listeners).replace(
                "CONTROLLER:CONTROLLER", "CONTROLLER:PLAINTEXT"
            ),
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
            "log.dirs": self.workdir / "data",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A missing topic must stay missing: a metadata request would otherwise create it.
            "auto.create.topics.enable": "false",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _format(self, config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # The "=" form: an id may start with "-", which argparse would take for an option.
        jvm.tool(
            self.lib,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            f"--config={config}",
            what="kafka.tools.StorageTool format",
            flags=self._log_flags(),
        )

    def create_topic(self, name: str, partitions: int = 3) -> None:
        """Create a topic through the admin API (``kafka-topics.sh`` lives in another artifact)."""
        asyncio.run(self._create_topic(name, partitions))

    async def _create_topic(self, name: str, partitions: int) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        finally:
            await admin.close()


def ensure_installed() -> Path:
    """The folder of every jar Kafka needs, fetched from Maven Central on first use."""
    return common.cached("kafka", KAFKA_VERSION, _install) / "lib"


def _install(dest: Path) -> None:
    jvm.java()
    lib = dest / "lib"
    common.progress(
        f"downloading Kafka {KAFKA_VERSION} and its dependencies from Maven Central into {lib}"
        " (~45 MB; under a minute)"
    )
    pom = _POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION)
    maven.classpath(pom, lib, what=f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}")
    if not (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        raise common.EnvMissing(f"Maven ran but left no kafka_2.13-{KAFKA_VERSION}.jar in {lib}")


def start(workdir: Path, host: str = "127.0.0.1") -> KafkaServer:
    lib = ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    server = KafkaServer(
        host=host,
        port=common.free_port(host),
        sasl_port=common.free_port(host),
        controller_port=common.free_port(host),
        workdir=workdir,
        lib=lib,
    )
    server.start()
    return server
