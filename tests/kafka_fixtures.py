"""Helpers that put known data into the real Kafka: topics, messages per partition,
committed offsets, live group members."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import KAFKA

_admin: AdminClient | None = None


def admin() -> AdminClient:
    """One client for the test session: a client dropped while its futures are
    pending cancels them."""
    global _admin
    if _admin is None:
        _admin = AdminClient({"bootstrap.servers": KAFKA})
    return _admin


def create_topic(name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin().create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(timeout=30)


def produce(topic: str, counts: dict[int, int], headers: list[tuple[str, bytes]] | None = None) -> None:
    """counts: partition -> number of messages."""
    producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
    for partition, n in counts.items():
        for i in range(n):
            while True:
                try:
                    producer.produce(topic, key=f"k{i}".encode(), value=f"message {i}".encode(),
                                     partition=partition, headers=headers)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.2)
    assert producer.flush(30) == 0


def produce_at(topic: str, partition: int, timestamps_ms: list[int]) -> None:
    """One record per timestamp (CreateTime, as a producer sets it) into `partition`."""
    producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
    for i, ts in enumerate(timestamps_ms):
        producer.produce(topic, value=f"message {i}".encode(), partition=partition, timestamp=ts)
    assert producer.flush(30) == 0


def commit(group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for a group without joining it (as an assign() user would)."""
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


@contextmanager
def members(group: str, topic: str, n: int, client_prefix: str = "worker") -> Iterator[list[Consumer]]:
    """n live members of `group` subscribed to `topic`, polled until every one has
    its assignment; they commit nothing by themselves."""
    consumers = [
        Consumer({"bootstrap.servers": KAFKA, "group.id": group, "client.id": f"{client_prefix}-{i}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 45000, "heartbeat.interval.ms": 1000})
        for i in range(n)
    ]
    try:
        for c in consumers:
            c.subscribe([topic])
        deadline = time.time() + 60
        while time.time() < deadline:
            for c in consumers:
                c.poll(0.2)
            if all(c.assignment() for c in consumers):
                state = admin().describe_consumer_groups([group])[group].result(timeout=10)
                if state.state.name == "STABLE" and all(m.assignment.topic_partitions for m in state.members):
                    break
        else:
            raise AssertionError(f"{group} did not settle with {n} members")
        yield consumers
    finally:
        for c in consumers:
            c.close()
