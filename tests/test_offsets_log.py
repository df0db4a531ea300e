"""Committed offsets read from the real cluster's `__consumer_offsets`: what a look at
many groups reads instead of asking each group. Each answer is compared with what
Kafka's OffsetFetch says (the per-group path), right after the change, no waiting."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition

from bot.probes import kafka_lag
from bot.probes.offsets_log import OffsetsLog
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA


def started(log: OffsetsLog) -> OffsetsLog:
    """Once it has read the topic's history: until then it leaves looks to the requests."""
    deadline = time.monotonic() + 60
    while log.committed(kf.admin(), [], 10) is None:
        assert time.monotonic() < deadline, "the follower did not read __consumer_offsets to its end in 60 s"
        time.sleep(0.05)
    return log


@pytest.fixture(scope="module")
def follower() -> Iterator[OffsetsLog]:
    log = OffsetsLog({"bootstrap.servers": KAFKA}, "local")
    yield started(log)
    log.close()


def rows(snap: kafka_lag.LagSnapshot) -> dict[tuple[str, str, int], tuple[int | None, int]]:
    return {(g.group, p.topic, p.partition): (p.committed, p.log_end) for g in snap.groups for p in g.partitions}


def test_a_commit_or_reset_is_read_at_once_and_a_deleted_group_is_gone(follower: OffsetsLog, brokers: None,
                                                              unique: str) -> None:
    topic, group = f"olog-{unique}", f"olog-group-{unique}"
    kf.create_topic(topic, 3)
    kf.commit(group, {(topic, 0): 4, (topic, 1): 9})
    assert follower.committed(kf.admin(), [group], 10) == {group: {(topic, 0): 4, (topic, 1): 9}}
    kf.commit(group, {(topic, 1): 11, (topic, 2): 1})
    assert follower.committed(kf.admin(), [group], 10) == {group: {(topic, 0): 4, (topic, 1): 11, (topic, 2): 1}}
    kf.admin().alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])])[group].result(timeout=30)
    assert follower.committed(kf.admin(), [group], 10) == {group: {(topic, 0): 0, (topic, 1): 11, (topic, 2): 1}}
    kf.admin().delete_consumer_groups([group])[group].result(timeout=30)
    assert follower.committed(kf.admin(), [group], 10) == {group: {}}


def test_a_transactional_commit_counts_only_once_committed(follower: OffsetsLog, brokers: None, unique: str) -> None:
    topic, group = f"olog-tx-{unique}", f"olog-tx-group-{unique}"
    kf.create_topic(topic, 1)
    kf.commit(group, {(topic, 0): 1})
    producer = Producer({"bootstrap.servers": KAFKA, "transactional.id": f"olog-{unique}"})
    producer.init_transactions(30)
    # A consumer of the group that never joins it: its metadata names the group only.
    reader = Consumer({"bootstrap.servers": KAFKA, "group.id": group})
    for outcome, offset, expected in (("abort", 5, 1), ("commit", 7, 7)):
        producer.begin_transaction()
        producer.produce(topic, value=b"x", partition=0)
        producer.send_offsets_to_transaction([TopicPartition(topic, 0, offset)], reader.consumer_group_metadata(), 30)
        # Open: OffsetFetch and the follower both still say the old offset.
        assert follower.committed(kf.admin(), [group], 10) == {group: {(topic, 0): 1}}
        getattr(producer, f"{outcome}_transaction")(30)
        # The coordinator writes the transaction's markers after it answers, so the
        # outcome shows within moments, not at once (OffsetFetch answers the same way).
        seen = []
        deadline = time.monotonic() + 10
        while (not seen or seen[-1] != expected) and time.monotonic() < deadline:
            seen.append(follower.committed(kf.admin(), [group], 10)[group][(topic, 0)])  # type: ignore[index]
        assert seen[-1] == expected and set(seen) <= {1, expected}  # the aborted 5 is never seen
    reader.close()


def test_a_look_at_many_groups_matches_the_per_group_requests(follower: OffsetsLog, brokers: None,
                                                              unique: str) -> None:
    topic = f"olog-many-{unique}"
    kf.create_topic(topic, 4)
    kf.produce(topic, {p: 20 for p in range(4)})
    groups = [f"olog-many-{unique}-{i:02d}" for i in range(kafka_lag.LOG_MIN_GROUPS + 5)]
    for i, group in enumerate(groups):
        kf.commit(group, {(topic, p): (i + p) % 20 for p in range(4) if (i + p) % 3})
    keep = set(groups).__contains__
    by_log = kafka_lag.snapshot(kf.admin(), "local", None, 10, keep=keep, offsets=lambda: follower)
    by_requests = kafka_lag.snapshot(kf.admin(), "local", None, 10, keep=keep)
    assert len(by_log.groups) == len(groups)
    assert rows(by_log) == rows(by_requests) and len(rows(by_log)) == sum(
        1 for i in range(len(groups)) for p in range(4) if (i + p) % 3)


def test_a_follower_that_cannot_read_the_topic_leaves_the_look_to_the_requests(brokers: None, unique: str) -> None:
    topic = f"olog-refused-{unique}"
    kf.create_topic(topic, 1)
    groups = [f"olog-refused-{unique}-{i:02d}" for i in range(kafka_lag.LOG_MIN_GROUPS)]
    for i, group in enumerate(groups):
        kf.commit(group, {(topic, 0): i})
    log = OffsetsLog({"bootstrap.servers": KAFKA}, "local")
    try:
        log.refused = "Broker: Topic authorization failed"  # what a principal without Read on it gets
        assert log.committed(kf.admin(), groups, 10) is None
        snap = kafka_lag.snapshot(kf.admin(), "local", groups, 10, offsets=lambda: log)
    finally:
        log.close()
    assert {g.group: [p.committed for p in g.partitions] for g in snap.groups} == {g: [i] for i, g in enumerate(groups)}
