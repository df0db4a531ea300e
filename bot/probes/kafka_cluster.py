"""Kafka cluster snapshot: brokers, controller, topics and partition replication.

Two halves: `kafka_cluster_snapshot` talks to the cluster through the long-lived
AdminClient; `summarize` and the functions it calls turn plain broker/partition data
into counts, so the replication logic (which a one-broker test cluster can never
exercise for real) is tested on constructed data.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from pydantic import BaseModel, Field

from bot.probes.clients import Clients, op_timeout

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})
NO_LEADER = -1


class BrokerInfo(BaseModel):
    id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class TopicInfo(BaseModel):
    name: str
    partitions: int
    internal: bool = False
    error: str | None = None  # e.g. LEADER_NOT_AVAILABLE while a topic is being created


class PartitionInfo(BaseModel):
    topic: str
    partition: int
    leader: int = NO_LEADER  # -1: no leader, the partition is offline
    replicas: list[int] = Field(default_factory=list)  # first one is the preferred leader
    isr: list[int] = Field(default_factory=list)
    internal: bool = False
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def offline(self) -> bool:
        return self.leader == NO_LEADER

    @property
    def under_replicated(self) -> bool:
        # The definition kafka-topics.sh --under-replicated-partitions uses: it counts
        # offline partitions too when their ISR is short, so the two lists may overlap.
        return len(self.isr) < len(self.replicas)

    @property
    def preferred_leader(self) -> int | None:
        return self.replicas[0] if self.replicas else None

    @property
    def leader_not_preferred(self) -> bool:
        return not self.offline and self.preferred_leader is not None and self.leader != self.preferred_leader

    @property
    def out_of_sync(self) -> list[int]:
        return [r for r in self.replicas if r not in self.isr]


class MissingBroker(BaseModel):
    """A broker id that partitions are assigned to but that is not in the live list."""

    id: int
    partitions: int  # how many partitions have a replica on it


class KafkaClusterSnapshot(BaseModel):
    cluster: str  # the configured name, e.g. "local"
    taken_at: datetime  # UTC
    bootstrap_servers: list[str]
    reachable: bool
    error: str | None = None  # why the cluster could not be read, as librdkafka said it
    error_code: str | None = None  # e.g. _TRANSPORT, _TIMED_OUT
    cluster_id: str | None = None
    # In KRaft mode brokers answer with a live broker that forwards controller requests,
    # not the quorum leader; None means no broker could name one at all.
    controller_id: int | None = None
    brokers: list[BrokerInfo] = Field(default_factory=list)
    topics: list[TopicInfo] = Field(default_factory=list)
    partitions: list[PartitionInfo] = Field(default_factory=list)
    under_replicated: list[PartitionInfo] = Field(default_factory=list)
    offline: list[PartitionInfo] = Field(default_factory=list)
    leader_not_preferred: list[PartitionInfo] = Field(default_factory=list)
    missing_brokers: list[MissingBroker] = Field(default_factory=list)
    bootstrap_not_answering: list[str] = Field(default_factory=list)
    # Bootstrap entries that accept connections without being a broker's advertised
    # address: a load balancer or DNS alias, which is fine.
    bootstrap_aliases: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # partial failures worth showing
    elapsed_ms: float = 0.0

    @property
    def topic_count(self) -> int:
        return len(self.topics)

    @property
    def internal_topic_count(self) -> int:
        return sum(1 for t in self.topics if t.internal)

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def under_replicated_percent(self) -> float:
        return percent(len(self.under_replicated), self.partition_count)

    @property
    def broker_ids(self) -> list[int]:
        return sorted(b.id for b in self.brokers)


# --- pure part: plain data in, counts out -------------------------------------------


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def split_servers(bootstrap_servers: str) -> list[str]:
    return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]


def under_replicated(partitions: Iterable[PartitionInfo]) -> list[PartitionInfo]:
    return [p for p in partitions if p.under_replicated]


def offline(partitions: Iterable[PartitionInfo]) -> list[PartitionInfo]:
    return [p for p in partitions if p.offline]


def leader_not_preferred(partitions: Iterable[PartitionInfo]) -> list[PartitionInfo]:
    return [p for p in partitions if p.leader_not_preferred]


def missing_brokers(partitions: Iterable[PartitionInfo], live_ids: Iterable[int]) -> list[MissingBroker]:
    live = set(live_ids)
    counts: dict[int, int] = {}
    for p in partitions:
        for replica in set(p.replicas) - live:
            counts[replica] = counts.get(replica, 0) + 1
    return [MissingBroker(id=i, partitions=n) for i, n in sorted(counts.items())]


def unmatched_bootstrap(bootstrap: Iterable[str], brokers: Iterable[BrokerInfo]) -> list[str]:
    """Bootstrap host:port entries that no answering broker advertises."""
    advertised = {b.address.lower() for b in brokers}
    return [s for s in bootstrap if s.lower() not in advertised]


def summarize(
    *,
    cluster: str,
    bootstrap_servers: list[str],
    taken_at: datetime,
    cluster_id: str | None,
    controller_id: int | None,
    brokers: list[BrokerInfo],
    topics: list[TopicInfo],
    partitions: list[PartitionInfo],
    bootstrap_not_answering: list[str] | None = None,
    bootstrap_aliases: list[str] | None = None,
    notes: list[str] | None = None,
    elapsed_ms: float = 0.0,
) -> KafkaClusterSnapshot:
    """A reachable cluster's snapshot, with every derived list filled in."""
    return KafkaClusterSnapshot(
        cluster=cluster,
        taken_at=taken_at,
        bootstrap_servers=bootstrap_servers,
        reachable=True,
        cluster_id=cluster_id,
        controller_id=controller_id if controller_id is not None and controller_id >= 0 else None,
        brokers=sorted(brokers, key=lambda b: b.id),
        topics=sorted(topics, key=lambda t: t.name),
        partitions=partitions,
        under_replicated=under_replicated(partitions),
        offline=offline(partitions),
        leader_not_preferred=leader_not_preferred(partitions),
        missing_brokers=missing_brokers(partitions, (b.id for b in brokers)),
        bootstrap_not_answering=bootstrap_not_answering or [],
        bootstrap_aliases=bootstrap_aliases or [],
        notes=notes or [],
        elapsed_ms=elapsed_ms,
    )


