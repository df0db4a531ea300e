"""DLQ verdicts: pure, table-driven, with the operations guide's thresholds
(investigate above 100, critical above 1,000, error rate above 1% for 5 minutes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import Thresholds
from bot.health.dlq import growth_phrase, kafka_dlq_verdict, rabbit_queue_verdict
from bot.health.verdict import Level
from bot.probes.dlq_models import (
    DeathGroup,
    DlqMessage,
    ErrorPattern,
    KafkaDlqSnapshot,
    QueueSnapshot,
    RabbitMessage,
)

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
T = Thresholds()


def kafka(depth: int, **extra: Any) -> KafkaDlqSnapshot:
    fields: dict[str, Any] = {"cluster": "local", "topic": "orders.dlq", "source_topic": "orders",
                              "derived_source": "orders", "taken_at": NOW, "depth": depth, "partitions": [],
                              "dlq_end_total": depth}
    return KafkaDlqSnapshot(**{**fields, **extra})


def rabbit(depth: int, **extra: Any) -> QueueSnapshot:
    fields: dict[str, Any] = {"cluster": "local", "vhost": "/", "name": "orders.dlq", "taken_at": NOW,
                              "source": "management", "messages_ready": depth, "messages": depth,
                              "messages_unacknowledged": 0, "consumers": 0, "is_dead_letter_queue": True}
    return QueueSnapshot(**{**fields, **extra})


@pytest.mark.parametrize(("depth", "growth", "level", "start"), [
    (0, None, Level.OK, "orders.dlq holds 0 messages (investigate above 100)."),
    (1, None, Level.OK, "orders.dlq holds 1 message (investigate above 100)."),
    (100, None, Level.OK, "orders.dlq holds 100 messages (investigate above 100)."),
    (101, 0.0, Level.WARNING, "orders.dlq holds 101 messages (investigate above 100), not growing: sample it"),
    (1_000, -12.0, Level.WARNING, "orders.dlq holds 1,000 messages (investigate above 100), shrinking 12/min"),
    (1_001, None, Level.CRITICAL, "orders.dlq holds 1,001 messages (critical above 1,000): sample it"),
    (1_234, 56.0, Level.CRITICAL, "orders.dlq holds 1,234 messages (critical above 1,000), growing 56/min"),
    (50, 0.4, Level.OK, "orders.dlq holds 50 messages (investigate above 100), growing 0.4/min."),
])
def test_kafka_depth(depth: int, growth: float | None, level: Level, start: str) -> None:
    result = kafka_dlq_verdict(kafka(depth, growth_per_minute=growth), T)
    assert result.level == level
    assert result.reasons[0].startswith(start), result.reasons[0]


def test_kafka_reason_names_the_top_error_pattern() -> None:
    snapshot = kafka(1_500, growth_per_minute=56.0, samples=[DlqMessage(size=1, preview="x")] * 10,
                     patterns=[ErrorPattern(pattern="DataException: bad byte <n>", error_class="x.DataException",
                                            count=7)])
    result = kafka_dlq_verdict(snapshot, T)
    assert result.level == Level.CRITICAL
    assert result.reasons == ["orders.dlq holds 1,500 messages (critical above 1,000), growing 56/min; "
                              "7 of 10 sampled fail with “DataException: bad byte <n>”. Fix that, then replay."]


@pytest.mark.parametrize(("rate", "window_s", "level", "fragment"), [
    (None, 300.0, Level.OK, None),
    (0.5, 300.0, Level.OK, "orders dead-letters 0.5% of its messages into orders.dlq over the last 5 min"),
    (1.0, 600.0, Level.OK, "(warning above 1%)"),
    (2.8, 300.0, Level.WARNING, "orders dead-letters 2.8% of its messages into orders.dlq over the last 5 min "
                                "(warning above 1%): check the consumer's logs"),
    (2.8, 120.0, Level.OK, "over the last 2 min; it warns when that stays above 1% for 5 min"),
    (12.345, 30.0, Level.OK, "12.35% of its messages into orders.dlq over the last 30 s"),
])
def test_kafka_error_rate(rate: float | None, window_s: float, level: Level, fragment: str | None) -> None:
    result = kafka_dlq_verdict(kafka(10, error_rate_percent=rate, window_seconds=window_s), T)
    assert result.level == level
    if fragment is None:
        assert len(result.reasons) == 1
    else:
        assert any(fragment in r for r in result.reasons), result.reasons
    if level == Level.WARNING:
        assert "dead-letters" in result.reasons[0]  # the warning leads, the OK depth line is dropped


def test_depth_and_error_rate_together_worst_first() -> None:
    result = kafka_dlq_verdict(kafka(2_000, error_rate_percent=5.0, window_seconds=600.0), T)
    assert result.level == Level.CRITICAL
    assert result.reasons[0].startswith("orders.dlq holds 2,000 messages (critical above 1,000)")
    assert "5% of its messages" in result.reasons[1]


def test_thresholds_are_configurable() -> None:
    tight = Thresholds(dlq_warning=5, dlq_critical=10, error_rate_percent=0.1, error_rate_minutes=1)
    assert kafka_dlq_verdict(kafka(6), tight).level == Level.WARNING
    assert kafka_dlq_verdict(kafka(11), tight).reasons[0].startswith("orders.dlq holds 11 messages (critical above 10)")
    assert kafka_dlq_verdict(kafka(0, error_rate_percent=0.2, window_seconds=60.0), tight).level == Level.WARNING


@pytest.mark.parametrize(("snapshot", "level", "start"), [
    (rabbit(0), Level.OK, "orders.dlq holds 0 messages (investigate above 100)."),
    (rabbit(150, growth_per_minute=3.0), Level.WARNING,
     "orders.dlq holds 150 messages (investigate above 100), growing 3/min: sample it with `/rabbit orders.dlq"),
    (rabbit(5_000), Level.CRITICAL, "orders.dlq holds 5,000 messages (critical above 1,000)"),
    (rabbit(300, source="amqp-fallback", messages=None, messages_unacknowledged=None), Level.WARNING,
     "orders.dlq holds 300 ready messages (investigate above 100)"),
    # Not a DLQ: its depth is a backlog, judged by the lag thresholds.
    (rabbit(5_000, name="orders", is_dead_letter_queue=False, consumers=3), Level.OK,
     "orders holds 5,000 messages (warning above 10,000)."),
    (rabbit(20_000, name="orders", is_dead_letter_queue=False, consumers=3), Level.WARNING,
     "orders holds 20,000 messages (warning above 10,000): check the consumers"),
    (rabbit(200_000, name="orders", is_dead_letter_queue=False, consumers=3), Level.CRITICAL,
     "orders holds 200,000 messages (critical above 100,000): scale the consumers"),
    (rabbit(10, name="orders", is_dead_letter_queue=False, consumers=0), Level.WARNING,
     "orders has 10 ready messages and no consumers: check that its consumer service is running."),
    (rabbit(10, name="orders", is_dead_letter_queue=False, consumers=2, growth_per_minute=2_500.0), Level.WARNING,
     "orders grows 2,500/min (warning above 1,000/min)"),
])
def test_rabbit_queue(snapshot: QueueSnapshot, level: Level, start: str) -> None:
    result = rabbit_queue_verdict(snapshot, T)
    assert result.level == level
    assert result.reasons[0].startswith(start), result.reasons


def test_rabbit_reason_names_the_top_death_group() -> None:
    snapshot = rabbit(1_200, samples=[RabbitMessage(size=1, preview="x", redelivered=False)] * 5,
                      death_groups=[DeathGroup(reason="rejected", queue="orders", count=4, deaths=4),
                                    DeathGroup(reason="expired", queue="orders", count=1, deaths=1)])
    result = rabbit_queue_verdict(snapshot, T)
    assert result.reasons == ["orders.dlq holds 1,200 messages (critical above 1,000); 4 of 5 sampled were "
                              "rejected in orders. Fix that consumer, then replay."]


def test_one_of_a_kind_is_singular() -> None:
    snapshot = rabbit(1_200, samples=[RabbitMessage(size=1, preview="x", redelivered=False)] * 5,
                      death_groups=[DeathGroup(reason="expired", queue="orders", count=1, deaths=1)])
    assert rabbit_queue_verdict(snapshot, T).reasons == [
        "orders.dlq holds 1,200 messages (critical above 1,000); 1 of 5 sampled was expired in orders. "
        "Fix that consumer, then replay."]
    kafka_snapshot = kafka(101, samples=[DlqMessage(size=1, preview="x")] * 3,
                           patterns=[ErrorPattern(pattern="Boom", error_class=None, count=1)])
    assert kafka_dlq_verdict(kafka_snapshot, T).reasons == [
        "orders.dlq holds 101 messages (investigate above 100); 1 of 3 sampled fails with “Boom”. "
        "Check the consumer's logs for it."]
    assert rabbit_queue_verdict(rabbit(1, name="orders", is_dead_letter_queue=False, consumers=1), T).reasons == [
        "orders holds 1 message (warning above 10,000)."]
    assert rabbit_queue_verdict(rabbit(1, name="orders", is_dead_letter_queue=False), T).reasons == [
        "orders has 1 ready message and no consumers: check that its consumer service is running."]


def test_as_dlq_overrides_the_guess() -> None:
    snapshot = rabbit(500, name="failed-payments", is_dead_letter_queue=False, consumers=1)
    assert rabbit_queue_verdict(snapshot, T).level == Level.OK
    assert rabbit_queue_verdict(snapshot, T, as_dlq=True).level == Level.WARNING


@pytest.mark.parametrize(("growth", "phrase"), [
    (None, ""), (0.0, ", not growing"), (56.4, ", growing 56/min"), (-3.0, ", shrinking 3/min"),
    (0.4, ", growing 0.4/min"), (1234.0, ", growing 1,234/min"),
])
def test_growth_phrase(growth: float | None, phrase: str) -> None:
    assert growth_phrase(growth) == phrase
