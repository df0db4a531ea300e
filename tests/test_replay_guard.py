"""The replay loop guard against the real Kafka and RabbitMQ: a dead letter whose
consumer keeps failing comes back after each replay with its replay count one higher;
after three replays the next one parks it (a `<dlq>.parked` topic or queue) instead
of sending it round again, and says so in the dry run, the result and the
verification. /dlq shows how many sampled messages came back after a replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from bot import db
from bot.actions import ActionContext, execute, replay, verify
from bot.actions.replay_spec import MARKER
from bot.app.localbot import LocalBot
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA, RABBIT_PORT, make_settings

COUNT = "x-replay-count"


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER")
    engine.dispose()


# ---------------------------------------------------------------- Kafka

@pytest.fixture
def kafka_dlq(brokers: None, unique: str) -> Iterator[tuple[str, str]]:
    source, dlq = f"inv-{unique}", f"inv-{unique}.dlq"
    kf.create_topic(source, 2)
    kf.create_topic(dlq, 2)
    yield source, dlq
    for future in kf.admin().delete_topics([source, dlq, f"{dlq}.parked"], operation_timeout=30).values():
        try:
            future.result(timeout=30)
        except KafkaException:
            pass


def _read(topic: str, start: dict[int, int] | None = None) -> list:  # type: ignore[type-arg]
    """Every committed message of `topic` from `start` (per partition) to its end."""
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": "unused", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "fetch.wait.max.ms": 10})  # the end is an empty fetch: not 500 ms each
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        got = []
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            frm = max(low, (start or {}).get(p, low))
            if frm >= high:
                continue
            consumer.assign([TopicPartition(topic, p, frm)])
            while True:  # to the partition's end: a transaction's last offset is its marker, never delivered
                m = consumer.poll(10)
                assert m is not None, "the topic stopped delivering"
                if m.error() is not None:
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    break
                got.append(m)
        return got
    finally:
        consumer.close()


def _ends(topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": "unused"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def _fail_again(source: str, dlq: str, since: dict[int, int]) -> int:
    """The consumer of `source` fails on every replayed message and dead-letters it
    again with its headers, as Kafka Connect's errors.deadletterqueue does."""
    producer = Producer({"bootstrap.servers": KAFKA})
    messages = _read(source, since)
    for m in messages:
        producer.produce(dlq, key=m.key(), value=m.value(), headers=m.headers(), partition=m.partition() % 2)
    assert producer.flush(30) == 0
    return len(messages)


def _purge(topic: str) -> None:
    ends = _ends(topic)
    futures = kf.admin().delete_records([TopicPartition(topic, p, end) for p, end in ends.items()],
                                        request_timeout=10)
    for future in futures.values():
        future.result(timeout=15)


