"""`/broker` as a person sees it: the live cluster, a dead one, and a sick one
(constructed, since one broker cannot lose replicas)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from bot.app.localbot import LocalBot
from bot.config import Thresholds
from bot.health.brokers import kafka_cluster_verdict
from bot.localslack.server import LocalSlack
from bot.probes.kafka_cluster import BrokerInfo, PartitionInfo, TopicInfo, summarize
from bot.reports import brokers as render_brokers
from bot.reports import report
from tests.conftest import free_port, make_settings, start_bot


def test_broker_reports_the_live_cluster(bot: LocalBot) -> None:
    bot.slash("/broker")
    post = bot.slack.state.response_url_posts()[-1]
    assert post["response_type"] == "in_channel"
    text = post["text"]
    assert text.startswith("Kafka brokers: local: OK: 1 broker answering (ids 1), controller 1")
    assert "127.0.0.1:9092" in text and "controller" in text
    assert "kafka-topics.sh --bootstrap-server 127.0.0.1:9092 --describe --under-replicated-partitions" in text


def test_broker_says_unreachable_within_the_timeout(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> None:
    closed = f"127.0.0.1:{free_port()}"
    running = start_bot(make_settings(tmp_path, kafka={"local": {"bootstrap_servers": closed,
                                                                  "request_timeout_s": 2}}), local_slack)
    try:
        started = time.monotonic()
        running.slash("/broker")
        elapsed = time.monotonic() - started
    finally:
        running.close()
    text = local_slack.state.response_url_posts()[-1]["text"]
    assert text.startswith(f"Kafka brokers: local: CRITICAL: Kafka unreachable (tried {closed})")
    assert elapsed < 4


def test_sick_cluster_lists_offline_and_under_replicated_partitions() -> None:
    brokers = [BrokerInfo(id=1, host="kafka-1", port=9092), BrokerInfo(id=2, host="kafka-2", port=9092)]
    partitions = [
        PartitionInfo(topic="orders", partition=0, leader=1, replicas=[1, 2, 3], isr=[1, 2]),
        PartitionInfo(topic="orders", partition=1, leader=-1, replicas=[3], isr=[]),
        PartitionInfo(topic="orders", partition=2, leader=2, replicas=[2, 1, 3], isr=[2, 1]),
    ]
    snap = summarize(cluster="prod", bootstrap_servers=["kafka-1:9092"], taken_at=datetime(2026, 1, 1, tzinfo=UTC),
                     cluster_id="c", controller_id=1, brokers=brokers,
                     topics=[TopicInfo(name="orders", partitions=3)], partitions=partitions)
    rendered = report.to_text(render_brokers.kafka_report(snap, kafka_cluster_verdict(snap, Thresholds())))
    assert rendered.startswith("Kafka brokers: prod: CRITICAL:")
    assert "orders-1" in rendered and "OFFLINE" in rendered
    assert "orders-0" in rendered and "under-replicated" in rendered
    assert "not answering" in rendered and "in 3 replica sets" in rendered
