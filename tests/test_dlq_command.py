"""`/dlq` and `/rabbit` as a person sees them, on real DLQs."""

from __future__ import annotations

import time

import pika
import requests

from bot.app.localbot import LocalBot
from tests import kafka_fixtures as kf
from tests.conftest import RABBIT_MGMT, RABBIT_PORT


def _connect_headers(i: int) -> list[tuple[str, bytes]]:
    return [("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
            ("__connect.errors.exception.message", f"Failed to deserialize record {i}: unknown magic byte".encode()),
            ("__connect.errors.topic", b"orders"), ("__connect.errors.partition", b"2"),
            ("__connect.errors.offset", str(1000 + i).encode())]


def test_kafka_dlq_with_error_patterns(bot: LocalBot, unique: str) -> None:
    source, dlq = f"orders-{unique}", f"orders-{unique}.dlq"
    kf.create_topic(source, 1)
    kf.create_topic(dlq, 2)
    for i in range(3):
        kf.produce(dlq, {i % 2: 1}, headers=_connect_headers(i))
    bot.slash(f"/dlq {dlq} --sample 5")
    post = bot.slack.state.response_url_posts()[-1]
    text = post["text"]
    assert text.startswith(f"DLQ {dlq} (local): OK:")
    assert f"3 messages in 2 partitions; source topic {source}" in text
    assert "3  DataException: Failed to deserialize record &lt;n&gt;: unknown magic byte" in text  # escaped for Slack
    assert "orders[2]@1002" in text  # the original position, from Connect's headers
    assert f"--topic {dlq} --from-beginning --max-messages 10" in text


def test_dlq_by_source_name_and_overview(bot: LocalBot, unique: str) -> None:
    source, dlq = f"pay-{unique}", f"pay-{unique}-dlq"
    kf.create_topic(source, 1)
    kf.create_topic(dlq, 1)
    kf.produce(dlq, {0: 150})
    bot.slash(f"/dlq {source}")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert text.startswith(f"DLQ {dlq} (local): WARNING: {dlq} holds 150 messages")
    bot.slash("/ops dlq")
    overview = bot.slack.state.response_url_posts()[-1]["text"]
    row = next(line.split() for line in overview.splitlines() if line.startswith(dlq + " "))
    assert row == [dlq, "kafka", "150", "-", source, "WARNING"]  # growth needs a look older than a second


def _dead_lettered_queue(unique: str, n: int) -> tuple[str, str]:
    work, dead = f"work-{unique}", f"work-{unique}.dlq"
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    ch = conn.channel()
    ch.exchange_declare(f"dlx-{unique}", "fanout")
    ch.queue_declare(dead)
    ch.queue_bind(dead, f"dlx-{unique}")
    ch.queue_declare(work, arguments={"x-dead-letter-exchange": f"dlx-{unique}"})
    for i in range(n):
        ch.basic_publish("", work, f"job {i}".encode())
    for _ in range(n):
        method, _, _ = ch.basic_get(work)
        ch.basic_nack(method.delivery_tag, requeue=False)
    conn.close()
    deadline = time.time() + 15  # the management API's counters refresh every few seconds
    while time.time() < deadline:
        q = requests.get(f"{RABBIT_MGMT}/api/queues/%2F/{dead}", auth=("guest", "guest"), timeout=5).json()
        if q.get("messages") == n:
            break
        time.sleep(0.5)
    return work, dead


def test_rabbit_dlq_shows_x_death_and_keeps_the_messages(bot: LocalBot, unique: str) -> None:
    work, dead = _dead_lettered_queue(unique, 4)
    bot.slash(f"/dlq {dead} --sample 3")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert text.startswith(f"Dead-letter queue {dead} (local): OK:")
    assert "4 messages (4 ready" in text
    assert f"Dead letters come from: {work}." in text
    assert f"3  rejected  {work}" in text
    bot.slash(f"/rabbit {dead}")
    again = bot.slack.state.response_url_posts()[-1]["text"]
    assert "4 messages (4 ready" in again  # sampling put them back


def test_rabbit_overview_and_unknown_queue(bot: LocalBot, unique: str) -> None:
    _dead_lettered_queue(unique, 1)
    bot.slash("/rabbit")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert text.startswith("RabbitMQ nodes: local: OK: 1 of 1 node running")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("QUEUE "))
    rows = [line.split() for line in lines[start + 1:] if line.split() and line.split()[1].replace(",", "").isdigit()]
    depths = [int(r[1].replace(",", "")) for r in rows]
    assert 1 <= len(rows) <= 15 and depths == sorted(depths, reverse=True)  # the deepest first, at most 15
    bot.slash(f"/rabbit work-{unique}.dl")
    post = bot.slack.state.response_url_posts()[-1]
    assert post["response_type"] == "ephemeral"
    assert f"No queue named `work-{unique}.dl`. Did you mean `work-{unique}.dlq`" in post["text"]
