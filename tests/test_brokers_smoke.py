"""The brokers under the tests are real: produce and consume through Kafka, publish
and get through RabbitMQ."""

from __future__ import annotations

import pika
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import KAFKA, RABBIT_PORT


def test_kafka_produce_and_consume(brokers: None, unique: str) -> None:
    topic = f"smoke-{unique}"
    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": KAFKA})
    for i in range(10):
        producer.produce(topic, key=f"k{i}", value=f"v{i}")
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"g-{unique}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen: set[str] = set()
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                seen.add(msg.value().decode())
            if len(seen) == 10:
                break
    finally:
        consumer.close()
    assert seen == {f"v{i}" for i in range(10)}


def test_rabbitmq_publish_and_get(brokers: None, unique: str) -> None:
    queue = f"smoke-{unique}"
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish("", queue, b"hello", pika.BasicProperties(message_id="m1"))
        method, props, body = None, None, None
        for _ in range(50):
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                break
            connection.sleep(0.1)
        assert body == b"hello" and props is not None and props.message_id == "m1"
        channel.queue_delete(queue)
    finally:
        connection.close()
