"""`/dlq` when one broker cannot be read: the reply says so first, shows what could
be seen, is never OK, and comes within about one timeout (the brokers are asked at
once). Kafka is made unreachable by pointing the bot at a closed port, RabbitMQ's
management API the same way; the other broker is the real one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.localslack.server import LocalSlack
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA, RABBIT_MGMT, RABBIT_PORT, make_settings, start_bot
from tests.test_dlq_command import _dead_lettered_queue

CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
TIMEOUT_S = 2


@pytest.fixture
def kafka_down_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, kafka={"local": {"bootstrap_servers": CLOSED,
                                                                 "request_timeout_s": TIMEOUT_S}}), local_slack)
    yield running
    running.close()


@pytest.fixture
def rabbit_api_down_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, rabbitmq={"local": {
        "port": RABBIT_PORT, "management_url": f"http://{CLOSED}", "request_timeout_s": TIMEOUT_S}}), local_slack)
    yield running
    running.close()


def _dlq_overview(bot: LocalBot) -> tuple[list[str], float]:
    started = time.monotonic()
    bot.slash("/dlq")  # waits until the reply has been posted
    elapsed = time.monotonic() - started
    return bot.slack.state.response_url_posts()[-1]["text"].splitlines(), elapsed


def _row(lines: list[str], name: str) -> list[str]:
    return next(line.split() for line in lines if line.startswith(name + " "))


def test_kafka_unreachable_is_said_first_and_rabbitmq_dlqs_are_listed(kafka_down_bot: LocalBot,
                                                                      unique: str) -> None:
    _, dead = _dead_lettered_queue(unique, 2)
    lines, elapsed = _dlq_overview(kafka_down_bot)
    assert lines[0].startswith(f"Dead-letter queues: WARNING: Kafka `local` could not be seen (tried {CLOSED}, "
                               f"timeout {TIMEOUT_S} s, kafka.local.request_timeout_s)")
    assert lines[0].endswith("Its dead-letter topics are not listed.")
    assert not any(" OK:" in line for line in lines[:1])
    assert _row(lines, dead)[:3] == [dead, "rabbitmq", "2"]
    assert not any(line.split()[1:2] == ["kafka"] for line in lines if line.split())
    assert elapsed < TIMEOUT_S + 2, f"answered after {elapsed:.1f} s"


def test_rabbitmq_management_unreachable_is_said_first_and_kafka_dlqs_are_listed(rabbit_api_down_bot: LocalBot,
                                                                                 unique: str) -> None:
    dlq = f"billing-{unique}.dlq"
    kf.create_topic(f"billing-{unique}", 1)
    kf.create_topic(dlq, 1)
    kf.produce(dlq, {0: 3})
    lines, elapsed = _dlq_overview(rabbit_api_down_bot)
    assert lines[0].startswith(f"Dead-letter queues: WARNING: RabbitMQ `local` could not be seen (management API "
                               f"http://{CLOSED}, timeout {TIMEOUT_S} s, rabbitmq.local.request_timeout_s): ")
    assert lines[0].endswith("Its dead-letter queues are not listed.")
    # The shared Kafka holds other tests' DLQs too, worst first; ours may be among the "+N more".
    kafka_rows = [line.split() for line in lines if line.split()[1:2] == ["kafka"]]
    assert kafka_rows, "the Kafka DLQs are listed"
    assert [dlq, "kafka", "3"] in [row[:3] for row in kafka_rows] or lines[lines.index(
        next(line for line in lines if line.startswith("Name one"))) - 1].startswith("+")
    assert elapsed < TIMEOUT_S + 2, f"answered after {elapsed:.1f} s"


def test_neither_broker_readable_is_critical(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> None:
    settings = make_settings(tmp_path, kafka={"local": {"bootstrap_servers": CLOSED, "request_timeout_s": TIMEOUT_S}},
                             rabbitmq={"local": {"port": RABBIT_PORT, "management_url": f"http://{CLOSED}",
                                                 "request_timeout_s": TIMEOUT_S}})
    with start_bot(settings, local_slack) as bot:
        lines, elapsed = _dlq_overview(bot)
    assert lines[0].startswith("Dead-letter queues: CRITICAL: Kafka `local` could not be seen")
    assert lines[1].startswith("- RabbitMQ `local` could not be seen")
    assert "no dead-letter queues found" not in "\n".join(lines)  # nothing was looked at, so nothing was found
    assert elapsed < TIMEOUT_S + 2, f"answered after {elapsed:.1f} s"


def test_both_brokers_readable_stays_as_before(bot: LocalBot) -> None:
    lines, _ = _dlq_overview(bot)
    assert "could not be seen" not in "\n".join(lines)
    assert KAFKA and RABBIT_MGMT  # the real brokers of conftest
