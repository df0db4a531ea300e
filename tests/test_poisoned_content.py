"""Broker content is untrusted: DLQ payloads, keys, headers, error texts, consumer
client ids and queue names carrying Slack mentions, links and invalid UTF-8 are
produced to the real Kafka and RabbitMQ, and what the local Slack received for
`/dlq` and `/lag` is searched: nothing may ping anyone or show as a link, and the
poisoned content is still shown (escaped), not dropped."""

from __future__ import annotations

import json
import time
from typing import Any

import pika
import requests
from confluent_kafka import Producer

from bot.app.localbot import LocalBot
from tests import kafka_fixtures as kf
from tests.conftest import RABBIT_MGMT, RABBIT_PORT

# What Slack would act on if it arrived unescaped: pings and a forged link.
LIVE = ("<!channel>", "<!here>", "<!everyone>", "<@U0ALICE>", "<!subteam^S0PLATFORM>", "<http://evil.example|")
POISON = "<!channel> <!here> <!everyone> <@U0ALICE> <!subteam^S0PLATFORM> <http://evil.example|click here>"
INVALID_UTF8 = b"\xff\xfe\xc3\x28 raw \x00 bytes \x80"


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return []  # Slack shows plain_text as it is: no mention, no link in it is acted on
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _received(bot: LocalBot) -> str:
    """Everything Slack received from the bot: texts and every string in the blocks."""
    posts = [p.payload for p in bot.slack.state.response_url_posts()]
    messages = [{"text": m.text, "blocks": m.blocks} for m in bot.slack.state.messages()]
    return "\n".join(_strings(posts) + _strings(messages))


def _assert_defused(seen: str) -> None:
    live = [seen[max(0, seen.index(m) - 80):seen.index(m) + 40] for m in LIVE if m in seen]
    assert live == [], f"Slack would act on {live}"


def test_kafka_dlq_poisoned_key_payload_headers_and_bytes(bot: LocalBot, unique: str) -> None:
    source, dlq = f"orders-{unique}", f"orders-{unique}.dlq"
    kf.create_topic(source, 1)
    kf.create_topic(dlq, 1)
    producer = Producer({"bootstrap.servers": kf.KAFKA})
    headers = [("__connect.errors.exception.class.name", b"org.example.<!channel>Exception"),
               ("__connect.errors.exception.message", POISON.encode()),
               ("__connect.errors.topic", source.encode())]
    producer.produce(dlq, key=b"<!here>", value=POISON.encode(), partition=0, headers=headers)
    producer.produce(dlq, key=INVALID_UTF8, value=INVALID_UTF8, partition=0,
                     headers=[("__connect.errors.exception.message", INVALID_UTF8)])
    assert producer.flush(30) == 0
    response = bot.slash(f"/dlq {dlq} --sample 5")
    assert response.status_code == 200
    seen = _received(bot)
    assert f"DLQ {dlq} (local)" in seen
    _assert_defused(seen)
    assert "&lt;!channel&gt;" in seen and "&lt;!here&gt;" in seen  # shown, escaped
    assert "&lt;http://evil.example|click here&gt;" in seen
    assert "\x00" not in seen  # the raw bytes do not reach Slack as they are


def _poisoned_dead_letters(unique: str) -> str:
    work, dead = f"work-{unique}", f"work-{unique}-<!here>.dlq"
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    ch = conn.channel()
    ch.exchange_declare(f"dlx-{unique}", "fanout")
    ch.queue_declare(dead)
    ch.queue_bind(dead, f"dlx-{unique}")
    ch.queue_declare(work, arguments={"x-dead-letter-exchange": f"dlx-{unique}"})
    props = pika.BasicProperties(headers={"error": POISON, "x-exception-message": POISON})
    ch.basic_publish("", work, POISON.encode(), properties=props)
    ch.basic_publish("", work, INVALID_UTF8)
    for _ in range(2):
        method, _, _ = ch.basic_get(work)
        ch.basic_nack(method.delivery_tag, requeue=False)
    conn.close()
    quoted = requests.utils.quote(dead, safe="")
    deadline = time.time() + 15  # the management API's counters refresh every few seconds
    while time.time() < deadline:
        q = requests.get(f"{RABBIT_MGMT}/api/queues/%2F/{quoted}", auth=("guest", "guest"), timeout=5).json()
        if q.get("messages") == 2:
            break
        time.sleep(0.5)
    return dead


def test_rabbit_dlq_poisoned_body_headers_and_queue_name(bot: LocalBot, unique: str) -> None:
    dead = _poisoned_dead_letters(unique)
    try:
        response = bot.slash(f"/dlq {dead} --sample 3")
        assert response.status_code == 200
        seen = _received(bot)
        _assert_defused(seen)
        assert f"work-{unique}-&lt;!here&gt;.dlq" in seen  # the queue named, escaped
        assert "&lt;!channel&gt;" in seen
        bot.slash("/dlq")  # the overview lists it too
        _assert_defused(_received(bot))
    finally:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
        conn.channel().queue_delete(dead)
        conn.close()


def test_lag_shows_a_consumer_client_id_with_a_mention_escaped(bot: LocalBot, unique: str) -> None:
    topic, group = f"lagpoison-{unique}", f"lagpoison-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 5})
    with kf.members(group, topic, 1, client_prefix="<!channel><@U0ALICE>"):
        response = bot.slash(f"/lag {group}")
        assert response.status_code == 200
    seen = _received(bot)
    assert group in seen
    _assert_defused(seen)
    assert "&lt;!channel&gt;&lt;@U0ALICE&gt;" in seen, json.dumps(seen)[:2000]
