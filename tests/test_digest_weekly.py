"""The weekly digest on known data: DLQs with the age of their oldest message and
their error patterns (real Kafka and RabbitMQ), lag p95 and produce/consume rates
from samples stored across the week, schema versions first seen this week; and the
sampling round against the real Schema Registry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pika
import pytest
from confluent_kafka import Producer

from bot.app.localbot import LocalBot
from bot.digests import collect, run, tables
from bot.health.verdict import Level
from bot.localslack.server import LocalSlack
from bot.reports.report import when
from tests.conftest import KAFKA, RABBIT_PORT, make_settings, start_bot
from tests.digest_fixtures import drop_subject, group_row, lag_rows, register, rows, section, seen_row, topic_row
from tests.kafka_fixtures import create_topic
from tests.test_digest_daily import wait_for_depth

DAY = 86400.0
HOUR = 3600.0


@pytest.fixture
def prefix(unique: str) -> str:
    return f"dgw{unique}"


@pytest.fixture
def wbot(tmp_path: Path, local_slack: LocalSlack, brokers: None, prefix: str) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, digests={"include": [prefix], "dlq_sample": 20}), local_slack)
    yield running
    running.close()


def dead_letters(dlq: str, written_ms: int) -> None:
    """Three DataExceptions and one NullPointerException, as Kafka Connect's DLQ writes them."""
    producer = Producer({"bootstrap.servers": KAFKA})
    failures = [("org.apache.kafka.connect.errors.DataException", f"Invalid record {n}") for n in (12, 40, 7)]
    failures.append(("java.lang.NullPointerException", "boom"))
    for i, (cls, message) in enumerate(failures):
        producer.produce(dlq, value=f"bad {i}".encode(), partition=0, timestamp=written_ms + i * 1000,
                         headers=[("__connect.errors.exception.class.name", cls.encode()),
                                  ("__connect.errors.exception.message", message.encode())])
    assert producer.flush(30) == 0


