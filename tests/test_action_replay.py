"""DLQ replays against the real Kafka and RabbitMQ: keys, headers and partitions kept,
the marker added, the pattern filter, and exactly-once when the bot is SIGKILLed in
the middle of a batch and the replay resumed."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest
from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from bot import db
from bot.actions import ActionContext, Plan, execute, replay, verify
from bot.actions.replay_spec import MARKER, parse_replay_spec
from bot.actions.reset_spec import SpecError
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA, RABBIT_PORT, make_settings

ROOT = Path(__file__).resolve().parent.parent

# Runs one replay in a separate process and stops inside the Nth transaction (after
# producing/publishing the batch, before committing it) so the test can SIGKILL it there.
CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bot import db
from bot.actions import ActionContext, Plan, replay
from bot.probes.clients import Clients
from tests.conftest import make_settings
settings = make_settings(Path(sys.argv[2]))
ctx = ActionContext(clients=Clients(settings), engine=db.create(settings.database_url), actor="U0CHILD")
plan = Plan.model_validate_json(Path(sys.argv[3]).read_text())
stop_at, batches = int(sys.argv[5]), []
def hook(sent):
    batches.append(sent)
    print(f"IN_TXN {len(batches)} {sent}", flush=True)
    if len(batches) >= stop_at:
        time.sleep(120)
result = replay.execute(ctx, plan, batch_size=int(sys.argv[4]), on_batch=hook)
print("DONE", result.status, flush=True)
"""


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER")
    engine.dispose()


