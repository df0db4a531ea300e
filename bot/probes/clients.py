"""Long-lived broker clients, one per configured cluster, shared by every probe.

Creating an AdminClient costs a bootstrap round trip and a thread; a bot that
creates one per question is slow and leaks connections, so they are made once.
"""

from __future__ import annotations

import logging
import threading
import time

import pika
import requests
from confluent_kafka.admin import AdminClient

from bot.config import KafkaClusterSettings, RabbitMQSettings, Settings
from bot.probes.offsets_log import OffsetsLog
from bot.probes.schema_registry import SchemaRegistryProbe
from bot.probes.timeouts import op_timeout

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger("librdkafka")

RECONNECT_BACKOFF_MAX_MS = 1000
# Clients replaced because their cluster did not answer are kept this long past their
# operations' timeout, then dropped; at most this many at once (a cluster that stays
# down keeps its last client rather than making a new one per question).
RETIRE_MARGIN_S = 10
MAX_RETIRED = 8
_failed: set[int] = set()
_failed_lock = threading.Lock()


def admin_failed(admin: AdminClient) -> None:
    """A probe found `admin`'s cluster unreachable. An AdminClient whose group
    coordinator died with requests in flight never asks that coordinator again, even
    once the broker is back: in the Kafka outage drill (tests/test_kafka_outage_drill.py)
    DescribeGroups and OffsetFetch got no answer for 150 s after the restart while a new
    client was answered at once, so every `/lag` said "unreachable" until the bot was
    restarted. The next use of the cluster gets a new client."""
    with _failed_lock:
        _failed.add(id(admin))


def _take_failed(admin: AdminClient) -> bool:
    with _failed_lock:
        if id(admin) in _failed:
            _failed.discard(id(admin))
            return True
        return False


def kafka_config(cluster: KafkaClusterSettings) -> dict[str, object]:
    return {
        "bootstrap.servers": cluster.bootstrap_servers,
        "client.id": "incidentbot",
        "socket.timeout.ms": int(op_timeout(cluster.request_timeout_s) * 1000),
        # librdkafka waits up to 10 s between tries to reach a broker that went away; a
        # broker back in the meantime would still be "unreachable" to the next command.
        # A try a second costs nothing and makes the first command after it comes back work.
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
        # librdkafka prints to stderr by default; route it through logging so a
        # broker that is down does not flood the console.
        "logger": _librdkafka_log,
        **cluster.client_config,
    }


def amqp_parameters(rabbit: RabbitMQSettings) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        host=rabbit.host,
        port=rabbit.port,
        virtual_host=rabbit.vhost,
        credentials=pika.PlainCredentials(rabbit.username, rabbit.password.get_secret_value()),
        connection_attempts=1,
        socket_timeout=rabbit.request_timeout_s,
        blocked_connection_timeout=rabbit.request_timeout_s,
        stack_timeout=rabbit.request_timeout_s * 2,
        client_properties={"connection_name": "incidentbot"},
    )


class Clients:
    """The bot's broker clients, made lazily and kept for the life of the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._admins: dict[str, AdminClient] = {}
        self._retired: list[tuple[float, AdminClient]] = []
        self._http: dict[str, requests.Session] = {}
        self._registries: dict[str, SchemaRegistryProbe] = {}
        self._offsets_logs: dict[str, OffsetsLog] = {}

    def kafka_admin(self, cluster: str) -> AdminClient:
        with self._lock:
            now = time.monotonic()
            # Dropped once their abandoned operations have ended (dropping earlier cancels them in flight).
            self._retired = [(until, a) for until, a in self._retired if until > now]
            admin = self._admins.get(cluster)
            if admin is not None and len(self._retired) < MAX_RETIRED and _take_failed(admin):
                timeout = op_timeout(self.settings.kafka[cluster].request_timeout_s)
                self._retired.append((now + timeout + RETIRE_MARGIN_S, admin))
                admin = None
            if admin is None:
                admin = self._admins[cluster] = AdminClient(kafka_config(self.settings.kafka[cluster]))
            return admin

    def offsets_log(self, cluster: str) -> OffsetsLog | None:
        """The follower of the cluster's committed offsets, started at the first look that
        wants it; None when configured off or when the cluster refused it."""
        settings = self.settings.kafka[cluster]
        if settings.committed_offsets != "log":
            return None
        with self._lock:
            follower = self._offsets_logs.get(cluster)
            if follower is None:
                follower = self._offsets_logs[cluster] = OffsetsLog(kafka_config(settings), cluster)
        return None if follower.refused else follower

    def close(self) -> None:
        with self._lock:
            followers, self._offsets_logs = list(self._offsets_logs.values()), {}
        for follower in followers:
            follower.close()

    def rabbit_http(self, cluster: str) -> requests.Session:
        """A session for the RabbitMQ management API, with its credentials set."""
        with self._lock:
            if cluster not in self._http:
                rabbit = self.settings.rabbitmq[cluster]
                session = requests.Session()
                session.auth = (rabbit.username, rabbit.password.get_secret_value())
                self._http[cluster] = session
            return self._http[cluster]

    def schema_registry(self, name: str) -> SchemaRegistryProbe:
        with self._lock:
            if name not in self._registries:
                self._registries[name] = SchemaRegistryProbe(name, self.settings.schema_registry[name])
            return self._registries[name]

    def amqp(self, cluster: str) -> pika.BlockingConnection:
        """A new AMQP connection; the caller closes it. pika's blocking connections
        are not thread-safe, so they are never shared between threads."""
        return pika.BlockingConnection(amqp_parameters(self.settings.rabbitmq[cluster]))