@pytest.fixture
def rabbit_dead(prefix: str, brokers: None) -> Iterator[tuple[str, str]]:
    """Two messages rejected from a work queue into its DLQ, stamped an hour ago."""
    work, dlq = f"{prefix}-work", f"{prefix}-work.dlq"
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = connection.channel()
    channel.queue_declare(dlq)
    channel.queue_declare(work, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    stamp = int(time.time() - HOUR)
    for i in range(2):
        channel.basic_publish("", work, f"job {i}".encode(), pika.BasicProperties(timestamp=stamp))
    rejected = 0
    while rejected < 2:
        method, _, _ = channel.basic_get(work, auto_ack=False)
        if method is not None:
            channel.basic_nack(method.delivery_tag, requeue=False)
            rejected += 1
    wait_for_depth(dlq, 2)
    yield work, dlq
    channel.queue_delete(work)
    channel.queue_delete(dlq)
    connection.close()


def test_weekly_dlqs_oldest_and_patterns(wbot: LocalBot, prefix: str, rabbit_dead: tuple[str, str]) -> None:
    source, dlq = f"{prefix}-orders", f"{prefix}-orders.dlq"
    create_topic(source, 1)
    create_topic(dlq, 1)
    dead_letters(dlq, int((time.time() - 2 * DAY) * 1000))
    work, rabbit_dlq = rabbit_dead
    digest = run.build(wbot.ctx, "weekly")
    dlqs = section(digest, "DLQs")
    assert rows(dlqs) == [
        [dlq, "kafka", "4", "2 d 0 h", "DataException: Invalid record <n> ×3; NullPointerException: boom ×1"],
        [rabbit_dlq, "rabbitmq", "2", "1 h 0 min", f"rejected in {work} ×2"],
    ]
    assert dlqs.verdict.level is Level.WARNING and dlqs.verdict.reasons == ["2 DLQs holding messages"]
    assert (f"Review, then purge after investigation: `/purge-dlq {dlq}`, `/purge-dlq {rabbit_dlq} --broker rabbitmq` "
            "(each asks a second person to approve).") in dlqs.notes


def test_weekly_trends_from_stored_samples(wbot: LocalBot, prefix: str) -> None:
    engine, now = wbot.ctx.engine, time.time()
    group, topic = f"{prefix}-p95", f"{prefix}-events"
    for i in range(1, 21):  # totals 10, 20 … 200, every three hours, the last three hours ago
        lag_rows(engine, group, now - (21 - i) * 3 * HOUR, [(topic, 0, 0, i * 10)])
    rates_topic, fast, slow = f"{prefix}-rates", f"{prefix}-fast", f"{prefix}-slow"
    topic_row(engine, rates_topic, now - 2 * HOUR, [0, 0])
    topic_row(engine, rates_topic, now - HOUR, [1800, 1800])  # 3,600 in an hour: 1/s
    for g, done in ((fast, 3600), (slow, 1800)):
        group_row(engine, g, rates_topic, now - 2 * HOUR, 0, 1)
        group_row(engine, g, rates_topic, now - HOUR, done, 1)
    digest = run.build(wbot.ctx, "weekly")

    lag = section(digest, "Consumer lag over the week")
    assert rows(lag) == [[group, "190", "200", "200", "20", "2 d 9 h"]]  # p95 of 20 values: the 19th
    assert lag.verdict.reasons == [f"highest p95: {group} at 190 messages"]
    assert "The samples cover 2 d 12 h, not the whole week." in lag.notes

    rates = section(digest, "Produce and consume rates")
    assert rows(rates) == [[rates_topic, "1.00/s", fast, "1.00/s", "+0.00/s"],
                           [rates_topic, "1.00/s", slow, "0.50/s", "+0.50/s"]]
    assert rates.verdict.level is Level.WARNING
    assert rates.verdict.reasons == ["1 group consuming slower than its topic is produced"]
    assert [c.filename for c in digest.charts] == ["rates-local.png"]
    assert isinstance(digest.charts[0].content, bytes) and digest.charts[0].content.startswith(b"\x89PNG")

    schema = section(digest, "Schema changes this week")
    assert schema.verdict.level is Level.WARNING  # no round has read the registry: said, not guessed
    assert schema.verdict.reasons == ["no sampling round has read this registry yet: schema changes unknown"]


def test_weekly_schema_changes_from_what_each_round_saw(wbot: LocalBot, prefix: str) -> None:
    engine, now = wbot.ctx.engine, time.time()
    subject, other = f"{prefix}-orders-value", f"{prefix}-users-value"
    seen_row(engine, subject, 1, now - 10 * DAY, baseline=True)
    seen_row(engine, subject, 2, now - 2 * DAY)
    seen_row(engine, subject, 3, now - DAY)
    seen_row(engine, other, 1, now - 8 * DAY)  # before the week
    schema = section(run.build(wbot.ctx, "weekly"), "Schema changes this week")
    assert rows(schema) == [[subject, "2, 3", when(datetime.fromtimestamp(now - 2 * DAY, timezone.utc))]]
    assert schema.verdict.reasons == ["2 new versions in 1 subject"]


def test_sampling_round_stores_new_versions_after_the_baseline(wbot: LocalBot, prefix: str) -> None:
    subject = f"{prefix}-round-value"
    try:
        register(subject, 1)
        register(subject, 2)
        assert collect.sample_schemas(wbot.ctx, "local") == 2  # the first round: the baseline
        assert tables.schema_changes(wbot.ctx.engine, "local", 0) == []
        register(subject, 3)
        before = time.time()
        assert collect.sample_schemas(wbot.ctx, "local") == 1
        assert collect.sample_schemas(wbot.ctx, "local") == 0
        [(name, version, seen)] = tables.schema_changes(wbot.ctx.engine, "local", 0)
        assert (name, version) == (subject, 3) and seen >= before
    finally:
        drop_subject(subject)


def test_sampling_round_stores_topics_groups_and_lag(wbot: LocalBot, prefix: str) -> None:
    from bot.digests.history import lag_totals
    from tests.kafka_fixtures import commit, produce

    topic, group = f"{prefix}-sampled", f"{prefix}-reader"
    create_topic(topic, 2)
    produce(topic, {0: 3, 1: 2})
    commit(group, {(topic, 0): 1, (topic, 1): 2})
    before = time.time()
    assert collect.sample_round(wbot.ctx) == []
    [(at, total, ends)] = tables.topic_history(wbot.ctx.engine, "local", before)[topic]
    assert (total, ends) == (5, [3, 2]) and at >= before
    assert [(c, m) for _, c, m in tables.group_history(wbot.ctx.engine, "local", before)[(group, topic)]] == [(3, 0)]
    assert [v for _, v in lag_totals(wbot.ctx.engine, "local", before, lambda g: g == group)[group]] == [2]
    collect.sample_round(wbot.ctx)  # within the hour: lag sampled again, the long-lived rows not
    assert len(tables.topic_history(wbot.ctx.engine, "local", before)[topic]) == 1
    assert len(lag_totals(wbot.ctx.engine, "local", before, lambda g: g == group)[group]) == 2
