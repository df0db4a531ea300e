"""The Kafka DLQ probe against the real broker: discovery, exact depth (also after
delete_records moved the start), newest-N sampling, header parsing for Kafka
Connect and Spring, pattern grouping, and proof that sampling leaves no group."""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bot.config import DlqSettings
from bot.probes import kafka_dlq
from bot.probes.clients import Clients
from bot.probes.dlq_models import DepthObservation, error_rate_percent, growth_per_minute, normalise_message
from bot.probes.kafka_dlq import DlqNotFound, discover, header_int, kafka_dlq_snapshots, parse_error_headers
from tests.conftest import KAFKA, make_settings

CONNECT_CLASS = "org.apache.kafka.connect.errors.DataException"
SPRING_CAUSE = "java.lang.IllegalStateException"


@dataclass
class Topics:
    source: str
    dlq: str
    produced: list[tuple[int, int]]  # (partition, offset) of each DLQ message, oldest first


_admin: AdminClient | None = None


def admin() -> AdminClient:
    global _admin
    if _admin is None:
        _admin = AdminClient({"bootstrap.servers": KAFKA})
    return _admin


def _connect_headers(source: str, i: int) -> list[tuple[str, bytes]]:
    return [
        ("__connect.errors.topic", source.encode()),
        ("__connect.errors.partition", b"2"),
        ("__connect.errors.offset", str(100 + i).encode()),
        ("__connect.errors.connector.name", b"orders-sink"),
        ("__connect.errors.exception.class.name", CONNECT_CLASS.encode()),
        ("__connect.errors.exception.message",
         f"Converting byte[] to Kafka Connect data failed: unexpected byte {i} at position {i * 7}".encode()),
        ("__connect.errors.exception.stacktrace", b"org.apache...\n\tat x.y(Z.java:1)"),
    ]


def _spring_headers(source: str, i: int) -> list[tuple[str, bytes]]:
    return [
        ("kafka_dlt-exception-fqcn", b"org.springframework.kafka.listener.ListenerExecutionFailedException"),
        ("kafka_dlt-exception-cause-fqcn", SPRING_CAUSE.encode()),
        ("kafka_dlt-exception-message", f"Order '{uuid.uuid4()}' rejected: amount {i}.50 over limit".encode()),
        ("kafka_dlt-original-topic", source.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 1)),  # Spring writes binary ints
        ("kafka_dlt-original-offset", struct.pack(">q", 4242 + i)),
    ]


# (kind, count) in produce order; timestamps rise with the index so "newest" is exact.
PLAN = [("connect", 6), ("spring", 5), ("plain", 3), ("header", 2)]
TOTAL = sum(n for _, n in PLAN)


def _produce(topic: str, source: str, plan: list[tuple[str, int]], base_ms: int) -> list[tuple[int, int]]:
    producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
    produced: list[tuple[int, int] | None] = []
    index = 0
    for kind, count in plan:
        for _ in range(count):
            headers: list[tuple[str, bytes]] | None = {
                "connect": _connect_headers(source, index), "spring": _spring_headers(source, index),
                "header": [("error", f"com.acme.ValidationError: field 'email' invalid for customer {index}".encode())],
                "plain": None,
            }[kind]
            value = b"\x00\x00\x00\x00\x07\xff\xfe" if (kind == "plain" and index % 2) else f'{{"n": {index}}}'.encode()
            produced.append(None)

            def record(err: object, msg: object, slot: int = index) -> None:
                assert err is None, err
                produced[slot] = (msg.partition(), msg.offset())  # type: ignore[attr-defined]

            producer.produce(topic, key=f"order-{index}".encode(), value=value, partition=index % 3,
                             headers=headers, timestamp=base_ms + index * 10, on_delivery=record)
            index += 1
    assert producer.flush(30) == 0
    assert all(p is not None for p in produced)
    return [p for p in produced if p is not None]