def unreachable(cluster: str, bootstrap_servers: list[str], error: str, error_code: str | None,
                taken_at: datetime, elapsed_ms: float = 0.0) -> KafkaClusterSnapshot:
    return KafkaClusterSnapshot(cluster=cluster, taken_at=taken_at, bootstrap_servers=bootstrap_servers,
                                reachable=False, error=error, error_code=error_code, elapsed_ms=elapsed_ms)


def topics_and_partitions(metadata: Any) -> tuple[list[TopicInfo], list[PartitionInfo]]:
    """From confluent-kafka's ClusterMetadata (or anything shaped like it)."""
    topics: list[TopicInfo] = []
    partitions: list[PartitionInfo] = []
    for name, tm in metadata.topics.items():
        internal = name in INTERNAL_TOPICS
        topics.append(TopicInfo(name=name, partitions=len(tm.partitions), internal=internal,
                                error=_error_text(tm.error)))
        for pm in sorted(tm.partitions.values(), key=lambda p: p.id):
            partitions.append(PartitionInfo(
                topic=name, partition=pm.id, leader=pm.leader, replicas=list(pm.replicas),
                isr=list(pm.isrs), internal=internal, error=_error_text(pm.error),
            ))
    partitions.sort(key=lambda p: (p.topic, p.partition))
    return topics, partitions


def _error_text(error: KafkaError | None) -> str | None:
    return None if error is None else error.name()


def _describe_error(exc: KafkaException) -> tuple[str, str | None]:
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError):
        return err.str(), err.name()
    return str(exc), None


# --- the probe -------------------------------------------------------------------


def kafka_cluster_snapshot(clients: Clients, cluster: str) -> KafkaClusterSnapshot:
    """Read the cluster's state; returns within about request_timeout_s even when no
    broker answers (the snapshot then has reachable=False and the error)."""
    settings = clients.settings.kafka[cluster]
    timeout = settings.request_timeout_s
    bootstrap = split_servers(settings.bootstrap_servers)
    taken_at = datetime.now(UTC)
    started = time.monotonic()

    def elapsed_ms() -> float:
        return (time.monotonic() - started) * 1000

    admin = clients.kafka_admin(cluster)
    notes: list[str] = []
    try:
        # Started first so that it runs while list_topics blocks: run one after the
        # other, a dead cluster would cost two timeouts.
        described = admin.describe_cluster(include_authorized_operations=False, request_timeout=op_timeout(timeout))
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        error, code = _describe_error(exc)
        return unreachable(cluster, bootstrap, error, code, taken_at, elapsed_ms())

    topics, partitions = topics_and_partitions(metadata)
    # Metadata alone is enough to judge the cluster; describe_cluster adds racks and
    # is preferred for the controller, but its failure is a note, not an outage.
    brokers = [BrokerInfo(id=b.id, host=b.host, port=b.port) for b in metadata.brokers.values()]
    controller_id: int | None = metadata.controller_id
    cluster_id: str | None = metadata.cluster_id
    try:
        description = described.result(timeout=max(0.1, timeout - (time.monotonic() - started)))
    except KafkaException as exc:
        notes.append(f"describe_cluster failed ({_describe_error(exc)[0]}); brokers and controller are from metadata")
    except TimeoutError:
        notes.append(f"describe_cluster did not answer within {timeout:g}s; brokers and controller are from metadata")
    else:
        brokers = [BrokerInfo(id=n.id, host=n.host, port=n.port, rack=n.rack) for n in description.nodes]
        controller_id = description.controller.id if description.controller is not None else None
        cluster_id = description.cluster_id or cluster_id

    unmatched = unmatched_bootstrap(bootstrap, brokers)
    answering = _tcp_reachable(unmatched, max(0.1, timeout - (time.monotonic() - started)))
    return summarize(
        cluster=cluster, bootstrap_servers=bootstrap, taken_at=taken_at, cluster_id=cluster_id,
        controller_id=controller_id, brokers=brokers, topics=topics, partitions=partitions,
        bootstrap_not_answering=[s for s in unmatched if s not in answering],
        bootstrap_aliases=[s for s in unmatched if s in answering],
        notes=notes, elapsed_ms=elapsed_ms(),
    )


def _tcp_reachable(servers: list[str], timeout: float) -> set[str]:
    """Which host:port entries accept a TCP connection within the timeout.

    A bootstrap entry that no broker advertises is either a dead broker or an alias
    (load balancer, DNS name); only a connection attempt tells them apart.
    """
    if not servers:
        return set()

    def connects(server: str) -> bool:
        host, port = server.rsplit(":", 1)
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return True
        except OSError:
            return False

    pool = ThreadPoolExecutor(max_workers=len(servers))
    futures = {pool.submit(connects, s): s for s in servers}
    # Name resolution is not bound by the socket timeout, so the wait is; a thread
    # still stuck in DNS counts as not answering and is left to finish on its own.
    done, _ = wait(futures, timeout=timeout + 0.5)
    pool.shutdown(wait=False, cancel_futures=True)
    return {futures[f] for f in done if f.result()}
