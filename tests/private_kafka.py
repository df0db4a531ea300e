"""A Kafka broker of the test's own: one KRaft node (broker and controller) on free
ports with its own data folder, from the jars scripts/services fetched, so a drill
can kill and restart it. The shared Kafka is never touched."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tests.conftest import free_port

KAFKA_VERSION = os.environ.get("KAFKA_VERSION", "4.1.1")  # the version scripts/services pins
CACHE = Path(os.environ.get("INCIDENTBOT_CACHE", Path.home() / ".cache" / "incidentbot"))
KAFKA_HOME = CACHE / f"kafka-{KAFKA_VERSION}"
# Small and quick to start: the broker holds a few messages, and the test pays for its start.
JVM = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]
READY_S = 90


class PrivateKafka:
    def __init__(self) -> None:
        if not (KAFKA_HOME / ".complete").exists():
            raise RuntimeError(f"no Kafka jars in {KAFKA_HOME}: run scripts/services up once")
        self.folder = Path(tempfile.mkdtemp(prefix="private-kafka-"))
        self.port, self.controller_port = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = self.folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        (self.folder / "server.properties").write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://{self.bootstrap}", "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT", f"log.dirs={self.folder / 'data'}", "num.partitions=1",
            "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=false", "num.network.threads=1",
            "num.io.threads=2", "background.threads=2", ""]))

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", *JVM, f"-Dlog4j2.configurationFile={KAFKA_HOME / 'config' / 'log4j2.properties'}",
                "-cp", str(KAFKA_HOME / "libs" / "*"), main, *args]

    def start(self) -> None:
        """Format the storage the first time, start the broker and wait until it serves."""
        if not (self.folder / "data" / "meta.properties").exists():
            cluster_id = _kafka_uuid()
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", cluster_id,
                                      "-c", str(self.folder / "server.properties")),
                           check=True, capture_output=True, timeout=120)
        started_at = self.log.stat().st_size if self.log.exists() else 0  # a restart appends
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self._java("kafka.Kafka", str(self.folder / "server.properties")),
                                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_S
        while not (self._port_open() and b"Kafka Server started" in self.log.read_bytes()[started_at:]):
            if self.process.poll() is not None:
                raise RuntimeError(f"the private Kafka exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private Kafka is not ready after {READY_S}s: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        self._wait_for_leaders(deadline)

    def _wait_for_leaders(self, deadline: float) -> None:
        """Started is not yet serving: after a restart the partitions get their leader a
        moment later. Ready means every partition has one."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while True:
            try:
                topics = admin.list_topics(timeout=5).topics.values()
                if all(t.error is None and all(p.leader >= 0 for p in t.partitions.values()) for t in topics):
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private Kafka's partitions have no leader after {READY_S}s")
            time.sleep(0.2)

    def freeze(self) -> None:
        """Stop answering without closing anything: requests already sent hang."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL: what a crashed broker or a pulled plug looks like to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.process = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _port_open(self) -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.port)) == 0


def _kafka_uuid() -> str:
    """A cluster id as Kafka writes one: 16 random bytes, URL-safe base64 without padding."""
    while True:
        value = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not value.startswith("-"):  # Kafka's own random ids avoid a leading dash (it reads as an option)
            return value
