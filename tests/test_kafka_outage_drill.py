"""Fault drill: Kafka stops in the middle of a `/lag` typed in an incident's thread.

The Kafka here is the test's own (tests/private_kafka.py: one KRaft node on free ports
and its own data folder, started once for the module); the shared Kafka keeps running.
The broker is frozen (SIGSTOP: connections open, nothing answered) under a `/lag`,
then SIGKILLed under the next one. What the people in the thread see: the cluster named as unreachable
within its request timeout, the same line in the incident's timeline, and once the
broker is back (restarted on the same port and data) the next `/lag` answers with
the right lag, from the same bot, which was never restarted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.localslack.server import LocalSlack
from tests.conftest import make_settings, start_bot
from tests.private_kafka import PrivateKafka

TIMEOUT_S = 3
# The bot's own work around the probe (the thread post, the timeline write) on a shared 2-core host.
MARGIN_S = 3


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[PrivateKafka]:
    broker = PrivateKafka()
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


@pytest.fixture
def private_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                private_kafka: PrivateKafka) -> Iterator[LocalBot]:
    settings = make_settings(tmp_path, kafka={"private": {"bootstrap_servers": private_kafka.bootstrap,
                                                          "request_timeout_s": TIMEOUT_S}},
                             incidents={"first_checks": 0})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


def _lagging_group(bootstrap: str, topic: str, group: str, produced: int, read: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the result: a dropped client cancels it
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(produced):
        producer.produce(topic, value=f"message {i}".encode(), partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, read)], asynchronous=False)
    finally:
        consumer.close()


def _thread_texts(bot: LocalBot, thread: str) -> list[str]:
    return [m.text for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=thread)]


def _lag_in_thread(bot: LocalBot, group: str, thread: str,
                   then: Callable[[], None] | None = None) -> tuple[str, float]:
    """`/lag group` typed in the thread; `then` is done half a second later, while it
    runs. The last message of the thread, and how long until it was there."""
    started = time.monotonic()
    asking = threading.Thread(target=bot.slash, args=(f"/lag {group}",), kwargs={"thread": thread, "user": "U0BOB"})
    asking.start()
    if then is not None:
        time.sleep(0.5)  # a fault injected at a moment, not a wait for a result
        then()
    asking.join(60)
    return _thread_texts(bot, thread)[-1], time.monotonic() - started


def test_kafka_stopped_mid_lag_is_said_in_time_recorded_and_the_next_lag_works(
        private_bot: LocalBot, private_kafka: PrivateKafka, unique: str) -> None:
    topic, group = f"outage-{unique}", f"outage-{unique}"
    _lagging_group(private_kafka.bootstrap, topic, group, produced=9, read=4)
    opened = private_bot.slash(f"/incident open Orders consumer behind --group {group} --topic {topic} "
                               "--cluster private --severity warning").json()["text"]
    ref = opened.split()[1]
    thread = next(m.ts for m in private_bot.slack.state.messages("C0INCIDENTS")
                  if ref in m.text and m.thread_ts in (None, m.ts))

    private_bot.slash(f"/lag {group}", thread=thread, user="U0BOB")  # the bot's clients are connected
    assert _thread_texts(private_bot, thread)[-1].startswith(f"Consumer lag: {group} (private)")

    private_kafka.freeze()  # from now on nothing is answered, and no connection is closed
    said, elapsed = _lag_in_thread(private_bot, group, thread)  # hangs: the timeout must end it
    assert said.startswith(f"Kafka cluster `private` is unreachable (tried {private_kafka.bootstrap})"), said
    assert elapsed < TIMEOUT_S + MARGIN_S, elapsed
    said, elapsed = _lag_in_thread(private_bot, group, thread, then=private_kafka.kill)  # dies under the request
    assert said.startswith(f"Kafka cluster `private` is unreachable (tried {private_kafka.bootstrap})"), said
    assert elapsed < TIMEOUT_S + MARGIN_S, elapsed
    incident = service.get(private_bot.ctx.engine, ref)
    assert incident is not None
    outages = [e for e in service.timeline(private_bot.ctx.engine, incident) if e.kind == "outage"]
    assert [(e.actor, e.text[:44]) for e in outages] == [("U0BOB", "/lag: Kafka cluster `private` is unreachable")] * 2
    timeline = private_bot.slash("/incident timeline", thread=thread).json()["text"]
    assert timeline.count("<@U0BOB>: /lag: Kafka cluster `private` is unreachable") == 2, timeline

    private_kafka.start()  # the same port and data folder; the bot is not restarted
    private_bot.slash(f"/lag {group}", thread=thread, user="U0BOB")
    back = _thread_texts(private_bot, thread)[-1]
    assert back.startswith(f"Consumer lag: {group} (private)"), back
    assert "unreachable" not in back.lower()
    assert "· lag 5 ·" in back, back  # 9 messages, 4 read: the committed offset survived the kill
