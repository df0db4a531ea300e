"""The daily digest on known data: lag and DLQ depths now (real Kafka and RabbitMQ)
against samples stored a day ago, the error rate over the day, broker health, the
day's incidents; and what it says when yesterday's samples are missing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pika
import pytest
import requests

from bot.app.localbot import LocalBot
from bot.digests import run
from bot.health.verdict import Level
from bot.localslack.server import LocalSlack
from bot.reports.report import to_text, when
from tests.conftest import RABBIT_MGMT, RABBIT_PORT, make_settings, start_bot
from tests.digest_fixtures import depth_row, incident_row, lag_rows, rows, section
from tests.kafka_fixtures import commit, create_topic, produce

DAY = 86400.0


def wait_for_depth(queue: str, depth: int) -> None:
    """The management API's figures trail AMQP by its stats interval: poll until it shows them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = requests.get(f"{RABBIT_MGMT}/api/queues/%2F/{queue}", auth=("guest", "guest"), timeout=5).json()
        if got.get("messages") == depth:
            return
        time.sleep(0.5)
    raise AssertionError(f"{queue} never showed {depth} messages in the management API")


@pytest.fixture
def prefix(unique: str) -> str:
    return f"dgd{unique}"


@pytest.fixture
def dbot(tmp_path: Path, local_slack: LocalSlack, brokers: None, prefix: str) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, digests={"include": [prefix]}), local_slack)
    yield running
    running.close()


@pytest.fixture
def rabbit_dlq(prefix: str, brokers: None) -> Iterator[str]:
    """A RabbitMQ DLQ holding two messages."""
    name = f"{prefix}.dlq"
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = connection.channel()
    channel.queue_declare(name, durable=False)
    for i in range(2):
        channel.basic_publish("", name, f"dead {i}".encode())
    wait_for_depth(name, 2)
    yield name
    channel.queue_delete(name)
    connection.close()


def test_daily_numbers_against_yesterday(dbot: LocalBot, prefix: str, rabbit_dlq: str) -> None:
    topic, dlq = f"{prefix}-orders", f"{prefix}-orders.dlq"
    billing, audit = f"{prefix}-billing", f"{prefix}-audit"
    create_topic(topic, 2)
    create_topic(dlq, 1)
    produce(topic, {0: 30, 1: 20})
    produce(dlq, {0: 4})
    commit(billing, {(topic, 0): 10, (topic, 1): 5})  # lag 20 + 15
    commit(audit, {(topic, 0): 30, (topic, 1): 20})  # caught up; no sample from yesterday
    engine, now = dbot.ctx.engine, time.time()
    lag_rows(engine, billing, now - DAY + 600, [(topic, 0, 0, 60), (topic, 1, 0, 40)])  # lag 100 a day ago
    depth_row(engine, "kafka-dlq", "local", dlq, now - DAY - 300, depth=1, dlq_end_total=1, source_end_total=10)
    depth_row(engine, "rabbit-queue", "local", rabbit_dlq, now - DAY + 120, depth=5)
    incident_row(engine, "INC-T-1", "orders lag", now - 2 * 3600)
    incident_row(engine, "INC-T-2", "billing DLQ", now - 3 * DAY, resolved=now - 3600)
    incident_row(engine, "INC-T-3", "old news", now - 3 * DAY, resolved=now - 2 * DAY)

    digest = run.build(dbot.ctx, "daily")

    lag = section(digest, "Consumer lag")
    assert rows(lag) == [[billing, "35", "100", "-65"], [audit, "0", "unknown", "unknown"]]
    assert lag.verdict.level is Level.WARNING
    assert any(n.startswith(f"No lag sample within an hour of {when(datetime.fromtimestamp(now - DAY, timezone.utc))[:16]}")
               and "for 1 group" in n and "change since yesterday unknown" in n for n in lag.notes), lag.notes

    depth = section(digest, "DLQ depth")
    assert rows(depth) == [[dlq, "kafka", "4", "1", "+3"], [rabbit_dlq, "rabbitmq", "2", "5", "-3"]]
    assert depth.verdict.reasons == ["2 DLQs, the deepest 4 messages"]

    rates = section(digest, "Error-rate leaders")
    assert rows(rates) == [[dlq, "3", "40", "7.50%"]]  # (4 - 1) dead-lettered of (50 - 10) produced
    assert rates.verdict.reasons == [f"highest: {dlq} at 7.50%"]

    brokers = section(digest, "Broker health")
    assert dict((r[0], r[1]) for r in rows(brokers))["offline"] == "0"
    assert dict((r[0], r[1]) for r in rows(brokers))["under-replicated"] == "0"
    assert any("Disk usage is outside what this bot can read through the Kafka protocol" in n for n in brokers.notes)

    day = section(digest, "Incidents")
    assert day.verdict.reasons == ["1 opened, 1 resolved"]
    assert [r[0] for r in rows(day)] == ["INC-T-2", "INC-T-1"]  # opened order; INC-T-3 is older than a day

    summary = digest.summary()
    assert to_text(summary).startswith(f"Daily digest {datetime.now(timezone.utc):%Y-%m-%d}: WARNING: "
                                       "needs a look: Consumer lag (local)")
    assert rows(summary) == [["Consumer lag (local)", "WARNING", "2 groups, the worst 35 messages behind"],
                             ["DLQ depth", "OK", "2 DLQs, the deepest 4 messages"],
                             ["Error-rate leaders (last 24 h)", "OK", f"highest: {dlq} at 7.50%"],
                             ["Broker health (local)", "OK", "1 broker answering, nothing under-replicated or offline"],
                             ["Incidents (last 24 h)", "OK", "1 opened, 1 resolved"]]


def test_daily_says_what_is_missing(dbot: LocalBot, prefix: str) -> None:
    topic = f"{prefix}-fresh"
    create_topic(topic, 1)
    create_topic(f"{topic}.dlq", 1)
    produce(f"{topic}.dlq", {0: 2})
    commit(f"{prefix}-new", {(topic, 0): 0})
    digest = run.build(dbot.ctx, "daily")
    lag = section(digest, "Consumer lag")
    assert rows(lag) == [[f"{prefix}-new", "0", "unknown", "unknown"]]
    assert any("for 1 group (" in n and "change since yesterday unknown" in n for n in lag.notes), lag.notes
    depth = section(digest, "DLQ depth")
    assert rows(depth) == [[f"{topic}.dlq", "kafka", "2", "unknown", "unknown"]]
    assert "change since yesterday unknown for 1 DLQ" in depth.verdict.reasons
    rates = section(digest, "Error-rate leaders")
    assert rows(rates) == [] and rates.verdict.level is Level.WARNING
    assert any(f"No DLQ observation (with its source) from a day ago for {topic}.dlq" in n for n in rates.notes)
