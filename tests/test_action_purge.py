"""Purging DLQs on the real Kafka (delete records, recreate) and RabbitMQ (queue.purge):
the plan's sample and rule, the re-check, and the verification's remainder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, OffsetSpec, ResourceType

from bot import db
from bot.actions import ActionContext, SpecError, execute, purge, replan, verify
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.conftest import RABBIT_PORT, make_settings


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER")
    engine.dispose()


@pytest.fixture
def topics(brokers: None) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for future in (kf.admin().delete_topics(made, operation_timeout=30).values() if made else []):
        try:
            future.result(timeout=30)
        except KafkaException:
            pass


def _depth(topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    start = kf.admin().list_offsets({tp: OffsetSpec.earliest() for tp in tps})
    end = kf.admin().list_offsets({tp: OffsetSpec.latest() for tp in tps})
    return sum(end[tp].result(10).offset - start[tp].result(10).offset for tp in tps)


def _kafka_dlq(topics: list[str], unique: str, config: dict[str, str] | None = None) -> str:
    source, dlq = f"pay-{unique}", f"pay-{unique}-dlq"
    kf.create_topic(source, 1)
    kf.create_topic(dlq, 2, config)
    topics += [source, dlq]
    kf.produce(dlq, {0: 20, 1: 10}, headers=[("error", b"com.acme.BadException: card 4242 declined")])
    return dlq


def test_delete_records_keeps_what_arrived_after_the_plan(ctx: ActionContext, topics: list[str], unique: str) -> None:
    dlq = _kafka_dlq(topics, unique)
    plan = purge.plan(ctx, "local", dlq)
    assert plan.broker == "kafka" and not plan.refusals
    assert plan.totals == {"messages": 30}
    assert [r.key for r in plan.rows] == [f"{dlq}[0]", f"{dlq}[1]"]
    assert "only after investigation" in plan.warnings[0]
    assert len(plan.samples) == 10 and plan.samples[0]["error_class"] == "com.acme.BadException"
    assert any("BadException: card <n> declined" in w for w in plan.warnings)
    assert replan(ctx, plan).plan_hash == plan.plan_hash
    kf.produce(dlq, {1: 3})  # dead letters keep coming while the approval waits
    assert replan(ctx, plan).plan_hash != plan.plan_hash
    res = execute(ctx, plan)
    assert res.status == "executed" and res.counts == {"deleted": 30}, res.message
    assert _depth(dlq, 2) == 3
    check = verify(ctx, plan, res)
    assert check.ok and check.message == f"{dlq} holds 3 messages that arrived after the purge."


def test_recreate_keeps_partitions_and_configuration(ctx: ActionContext, topics: list[str], unique: str) -> None:
    dlq = _kafka_dlq(topics, unique, {"retention.ms": "3600000", "max.message.bytes": "200000"})
    plan = purge.plan(ctx, "local", f"{dlq} --mode recreate")
    assert plan.details["config"] == {"max.message.bytes": "200000", "retention.ms": "3600000"}
    assert plan.details["partitions"] == 2 and plan.details["replication"] == 1
    res = execute(ctx, plan)
    assert res.status == "executed", res.message
    check = verify(ctx, plan, res)
    assert check.ok and check.message == f"{dlq} is empty."
    resource = ConfigResource(ResourceType.TOPIC, dlq)
    config = kf.admin().describe_configs([resource])[resource].result(timeout=10)
    assert config["retention.ms"].value == "3600000" and config["max.message.bytes"].value == "200000"
    assert _depth(dlq, 2) == 0


def test_recreate_refuses_when_messages_arrived(ctx: ActionContext, topics: list[str], unique: str) -> None:
    dlq = _kafka_dlq(topics, unique)
    plan = purge.plan(ctx, "local", f"{dlq} --mode recreate --broker kafka")
    kf.produce(dlq, {0: 1})
    res = execute(ctx, plan)
    assert res.status == "refused" and "1 message arrived" in res.message
    assert _depth(dlq, 2) == 31


def test_a_topic_that_is_not_a_dlq_is_refused(ctx: ActionContext, topics: list[str], unique: str) -> None:
    name = f"ledger-{unique}"
    kf.create_topic(name, 1)
    topics.append(name)
    kf.produce(name, {0: 2})
    plan = purge.plan(ctx, "local", name)
    assert plan.refused and "is not a DLQ" in plan.refusals[0].reason
    assert execute(ctx, plan).status == "refused"
    assert _depth(name, 1) == 2
    with pytest.raises(SpecError, match="delete-records or recreate"):
        purge.parse_purge_spec(f"{name} --mode truncate")


@pytest.fixture
def rabbit(brokers: None) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = connection.channel()
    channel.made = []  # type: ignore[attr-defined]
    yield channel
    for queue in channel.made:  # type: ignore[attr-defined]
        channel.queue_delete(queue)
    connection.close()


def _rabbit_dlq(channel: pika.adapters.blocking_connection.BlockingChannel, unique: str, n: int) -> str:
    work, dlq = f"mail-{unique}", f"mail-{unique}.dlq"
    channel.queue_declare(dlq, durable=True)
    channel.queue_declare(work, durable=True, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq,
                                                         "x-message-ttl": 1})
    channel.made += [work, dlq]  # type: ignore[attr-defined]
    channel.confirm_delivery()
    for i in range(n):
        channel.basic_publish("", work, f"mail {i}".encode(), pika.BasicProperties(delivery_mode=2))
    deadline = time.monotonic() + 10
    while channel.queue_declare(dlq, passive=True).method.message_count < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return dlq


def test_rabbit_purge_and_growth_refusal(ctx: ActionContext, rabbit, unique: str) -> None:  # type: ignore[no-untyped-def]
    dlq = _rabbit_dlq(rabbit, unique, 12)
    plan = purge.plan(ctx, "local", dlq)
    assert plan.broker == "rabbitmq" and not plan.refusals and plan.totals == {"messages": 12}
    assert plan.rows[0].values["reason"] == "expired" and plan.samples
    assert "only after investigation" in plan.warnings[0]
    assert rabbit.queue_declare(dlq, passive=True).method.message_count == 12  # sampling took nothing
    rabbit.basic_publish("", dlq, b"late arrival")
    res = execute(ctx, plan)
    assert res.status == "refused" and "grew from 12 to 13" in res.message
    fresh = purge.plan(ctx, "local", dlq)
    res = execute(ctx, fresh)
    assert res.status == "executed" and res.counts == {"deleted": 13}
    check = verify(ctx, fresh, res)
    assert check.ok and check.message == f"{dlq} is empty."
