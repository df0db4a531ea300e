"""The Kafka cluster probe: against the real single-broker cluster, against a closed
port, and its replication logic on constructed metadata (one broker can never have
an under-replicated or offline partition for real)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from confluent_kafka.admin import AdminClient, NewTopic

from bot.health.brokers import kafka_cluster_verdict
from bot.health.verdict import Level
from bot.probes.clients import Clients
from bot.probes.kafka_cluster import (
    INTERNAL_TOPICS,
    BrokerInfo,
    KafkaClusterSnapshot,
    MissingBroker,
    PartitionInfo,
    TopicInfo,
    kafka_cluster_snapshot,
    leader_not_preferred,
    missing_brokers,
    offline,
    percent,
    split_servers,
    summarize,
    topics_and_partitions,
    under_replicated,
    unmatched_bootstrap,
)
from tests.conftest import KAFKA, free_port, make_settings

# --- real cluster ------------------------------------------------------------------


def _snapshot_with_topic(clients: Clients, topic: str, partitions: int, deadline_s: float = 20) -> KafkaClusterSnapshot:
    # A new topic's metadata reaches the broker's cache a moment after creation.
    deadline = time.monotonic() + deadline_s
    while True:
        snap = kafka_cluster_snapshot(clients, "local")
        found = [p for p in snap.partitions if p.topic == topic and p.leader != -1]
        if len(found) == partitions or time.monotonic() > deadline:
            return snap
        time.sleep(0.2)


def test_real_cluster_counts_a_new_topic(brokers: None, unique: str, tmp_path: Path) -> None:
    topic = f"brokerhealth-{unique}"
    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(timeout=30)
    settings = make_settings(tmp_path)
    try:
        snap = _snapshot_with_topic(Clients(settings), topic, 6)
        assert snap.reachable and snap.error is None
        assert snap.taken_at.tzinfo is not None and snap.taken_at.utcoffset().total_seconds() == 0
        assert [b.id for b in snap.brokers] == [1]
        assert snap.brokers[0].address == KAFKA
        assert snap.controller_id == 1
        assert snap.cluster_id
        assert TopicInfo(name=topic, partitions=6) in snap.topics
        mine = [p for p in snap.partitions if p.topic == topic]
        assert [p.partition for p in mine] == list(range(6))
        assert all(p.leader == 1 and p.replicas == [1] and p.isr == [1] and not p.internal for p in mine)
        assert snap.partition_count >= 6 and snap.topic_count >= 1
        assert snap.partition_count == sum(t.partitions for t in snap.topics)
        for t in snap.topics:
            assert t.internal == (t.name in INTERNAL_TOPICS)
        assert snap.under_replicated == [] and snap.offline == [] and snap.leader_not_preferred == []
        assert snap.missing_brokers == [] and snap.bootstrap_not_answering == []
        assert snap.elapsed_ms < settings.kafka["local"].request_timeout_s * 1000
        v = kafka_cluster_verdict(snap, settings.thresholds)
        assert v.level == Level.OK and "1 broker answering" in v.reasons[0]
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)


def test_unreachable_cluster_answers_within_the_timeout(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, kafka={"local": {"bootstrap_servers": dead, "request_timeout_s": 2}})
    clients = Clients(settings)
    started = time.monotonic()
    snap = kafka_cluster_snapshot(clients, "local")
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"took {elapsed:.2f}s"
    assert not snap.reachable
    assert snap.bootstrap_servers == [dead]
    assert snap.error_code in {"_TRANSPORT", "_TIMED_OUT"} and snap.error
    v = kafka_cluster_verdict(snap, settings.thresholds)
    assert v.level == Level.CRITICAL
    assert v.reasons[0].startswith(f"Kafka unreachable (tried {dead})")
    # The long-lived client is reused: a second question must not hang either.
    started = time.monotonic()
    assert not kafka_cluster_snapshot(clients, "local").reachable
    assert time.monotonic() - started < 3


def test_bootstrap_server_that_does_not_answer_is_reported(brokers: None, tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, kafka={"local": {"bootstrap_servers": f"{KAFKA},{dead}",
                                                        "request_timeout_s": 3}})
    snap = kafka_cluster_snapshot(Clients(settings), "local")
    assert snap.reachable
    assert snap.bootstrap_not_answering == [dead]
    v = kafka_cluster_verdict(snap, settings.thresholds)
    assert v.level == Level.CRITICAL and f"Bootstrap server {dead} is not answering" in v.reasons[0]


def test_bootstrap_alias_that_answers_is_not_an_outage(brokers: None, tmp_path: Path) -> None:
    alias = "localhost:" + KAFKA.rsplit(":", 1)[1]
    settings = make_settings(tmp_path, kafka={"local": {"bootstrap_servers": alias, "request_timeout_s": 3}})
    snap = kafka_cluster_snapshot(Clients(settings), "local")
    assert snap.reachable
    assert snap.bootstrap_not_answering == [] and snap.bootstrap_aliases == [alias]
    assert kafka_cluster_verdict(snap, settings.thresholds).level == Level.OK


# --- pure: constructed metadata ------------------------------------------------------


def part(topic: str, n: int, leader: int, replicas: list[int], isr: list[int]) -> PartitionInfo:
    return PartitionInfo(topic=topic, partition=n, leader=leader, replicas=replicas, isr=isr,
                         internal=topic in INTERNAL_TOPICS)


HEALTHY = [part("orders", i, 1 + i % 3, [1 + i % 3, 1 + (i + 1) % 3, 1 + (i + 2) % 3], [1, 2, 3])
           for i in range(118)]


def test_under_replicated_count_and_percentage() -> None:
    lagging = [part("payments", 0, 1, [1, 2, 3], [1, 3]), part("payments", 1, 2, [2, 3, 1], [2])]
    partitions = HEALTHY + lagging
    assert under_replicated(partitions) == lagging
    assert round(percent(len(lagging), len(partitions)), 2) == 1.67
    assert lagging[0].out_of_sync == [2] and lagging[1].out_of_sync == [3, 1]
    assert percent(0, 0) == 0.0


def test_offline_partitions_have_no_leader() -> None:
    dead = part("orders", 200, -1, [4, 5], [5])
    assert offline(HEALTHY + [dead]) == [dead]
    # Offline with a short ISR is under-replicated too, as kafka-topics.sh counts it.
    assert under_replicated([dead]) == [dead]
    assert under_replicated([part("x", 0, -1, [4], [4])]) == []


def test_leader_not_preferred_is_first_replica_check() -> None:
    moved = part("orders", 300, 2, [1, 2, 3], [1, 2, 3])
    partitions = HEALTHY + [moved, part("orders", 301, -1, [1, 2], [])]
    assert leader_not_preferred(partitions) == [moved]  # the offline one has no leader to compare
    assert moved.preferred_leader == 1
    assert part("x", 0, -1, [], []).preferred_leader is None


def test_missing_brokers_from_replica_lists() -> None:
    partitions = [part("a", 0, 1, [1, 3], [1]), part("a", 1, 1, [3, 1], [1]), part("b", 0, 2, [2, 4], [2])]
    assert missing_brokers(partitions, [1, 2]) == [MissingBroker(id=3, partitions=2), MissingBroker(id=4, partitions=1)]
    assert missing_brokers(partitions, [1, 2, 3, 4]) == []


def test_unmatched_bootstrap_servers() -> None:
    brokers = [BrokerInfo(id=1, host="kafka-1", port=9092), BrokerInfo(id=2, host="kafka-2", port=9092)]
    servers = split_servers("kafka-1:9092, KAFKA-2:9092,kafka-3:9092")
    assert servers == ["kafka-1:9092", "KAFKA-2:9092", "kafka-3:9092"]
    assert unmatched_bootstrap(servers, brokers) == ["kafka-3:9092"]


def test_topics_and_partitions_from_cluster_metadata_shape() -> None:
    def pm(i: int, leader: int, replicas: list[int], isrs: list[int]) -> SimpleNamespace:
        return SimpleNamespace(id=i, leader=leader, replicas=replicas, isrs=isrs, error=None)

    metadata = SimpleNamespace(topics={
        "orders": SimpleNamespace(error=None, partitions={1: pm(1, 2, [2, 1], [2]), 0: pm(0, 1, [1, 2], [1, 2])}),
        "__consumer_offsets": SimpleNamespace(error=None, partitions={0: pm(0, 1, [1], [1])}),
    })
    topics, partitions = topics_and_partitions(metadata)
    assert {t.name: (t.partitions, t.internal) for t in topics} == {
        "orders": (2, False), "__consumer_offsets": (1, True)}
    assert [p.name for p in partitions] == ["__consumer_offsets-0", "orders-0", "orders-1"]
    assert partitions[0].internal and under_replicated(partitions) == [partitions[2]]


def test_summarize_fills_every_derived_list() -> None:
    partitions = [part("orders", 0, 1, [1, 3], [1]), part("orders", 1, -1, [3], [3]),
                  part("orders", 2, 2, [1, 2], [1, 2]), part("__consumer_offsets", 0, 1, [1, 2], [1, 2])]
    snap = summarize(
        cluster="prod", bootstrap_servers=["kafka-1:9092"], taken_at=datetime.now(UTC), cluster_id="abc",
        controller_id=-1,
        brokers=[BrokerInfo(id=2, host="kafka-2", port=9092), BrokerInfo(id=1, host="kafka-1", port=9092)],
        topics=[TopicInfo(name="orders", partitions=3),
                TopicInfo(name="__consumer_offsets", partitions=1, internal=True)],
        partitions=partitions,
    )
    assert snap.controller_id is None  # -1 from metadata means none
    assert snap.broker_ids == [1, 2] and [b.id for b in snap.brokers] == [1, 2]
    assert [p.name for p in snap.under_replicated] == ["orders-0"]
    assert [p.name for p in snap.offline] == ["orders-1"]
    assert [p.name for p in snap.leader_not_preferred] == ["orders-2"]
    assert snap.missing_brokers == [MissingBroker(id=3, partitions=2)]
    assert snap.topic_count == 2 and snap.internal_topic_count == 1 and snap.partition_count == 4
    assert snap.under_replicated_percent == 25.0
