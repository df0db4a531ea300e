"""Fault drills, each asserting what a person sees: a second Kafka cluster that does
not answer (a closed port, beside the shared one, which keeps running) in the middle
of the commands, and RabbitMQ with its AMQP port unreachable while its management API
answers. The shared services are never stopped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.localslack.server import LocalSlack
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA, RABBIT_MGMT, free_port, make_settings, start_bot
from tests.test_dlq_command import _dead_lettered_queue

TIMEOUT_S = 2


@pytest.fixture
def two_cluster_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, kafka={
        "local": {"bootstrap_servers": KAFKA, "request_timeout_s": 5},
        "gone": {"bootstrap_servers": f"127.0.0.1:{free_port()}", "request_timeout_s": TIMEOUT_S},
    }), local_slack)
    yield running
    running.close()


def _reply(bot: LocalBot, line: str) -> tuple[str, float]:
    started = time.monotonic()
    bot.slash(line)  # waits until the reply has been posted
    return bot.slack.state.response_url_posts()[-1]["text"], time.monotonic() - started


def test_an_unreachable_cluster_is_said_within_its_timeout_and_the_next_command_works(
        two_cluster_bot: LocalBot, unique: str) -> None:
    topic, group = f"fault-{unique}", f"fault-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 7})
    kf.commit(group, {(topic, 0): 2})
    for line in ("/lag --cluster gone", f"/lag {group} --cluster gone", "/broker --cluster gone"):
        text, elapsed = _reply(two_cluster_bot, line)
        assert "unreachable" in text.lower() and "gone" in text, (line, text)
        assert elapsed < TIMEOUT_S + 4, (line, elapsed)  # the timeout, plus the bot's own work
    text, _ = _reply(two_cluster_bot, f"/lag {group}")  # the same bot, no restart
    assert group in text and "unreachable" not in text.lower()
    assert "5" in text  # 7 messages, 2 read: lag 5


@pytest.fixture
def amqp_down_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, rabbitmq={"local": {
        "port": free_port(), "management_url": RABBIT_MGMT, "request_timeout_s": TIMEOUT_S}}), local_slack)
    yield running
    running.close()


def test_amqp_unreachable_with_the_management_api_up_shows_depths_and_says_what_is_missing(
        amqp_down_bot: LocalBot, unique: str) -> None:
    _, dead = _dead_lettered_queue(unique, 3)
    text, elapsed = _reply(amqp_down_bot, f"/dlq {dead} --sample 3")
    assert dead in text and "3 messages" in text  # the depth, from the management API
    assert not text.split("\n", 1)[0].endswith("OK"), text  # never a plain OK with part unseen
    assert "Messages not sampled: AMQP connection failed" in text  # what could not be seen, said
    assert elapsed < TIMEOUT_S * 3 + 4, elapsed