def _produce_plain(topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
    for i in range(n):
        producer.produce(topic, value=f"ok {i}".encode(), partition=i % 3)
    assert producer.flush(30) == 0


@pytest.fixture
def topics(brokers: None, unique: str) -> Iterator[Topics]:
    source, dlq = f"orders-{unique}", f"orders-{unique}.dlq"
    futures = admin().create_topics([NewTopic(t, 3, 1) for t in (source, dlq)])
    for future in futures.values():
        future.result(timeout=30)
    _produce_plain(source, 40)
    produced = _produce(dlq, source, PLAN, int(time.time() * 1000) - 60_000)
    yield Topics(source=source, dlq=dlq, produced=produced)
    for future in admin().delete_topics([source, dlq], operation_timeout=30).values():
        future.result(timeout=30)


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    return Clients(make_settings(tmp_path))


def test_depth_is_exact_and_source_is_known(topics: Topics, clients: Clients) -> None:
    [snap] = kafka_dlq_snapshots(clients, "local", topics.dlq)
    assert snap.depth == TOTAL
    assert snap.source_topic == topics.source
    assert sorted(p.partition for p in snap.partitions) == [0, 1, 2]
    assert sum(p.end - p.start for p in snap.partitions) == TOTAL
    assert snap.source_end_total == 40 and snap.dlq_end_total == TOTAL
    assert snap.samples == [] and snap.growth_per_minute is None


def test_a_source_name_finds_its_dlq(topics: Topics, clients: Clients) -> None:
    [snap] = kafka_dlq_snapshots(clients, "local", topics.source)
    assert snap.topic == topics.dlq
    overview = [s.topic for s in kafka_dlq_snapshots(clients, "local")]
    assert topics.dlq in overview and topics.source not in overview


def test_unknown_name_suggests_close_matches(topics: Topics, clients: Clients) -> None:
    with pytest.raises(DlqNotFound) as caught:
        kafka_dlq_snapshots(clients, "local", topics.dlq + "x")
    assert topics.dlq in caught.value.suggestions
    assert "Did you mean" in str(caught.value)


def test_sampling_returns_the_newest_first(topics: Topics, clients: Clients) -> None:
    [snap] = kafka_dlq_snapshots(clients, "local", topics.dlq, sample_size=5)
    assert [(m.partition, m.offset) for m in snap.samples] == list(reversed(topics.produced))[:5]
    assert [m.key for m in snap.samples] == [f"order-{i}" for i in range(TOTAL - 1, TOTAL - 6, -1)]
    times = [m.timestamp for m in snap.samples]
    assert times == sorted(times, reverse=True)  # type: ignore[type-var]


def test_headers_are_parsed_and_patterns_grouped(topics: Topics, clients: Clients) -> None:
    [snap] = kafka_dlq_snapshots(clients, "local", topics.dlq, sample_size=TOTAL)
    assert len(snap.samples) == TOTAL
    by_key = {m.key: m for m in snap.samples}

    connect = by_key["order-3"]
    assert (connect.error_source, connect.error_class) == ("connect", CONNECT_CLASS)
    assert (connect.original_topic, connect.original_partition, connect.original_offset) == (topics.source, 2, 103)
    assert "__connect.errors.exception.stacktrace" not in connect.headers

    spring = by_key["order-8"]
    assert (spring.error_source, spring.error_class) == ("spring", SPRING_CAUSE)
    assert (spring.original_topic, spring.original_partition, spring.original_offset) == (topics.source, 1, 4250)
    assert spring.headers["kafka_dlt-original-offset"] == "4250"

    header = by_key["order-14"]
    assert (header.error_source, header.error_class) == ("header", "com.acme.ValidationError")
    assert header.error_message == "field 'email' invalid for customer 14"

    assert by_key["order-11"].preview.startswith("<7 bytes binary")
    assert by_key["order-12"].preview == '{"n": 12}' and by_key["order-12"].error_class is None

    assert [(p.error_class, p.count) for p in snap.patterns] == [
        (CONNECT_CLASS, 6), (SPRING_CAUSE, 5), (None, 3), ("com.acme.ValidationError", 2)]
    assert snap.patterns[0].pattern == ("DataException: Converting byte[] to Kafka Connect data failed: "
                                        "unexpected byte <n> at position <n>")
    assert snap.patterns[1].pattern == "IllegalStateException: Order '<value>' rejected: amount <n> over limit"
    assert snap.patterns[2].pattern == "(no error headers)"


def test_sampling_creates_no_consumer_group(topics: Topics, clients: Clients,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = uuid.uuid4()
    monkeypatch.setattr(kafka_dlq.uuid, "uuid4", lambda: fixed)
    group = f"incidentbot-dlq-peek-{fixed.hex}"
    [snap] = kafka_dlq_snapshots(clients, "local", topics.dlq, sample_size=TOTAL)
    monkeypatch.undo()
    assert len(snap.samples) == TOTAL
    groups = admin().list_consumer_groups(request_timeout=10).result(timeout=15)
    assert group not in {g.group_id for g in groups.valid}
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topics.dlq, p) for p in range(3)])
    committed = admin().list_consumer_group_offsets([request], request_timeout=10)[group].result(timeout=15)
    assert all(tp.offset < 0 for tp in committed.topic_partitions)  # -1001: nothing committed


