"""DLQ replay throughput, with nothing lost and nothing duplicated.

On the real local Kafka and RabbitMQ: fills a Kafka DLQ with --kafka-msgs dead letters
(Kafka Connect error headers naming the source topic and partition) and a RabbitMQ DLQ
with --rabbit-msgs real dead letters (expired from the work queue, so they carry
x-death); plans each replay (not timed), times only the execution, then reads every
target back (Kafka with read_committed) and counts what arrived once, twice or never.
Prints one JSON line. Targets: kafka_per_s >= 20000, rabbit_per_s >= 2000, lost 0,
duplicated 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pika  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bot import config, db  # noqa: E402
from bot.actions import ActionContext, replay  # noqa: E402
from bot.probes.clients import Clients  # noqa: E402


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def fill_kafka(bootstrap: str, source: str, dlq: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000})
    for i in range(n):
        headers: list[tuple[str, str | bytes | None]] = [
            ("__connect.errors.topic", source.encode()), ("__connect.errors.partition", str(i % 6).encode()),
            ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
            ("__connect.errors.exception.message", f"Converting byte[] failed at {i}".encode())]
        while True:
            try:
                producer.produce(dlq, key=f"key-{i % 5000}".encode(), value=f"payload-{i}".encode(),
                                 partition=i % 3, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def count_kafka(bootstrap: str, topic: str, partitions: int) -> Counter[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-count-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen: Counter[bytes] = Counter()
    done: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        while len(done) < partitions and time.monotonic() < deadline:
            for m in consumer.consume(5000, timeout=0.5):
                error = m.error()
                if error is None:
                    seen[m.value() or b""] += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition() or 0)
    finally:
        consumer.close()
    return seen


def fill_rabbit(port: int, work: str, dlq: str, n: int) -> None:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = connection.channel()
    channel.queue_declare(dlq, durable=True)
    channel.queue_declare(work, durable=True,
                          arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
    for i in range(n):
        # Expire at once: dead-lettered with a real x-death. The replay drops the expiration.
        channel.basic_publish("", work, f"payload-{i}".encode(), pika.BasicProperties(
            delivery_mode=2, expiration="0", message_id=f"m-{i}",
            headers={"error": "com.acme.UpstreamTimeoutException: inventory did not answer"}))
    deadline = time.monotonic() + 120
    while channel.queue_declare(dlq, passive=True).method.message_count < n and time.monotonic() < deadline:
        time.sleep(0.2)
    connection.close()


def count_rabbit(port: int, queue: str) -> Counter[bytes]:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1000)
    seen: Counter[bytes] = Counter()
    for method, _props, body in channel.consume(queue, auto_ack=True, inactivity_timeout=2):
        if method is None:
            break
        seen[body] += 1
    channel.cancel()
    connection.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--rabbit-port", type=int, default=5672)
    parser.add_argument("--kafka-msgs", type=int, default=100_000)
    parser.add_argument("--rabbit-msgs", type=int, default=20_000)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    source, kdlq = f"bench-replay-{run}", f"bench-replay-{run}.dlq"
    work, rdlq = f"bench-replay-{run}", f"bench-replay-{run}.dlq"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for name, parts in ((source, 6), (kdlq, 3)):
        admin.create_topics([NewTopic(name, parts, 1)])[name].result(timeout=30)

    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(database_url=f"sqlite:///{tmp}/bench.db",
                               kafka={"local": {"bootstrap_servers": args.bootstrap}},
                               rabbitmq={"local": {"port": args.rabbit_port}})
        engine = db.create(settings.database_url)
        db.migrate(engine)
        ctx = ActionContext(clients=Clients(settings), engine=engine, actor="bench")
        try:
            fill_kafka(args.bootstrap, source, kdlq, args.kafka_msgs)
            started = time.perf_counter()
            kplan = replay.plan(ctx, "local", f"{kdlq} --broker kafka")
            log(f"kafka plan: {kplan.totals['messages']} messages in {time.perf_counter() - started:.2f} s")
            started = time.perf_counter()
            kres = replay.execute(ctx, kplan)
            kafka_s = time.perf_counter() - started
            log(f"kafka replay: {kres.status} in {kafka_s:.2f} s: {kres.message}")
            kseen = count_kafka(args.bootstrap, source, 6)
            kcheck = replay.verify(ctx, kplan, kres)
            log(f"kafka verify: {kcheck.message}")

            fill_rabbit(args.rabbit_port, work, rdlq, args.rabbit_msgs)
            started = time.perf_counter()
            rplan = replay.plan(ctx, "local", f"{rdlq} --broker rabbitmq")
            log(f"rabbit plan: {rplan.totals['messages']} messages in {time.perf_counter() - started:.2f} s")
            started = time.perf_counter()
            rres = replay.execute(ctx, rplan)
            rabbit_s = time.perf_counter() - started
            log(f"rabbit replay: {rres.status} in {rabbit_s:.2f} s: {rres.message}")
            rcheck = replay.verify(ctx, rplan, rres)
            log(f"rabbit verify: {rcheck.message}")
            rseen = count_rabbit(args.rabbit_port, work)
        finally:
            admin.delete_topics([source, kdlq], operation_timeout=30)
            connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", args.rabbit_port))
            for queue in (work, rdlq):
                connection.channel().queue_delete(queue)
            connection.close()
            engine.dispose()

    expected_k = {f"payload-{i}".encode() for i in range(args.kafka_msgs)}
    expected_r = {f"payload-{i}".encode() for i in range(args.rabbit_msgs)}
    lost = len(expected_k - set(kseen)) + len(expected_r - set(rseen))
    duplicated = sum(n - 1 for n in kseen.values() if n > 1) + sum(n - 1 for n in rseen.values() if n > 1)
    print(json.dumps({
        "kafka_msgs": sum(kseen.values()), "kafka_per_s": round(args.kafka_msgs / kafka_s),
        "rabbit_msgs": sum(rseen.values()), "rabbit_per_s": round(args.rabbit_msgs / rabbit_s),
        "lost": lost, "duplicated": duplicated,
    }, separators=(",", ":")))


if __name__ == "__main__":
    main()