def _kill_mid_replay(tmp_path: Path, plan: Plan, batch: int, stop_at: int) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.model_dump_json())
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(tmp_path), str(plan_file), str(batch),
                              str(stop_at)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert child.stdout is not None
    deadline = time.monotonic() + 90
    seen = ""
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                line = child.stdout.readline()
                seen += line
                if line.startswith(f"IN_TXN {stop_at} "):
                    time.sleep(0.5)  # let the batch reach the broker, uncommitted
                    break
                assert not line.startswith("DONE"), f"the replay finished before it could be killed: {seen}"
        else:
            raise AssertionError(f"the child never reached batch {stop_at}: {seen}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)


# ---------------------------------------------------------------- Kafka


def _murmur2_partition(key: bytes, partitions: int) -> int:
    """The Java client's default partitioner, for checking where keyed messages went."""
    m, h = 0x5BD1E995, (0x9747B28C ^ len(key)) & 0xFFFFFFFF
    for i in range(len(key) // 4):
        k = int.from_bytes(key[i * 4:i * 4 + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rest = len(key) & ~3, len(key) % 4
    if rest == 3:
        h ^= key[tail + 2] << 16
    if rest >= 2:
        h ^= key[tail + 1] << 8
    if rest >= 1:
        h ^= key[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def _read_all(topic: str, partitions: int, committed: bool = True, settle: bool = True) -> list:  # type: ignore[type-arg]
    """Every message of the topic. With ``settle``, first wait until no transaction is
    pending (a commit's markers are written just after commit_transaction returns)."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    deadline = time.monotonic() + 20
    while settle and committed and time.monotonic() < deadline:
        stable = kf.admin().list_offsets({tp: OffsetSpec.latest() for tp in tps},
                                         isolation_level=IsolationLevel.READ_COMMITTED)
        high = kf.admin().list_offsets({tp: OffsetSpec.latest() for tp in tps})
        if all(stable[tp].result(10).offset == high[tp].result(10).offset for tp in tps):
            break
        time.sleep(0.1)
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"t-{uuid.uuid4().hex}", "enable.auto.commit": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10,
                         "isolation.level": "read_committed" if committed else "read_uncommitted"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, eof, deadline = [], set(), time.monotonic() + 30
    try:
        while len(eof) < partitions and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.5):
                if m.error() is None:
                    got.append(m)
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
    finally:
        consumer.close()
    return got


@pytest.fixture
def kafka_dlq(brokers: None, unique: str) -> Iterator[tuple[str, str]]:
    source, dlq = f"orders-{unique}", f"orders-{unique}.dlq"
    kf.create_topic(source, 3)
    kf.create_topic(dlq, 2)
    yield source, dlq
    for future in kf.admin().delete_topics([source, dlq], operation_timeout=30).values():
        try:
            future.result(timeout=30)
        except KafkaException:
            pass


def _dead_letters(source: str, dlq: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
    for i in range(n):
        headers = [("__connect.errors.topic", source.encode()),
                   ("__connect.errors.exception.class.name",
                    b"org.acme.TimeoutException" if i % 3 else b"org.acme.ParseException"),
                   ("__connect.errors.exception.message", f"failed at step {i}".encode()),
                   ("trace-id", f"t-{i}".encode())]
        if i % 2 == 0:  # half know their original partition, half leave it to the key
            headers.insert(1, ("__connect.errors.partition", str(i % 3).encode()))
        producer.produce(dlq, key=f"key-{i}".encode(), value=f"value-{i}".encode(), partition=i % 2, headers=headers)
    assert producer.flush(30) == 0


def test_kafka_replay_keeps_keys_headers_and_partitions(ctx: ActionContext, kafka_dlq: tuple[str, str]) -> None:
    source, dlq = kafka_dlq
    _dead_letters(source, dlq, 30)
    plan = replay.plan(ctx, "local", dlq)
    assert plan.broker == "kafka" and not plan.refusals
    assert plan.totals["messages"] == 30
    assert {r.values["pattern"]: r.values["messages"] for r in plan.rows} == {
        "TimeoutException: failed at step <n>": 20, "ParseException: failed at step <n>": 10}
    assert all(r.values["to"] == source for r in plan.rows)
    assert _read_all(source, 3) == []  # planning moved nothing
    res = execute(ctx, plan)
    assert res.status == "executed", res.message
    replay_id = res.details["replay_id"]
    got = {m.value().decode(): m for m in _read_all(source, 3)}
    assert sorted(got) == sorted(f"value-{i}" for i in range(30))
    for i in range(30):
        m = got[f"value-{i}"]
        headers = m.headers()
        assert m.key() == f"key-{i}".encode()
        assert ("trace-id", f"t-{i}".encode()) in headers and headers[-1] == (MARKER, replay_id.encode())
        expected = i % 3 if i % 2 == 0 else _murmur2_partition(m.key(), 3)
        assert m.partition() == expected, i
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    # Verified, and the idempotency check offered: the duplicate scan of what the replay wrote.
    assert check.message == (f"All 30 messages arrived once on {source} (read_committed). To check that nothing "
                             f"arrived twice: `/duplicates {source} --window 1h` (add `--key header:<name>` or "
                             "`--key json:<path>` when the event id is not the message key).")
    again = execute(ctx, plan)
    assert again.status == "nothing_to_do" and "already completed" in again.message


def test_kafka_pattern_limit_and_to(ctx: ActionContext, kafka_dlq: tuple[str, str], unique: str) -> None:
    source, dlq = kafka_dlq
    _dead_letters(source, dlq, 12)
    plan = replay.plan(ctx, "local", f"{dlq} --pattern parseexception")
    assert plan.totals == {"messages": 4, "dlq_depth": 12, "not_matching": 8}
    res = execute(ctx, plan)
    assert res.status == "executed"
    assert sorted(m.value().decode() for m in _read_all(source, 3)) == sorted(f"value-{i}" for i in (0, 3, 6, 9))
    assert verify(ctx, plan, res).ok
    other = f"elsewhere-{unique}"
    kf.create_topic(other, 1)
    try:
        limited = replay.plan(ctx, "local", f"{dlq} --limit 5 --to {other}")
        assert limited.totals["messages"] == 5 and limited.rows[0].values["to"] == other
        res = execute(ctx, limited)
        assert res.status == "executed" and verify(ctx, limited, res).ok
        assert len(_read_all(other, 1)) == 5
    finally:
        kf.admin().delete_topics([other], operation_timeout=30)[other].result(timeout=30)


def test_kafka_refuses_messages_with_no_destination(ctx: ActionContext, kafka_dlq: tuple[str, str]) -> None:
    _, dlq = kafka_dlq
    kf.produce(dlq, {0: 2})  # no error headers at all; the pattern pairs it with the source though
    assert not replay.plan(ctx, "local", dlq).refused
    lonely = f"{dlq}-x"
    kf.create_topic(lonely, 1)
    try:
        kf.produce(lonely, {0: 2})
        plan = replay.plan(ctx, "local", f"{lonely} --broker kafka")
        assert plan.refused and "give --to" in plan.refusals[0].reason
        assert execute(ctx, plan).status == "refused"
    finally:
        kf.admin().delete_topics([lonely], operation_timeout=30)[lonely].result(timeout=30)


def test_kafka_replay_killed_mid_transaction_resumes_exactly_once(ctx: ActionContext, kafka_dlq: tuple[str, str],
                                                                  tmp_path: Path) -> None:
    source, dlq = kafka_dlq
    _dead_letters(source, dlq, 100)
    plan = replay.plan(ctx, "local", dlq)
    _kill_mid_replay(tmp_path, plan, batch=10, stop_at=4)
    left = replay.unfinished(ctx)
    assert [r.state for r in left] == ["running"] and left[0].owner is not None
    # Three batches were committed; the fourth was produced but its transaction never committed.
    assert len(_read_all(source, 3, settle=False)) == 30
    assert len(_read_all(source, 3, committed=False)) == 40
    res = replay.resume(ctx, left[0].id)
    assert res.status == "executed", res.message
    values = [m.value().decode() for m in _read_all(source, 3)]
    assert len(values) == 100 and sorted(values) == sorted(f"value-{i}" for i in range(100))
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    assert replay.unfinished(ctx) == []
    # The replay group went with the completed replay: it would otherwise lag on the DLQ forever.
    listed = kf.admin().list_consumer_groups(request_timeout=10).result(timeout=15).valid
    assert f"incidentbot-replay-{left[0].id}" not in {g.group_id for g in listed}


# ---------------------------------------------------------------- RabbitMQ


@pytest.fixture
def rabbit(brokers: None) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = connection.channel()
    made: list[str] = []
    channel.made = made  # type: ignore[attr-defined]
    yield channel
    for queue in made:
        channel.queue_delete(queue)
    connection.close()


def _rabbit_dead_letters(channel: pika.adapters.blocking_connection.BlockingChannel, unique: str,
                         n: int) -> tuple[str, str]:
    work, dlq = f"work-{unique}", f"work-{unique}.dlq"
    channel.queue_declare(dlq, durable=True)
    channel.queue_declare(work, durable=True, arguments={"x-dead-letter-exchange": "",
                                                         "x-dead-letter-routing-key": dlq})
    channel.made += [work, dlq]  # type: ignore[attr-defined]
    channel.confirm_delivery()
    for i in range(n):
        error = "com.acme.TimeoutException: upstream slow" if i % 2 else f"com.acme.ParseException: bad json at {i}"
        channel.basic_publish("", work, f"m{i}".encode(), pika.BasicProperties(
            delivery_mode=2, message_id=f"id-{i}", content_type="text/plain", headers={"error": error, "seq": i}))
    rejected = 0
    for method, _props, _body in channel.consume(work, inactivity_timeout=5):
        assert method is not None, "the work queue ran dry"
        channel.basic_nack(method.delivery_tag, requeue=False)
        rejected += 1
        if rejected == n:
            break
    channel.cancel()
    deadline = time.monotonic() + 10
    while channel.queue_declare(dlq, passive=True).method.message_count < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return work, dlq


def _drain(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str) -> list[tuple[bytes, dict]]:  # type: ignore[type-arg]
    got = []
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return got
        got.append((body, props.headers or {}))


def test_rabbit_replay_back_to_the_original_queue(ctx: ActionContext, rabbit, unique: str) -> None:  # type: ignore[no-untyped-def]
    work, dlq = _rabbit_dead_letters(rabbit, unique, 40)
    plan = replay.plan(ctx, "local", dlq)
    assert plan.broker == "rabbitmq" and not plan.refusals, plan.refusals
    assert plan.totals["messages"] == 40
    assert {r.values["to"] for r in plan.rows} == {f"queue {work}"}
    assert {r.values["pattern"]: r.values["messages"] for r in plan.rows} == {
        "TimeoutException: upstream slow": 20, "ParseException: bad json at <n>": 20}
    assert rabbit.queue_declare(dlq, passive=True).method.message_count == 40  # the plan took nothing
    res = replay.execute(ctx, plan, batch_size=7)
    assert res.status == "executed", res.message
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    moved = _drain(rabbit, work)
    assert [body for body, _ in moved] == [f"m{i}".encode() for i in range(40)]  # all, once, in order
    assert all(h[MARKER] == res.details["replay_id"] and h["x-death"][0]["queue"] == work for _, h in moved)
    assert _drain(rabbit, dlq) == []


def test_rabbit_pattern_leaves_the_rest_in_order(ctx: ActionContext, rabbit, unique: str) -> None:  # type: ignore[no-untyped-def]
    work, dlq = _rabbit_dead_letters(rabbit, unique, 20)
    plan = replay.plan(ctx, "local", f"{dlq} --pattern timeout")
    assert plan.totals["messages"] == 10 and plan.totals["not_matching"] == 10
    res = execute(ctx, plan)
    assert res.status == "executed" and verify(ctx, plan, res).ok
    assert [b for b, _ in _drain(rabbit, work)] == [f"m{i}".encode() for i in range(1, 20, 2)]
    assert [b for b, _ in _drain(rabbit, dlq)] == [f"m{i}".encode() for i in range(0, 20, 2)]


def test_rabbit_limit_and_stale_plan(ctx: ActionContext, rabbit, unique: str) -> None:  # type: ignore[no-untyped-def]
    work, dlq = _rabbit_dead_letters(rabbit, unique, 10)
    plan = replay.plan(ctx, "local", f"{dlq} --limit 3")
    assert plan.totals["messages"] == 3 and plan.details["window"] == 3
    rabbit.basic_get(dlq, auto_ack=True)  # someone takes the head message after the plan
    res = execute(ctx, plan)
    assert res.status == "refused" and "not the one the plan started with" in res.message
    fresh = replay.plan(ctx, "local", f"{dlq} --limit 3")
    res = execute(ctx, fresh)
    assert res.status == "executed" and verify(ctx, fresh, res).ok
    assert [b for b, _ in _drain(rabbit, work)] == [b"m1", b"m2", b"m3"]
    assert [b for b, _ in _drain(rabbit, dlq)] == [f"m{i}".encode() for i in range(4, 10)]


def test_rabbit_refuses_when_the_route_vanished(ctx: ActionContext, rabbit, unique: str) -> None:  # type: ignore[no-untyped-def]
    work, dlq = _rabbit_dead_letters(rabbit, unique, 4)
    plan = replay.plan(ctx, "local", dlq)
    assert not plan.refusals
    rabbit.queue_delete(work)
    res = execute(ctx, plan)
    assert res.status == "refused" and f"There is no queue {work}" in res.message
    assert rabbit.queue_declare(dlq, passive=True).method.message_count == 4
    assert replay.plan(ctx, "local", dlq).refused


def test_rabbit_replay_killed_mid_transaction_resumes_exactly_once(ctx: ActionContext, rabbit, unique: str,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    work, dlq = _rabbit_dead_letters(rabbit, unique, 60)
    plan = replay.plan(ctx, "local", dlq)
    _kill_mid_replay(tmp_path, plan, batch=5, stop_at=4)
    left = replay.unfinished(ctx)
    assert len(left) == 1 and left[0].state == "running"
    # Three batches were committed; the fourth was published and acked in a transaction
    # that died with the process: the broker discarded it and handed its messages back.
    deadline = time.monotonic() + 10
    while rabbit.queue_declare(dlq, passive=True).method.message_count < 45 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rabbit.queue_declare(dlq, passive=True).method.message_count == 45
    assert rabbit.queue_declare(work, passive=True).method.message_count == 15
    res = replay.resume(ctx, left[0].id)
    assert res.status == "executed", res.message
    assert res.details["moved"] == 60
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    bodies = [b for b, _ in _drain(rabbit, work)]
    assert sorted(bodies) == sorted(f"m{i}".encode() for i in range(60))  # none lost, none twice
    assert bodies == [f"m{i}".encode() for i in range(60)]  # and, here, even in order
    assert _drain(rabbit, dlq) == []
    # The marker queue went with the completed replay.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        rabbit.connection.channel().queue_declare(f"incidentbot.replay.{left[0].id}", passive=True)


def test_replay_spec_parser() -> None:
    spec = parse_replay_spec("orders.dlq --to orders --limit 10 --pattern 'Timeout upstream'")
    assert (spec.dlq, spec.to, spec.limit, spec.pattern) == ("orders.dlq", "orders", 10, "Timeout upstream")
    with pytest.raises(SpecError, match="whole number"):
        parse_replay_spec("x --limit ten")
    with pytest.raises(SpecError, match="exactly one DLQ"):
        parse_replay_spec("a b")