def _dead_letters(source: str, dlq: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": KAFKA})
    for i in range(n):
        producer.produce(dlq, key=f"k{i}".encode(), value=f"invoice {i}".encode(), partition=i % 2, headers=[
            ("__connect.errors.topic", source.encode()),
            ("__connect.errors.exception.class.name", b"org.acme.PoisonPill"),
            ("__connect.errors.exception.message", b"cannot parse invoice")])
    assert producer.flush(30) == 0


def _count(m) -> int:  # type: ignore[no-untyped-def]
    return int(dict(m.headers())[COUNT])


def test_kafka_a_message_failing_three_replays_is_parked(ctx: ActionContext, kafka_dlq: tuple[str, str]) -> None:
    source, dlq = kafka_dlq
    _dead_letters(source, dlq, 4)
    for round_ in (1, 2, 3):
        before = _ends(source)
        plan = replay.plan(ctx, "local", dlq)
        assert plan.totals.get("parked", 0) == 0, round_
        assert plan.totals.get("came_back_after_replay", 0) == (0 if round_ == 1 else 4)
        res = execute(ctx, plan)
        assert res.status == "executed", res.message
        assert verify(ctx, plan, res).ok
        replayed = _read(source, before)
        assert sorted(_count(m) for m in replayed) == [round_] * 4  # each replay one higher
        assert all(dict(m.headers())["__connect.errors.topic"] == source.encode() for m in replayed)
        _purge(dlq)  # replayed and verified: the DLQ is cleared (a Kafka replay copies, it does not take)
        assert _fail_again(source, dlq, before) == 4

    before = _ends(source)
    plan = replay.plan(ctx, "local", dlq)
    assert plan.totals["parked"] == 4 and plan.totals["came_back_after_replay"] == 4
    assert plan.summary.endswith(f"and park 4 in {dlq}.parked (back after 3 replays).")
    assert any("4 messages came back after 3 replays: they go to the parking topic" in w for w in plan.warnings)
    assert {r.values["to"] for r in plan.rows} == {f"{dlq}.parked"}
    seen: list[str] = []
    res = replay.execute(ctx, plan, progress=lambda p: seen.append(p.message), progress_every=1)
    assert res.status == "executed", res.message
    assert seen[-1] == f"Replayed 4 of 4 from {dlq} (4 of them parked in {dlq}.parked)."
    assert res.counts["parked"] == 4 and f"(4 of them parked in {dlq}.parked)" in res.message
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    assert f"4 of them parked in {dlq}.parked" in check.message
    assert _read(source, before) == []  # nothing went round again
    parked = _read(f"{dlq}.parked")
    assert sorted(m.value() for m in parked) == [f"invoice {i}".encode() for i in range(4)]
    assert all(_count(m) == 3 and dict(m.headers())[MARKER] == res.details["replay_id"].encode() for m in parked)


def test_kafka_only_the_worn_out_ones_are_parked(ctx: ActionContext, kafka_dlq: tuple[str, str]) -> None:
    source, dlq = kafka_dlq
    producer = Producer({"bootstrap.servers": KAFKA})
    for i, count in enumerate([None, b"1", b"3", b"7", b"garbage"]):
        headers = [("__connect.errors.topic", source.encode())] + ([(COUNT, count)] if count else [])
        producer.produce(dlq, value=f"m{i}".encode(), partition=0, headers=headers)
    assert producer.flush(30) == 0
    before = _ends(source)
    plan = replay.plan(ctx, "local", dlq)
    assert plan.totals["parked"] == 2 and plan.totals["came_back_after_replay"] == 3
    res = execute(ctx, plan)
    assert res.status == "executed" and verify(ctx, plan, res).ok
    assert sorted((m.value(), _count(m)) for m in _read(source, before)) == [(b"m0", 1), (b"m1", 2), (b"m4", 1)]
    assert sorted((m.value(), _count(m)) for m in _read(f"{dlq}.parked")) == [(b"m2", 3), (b"m3", 7)]


# ---------------------------------------------------------------- RabbitMQ

@pytest.fixture
def rabbit(brokers: None, unique: str) -> Iterator[tuple[pika.adapters.blocking_connection.BlockingChannel, str, str]]:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = connection.channel()
    work, dlq = f"bill-{unique}", f"bill-{unique}.dlq"
    channel.queue_declare(dlq, durable=True)
    channel.queue_declare(work, durable=True, arguments={"x-dead-letter-exchange": "",
                                                         "x-dead-letter-routing-key": dlq})
    yield channel, work, dlq
    for queue in (work, dlq, f"{dlq}.parked"):
        channel.queue_delete(queue)
    connection.close()


def _reject_all(channel, work: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """The consumer of `work` fails on each message: rejected, so dead-lettered to the DLQ
    with its headers (and a new x-death entry)."""
    rejected = 0
    for method, _props, _body in channel.consume(work, inactivity_timeout=10):
        assert method is not None, "the work queue ran dry"
        channel.basic_nack(method.delivery_tag, requeue=False)
        rejected += 1
        if rejected == n:
            break
    channel.cancel()
    _wait_depth(channel, channel_queue_dlq(work), n)


def channel_queue_dlq(work: str) -> str:
    return f"{work}.dlq"


def _wait_depth(channel, queue: str, n: int) -> None:  # type: ignore[no-untyped-def]
    import time
    deadline = time.monotonic() + 15
    while channel.queue_declare(queue, passive=True).method.message_count < n:
        assert time.monotonic() < deadline, f"{queue} never reached {n}"
        time.sleep(0.1)


def _drain(channel, queue: str) -> list[tuple[bytes, dict]]:  # type: ignore[no-untyped-def, type-arg]
    got = []
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return got
        got.append((body, props.headers or {}))


def test_rabbit_a_message_failing_three_replays_is_parked(ctx: ActionContext, rabbit) -> None:  # type: ignore[no-untyped-def]
    channel, work, dlq = rabbit
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("", work, f"bill {i}".encode(), pika.BasicProperties(
            delivery_mode=2, message_id=f"b-{i}", headers={"error": "com.acme.PoisonPill: bad amount"}))
    _reject_all(channel, work, 3)
    for round_ in (1, 2, 3):
        plan = replay.plan(ctx, "local", dlq)
        assert plan.totals.get("parked", 0) == 0 and not plan.refusals, plan.refusals
        res = execute(ctx, plan)
        assert res.status == "executed", res.message
        assert verify(ctx, plan, res).ok
        _wait_depth(channel, work, 3)
        _reject_all(channel, work, 3)
    plan = replay.plan(ctx, "local", dlq)
    assert plan.totals["parked"] == 3 and plan.totals["came_back_after_replay"] == 3 and not plan.refusals
    assert "3 of them parked after 3 replays." in plan.summary
    assert {r.values["to"] for r in plan.rows} == {f"queue {dlq}.parked"}
    seen: list[str] = []
    res = replay.execute(ctx, plan, progress=lambda p: seen.append(p.message), progress_every=1)
    assert res.status == "executed", res.message
    assert seen[-1] == f"Moved 3 of 3 from {dlq} (3 parked in {dlq}.parked)."
    assert res.counts["parked"] == 3 and f"(3 parked in {dlq}.parked)" in res.message
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    assert f"3 of them parked in {dlq}.parked" in check.message
    assert channel.queue_declare(work, passive=True).method.message_count == 0  # not round again
    parked = _drain(channel, f"{dlq}.parked")
    assert [body for body, _ in parked] == [b"bill 0", b"bill 1", b"bill 2"]
    assert all(h[COUNT] == 3 and h[MARKER] == res.details["replay_id"] for _, h in parked)
    assert all(h["x-death"][0]["count"] == 4 for _, h in parked)  # RabbitMQ counted the four deaths too


# ---------------------------------------------------------------- /dlq

def test_dlq_shows_messages_that_came_back_after_a_replay(bot: LocalBot, unique: str) -> None:
    source, dlq = f"rt-{unique}", f"rt-{unique}.dlq"
    kf.create_topic(source, 1)
    kf.create_topic(dlq, 1)
    producer = Producer({"bootstrap.servers": KAFKA})
    for count in (None, b"1", b"2", None, b"2"):
        headers = [("__connect.errors.topic", source.encode())] + ([(COUNT, count)] if count else [])
        producer.produce(dlq, value=b"x", headers=headers)
    assert producer.flush(30) == 0
    bot.slash(f"/dlq {dlq} --sample 10")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert ("3 of the 5 sampled messages came back after a replay (the most replayed: 2 times); a replay parks "
            "those at dlq_hygiene.max_replays.") in text


def test_rabbit_dlq_shows_messages_that_came_back(bot: LocalBot, rabbit) -> None:  # type: ignore[no-untyped-def]
    channel, _work, dlq = rabbit
    channel.confirm_delivery()
    for count in (1, None, 3):
        channel.basic_publish("", dlq, b"y", pika.BasicProperties(headers={COUNT: count} if count else {}))
    bot.slash(f"/dlq {dlq} --sample 5")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert "2 of the 3 sampled messages came back after a replay (the most replayed: 3 times)" in text