def test_depth_follows_the_start_offset_after_delete_records(topics: Topics, clients: Clients) -> None:
    on_partition_0 = sum(1 for p, _ in topics.produced if p == 0)
    deleted = admin().delete_records([TopicPartition(topics.dlq, 0, 2)], request_timeout=10, operation_timeout=10)
    for future in deleted.values():
        future.result(timeout=15)
    [snap] = kafka_dlq_snapshots(clients, "local", topics.dlq, sample_size=TOTAL)
    part0 = next(p for p in snap.partitions if p.partition == 0)
    assert (part0.start, part0.end, part0.depth) == (2, on_partition_0, on_partition_0 - 2)
    assert snap.depth == TOTAL - 2
    assert len(snap.samples) == TOTAL - 2  # the deleted ones cannot be read any more


def test_growth_and_error_rate_from_a_previous_observation(topics: Topics, clients: Clients) -> None:
    [first] = kafka_dlq_snapshots(clients, "local", topics.dlq)
    _produce_plain(topics.source, 40)
    _produce(topics.dlq, topics.source, [("plain", 4)], int(time.time() * 1000))
    [second] = kafka_dlq_snapshots(clients, "local", topics.dlq, previous={topics.dlq: first.observation})
    assert second.depth == TOTAL + 4
    assert second.error_rate_percent == pytest.approx(10.0)
    assert second.window_seconds == (second.taken_at - first.taken_at).total_seconds()
    assert second.growth_per_minute == pytest.approx(4 * 60 / second.window_seconds)  # 4 more dead letters


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(("names", "settings", "expected"), [
    (["orders", "orders.dlq", "payments-dlq", "dlq-users", "users"], DlqSettings(),
     [("dlq-users", "users", "users"), ("orders.dlq", "orders", "orders"), ("payments-dlq", "payments", None)]),
    (["orders", "failed_orders", "__consumer_offsets"], DlqSettings(kafka_mappings={"failed_orders": "orders"}),
     [("failed_orders", "orders", "orders")]),
    (["orders", "orders.DLQ"], DlqSettings(kafka_patterns=["{topic}.DLQ"]), [("orders.DLQ", "orders", "orders")]),
    (["dlq-orders.dlq"], DlqSettings(), [("dlq-orders.dlq", "dlq-orders", None)]),  # first pattern
    (["dlq-orders.dlq", "orders.dlq", "orders"], DlqSettings(),  # a pattern whose source exists wins
     [("dlq-orders.dlq", "orders.dlq", "orders.dlq"), ("orders.dlq", "orders", "orders")]),
])
def test_discovery(names: list[str], settings: DlqSettings, expected: list[tuple[str, str, str | None]]) -> None:
    refs = discover({n: [0] for n in names}, settings)
    assert [(r.topic, r.derived_source, r.source_topic) for r in refs] == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (b"42", 42), (struct.pack(">i", 3), 3), (struct.pack(">q", 123456789012), 123456789012),
    (struct.pack(">i", -1), -1), (b"12345678", 12345678), (b"1234", 1234), (b"x", None), (None, None),
])
def test_header_int(raw: bytes | None, expected: int | None) -> None:
    assert header_int(raw) == expected


@pytest.mark.parametrize(("message", "expected"), [
    ("Order 123 failed", "Order <n> failed"),
    ("id 3f2b6c1e-8a4d-4c2e-9b1a-0d9e8f7a6b5c not found", "id <uuid> not found"),
    ("object 0x7f3a2b not valid, hash deadbeef42", "object <hex> not valid, hash <hex>"),
    ("user 'alice' and \"bob\" at 2024-05-01T10:00:00Z", "user '<value>' and '<value>' at <time>"),
    ("first line\n\tat com.acme.X(X.java:12)", "first line"),
    ("v2 endpoint timeout after 30.5s", "v2 endpoint timeout after <n>s"),
])
def test_normalise_message(message: str, expected: str) -> None:
    assert normalise_message(message) == expected


def test_configured_error_header_without_a_class() -> None:
    fields = parse_error_headers([("x-exception-message", b"timeout talking to billing")],
                                 ["x-exception-message"], 200)
    assert (fields["error_source"], fields.get("error_class"), fields["error_message"]) == \
        ("header", None, "timeout talking to billing")


def test_growth_and_error_rate_functions() -> None:
    from datetime import UTC, datetime, timedelta
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    before = DepthObservation(taken_at=t0, depth=100, dlq_end_total=100, source_end_total=10_000)
    after = DepthObservation(taken_at=t0 + timedelta(minutes=5), depth=380, dlq_end_total=380, source_end_total=20_000)
    assert growth_per_minute(before, after) == 56.0
    assert growth_per_minute(after, before) is None
    assert growth_per_minute((10, t0), (4, t0 + timedelta(seconds=30))) == -12.0
    assert error_rate_percent(100, 380, 10_000, 20_000) == pytest.approx(2.8)
    assert error_rate_percent(100, 120, 5_000, 5_000) is None  # no source traffic, no ratio
