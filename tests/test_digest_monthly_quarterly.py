"""The monthly and quarterly digests on known data: partitions against live members,
assignment strategies, retention against how far back the slowest group reads,
idle partitions and unused topics from stored end offsets, the capacity projection
from a month of stored daily rates, and subjects with many versions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.digests import run
from bot.health.verdict import Level
from bot.localslack.server import LocalSlack
from tests.conftest import make_settings, start_bot
from tests.digest_fixtures import drop_subject, group_row, register, rows, section, topic_row
from tests.kafka_fixtures import commit, create_topic, members, produce_at

DAY = 86400.0
HOUR = 3600.0


@pytest.fixture
def prefix(unique: str) -> str:
    return f"dgm{unique}"


@pytest.fixture
def mbot(tmp_path: Path, local_slack: LocalSlack, brokers: None, prefix: str) -> Iterator[LocalBot]:
    settings = make_settings(tmp_path, digests={"include": [prefix], "partition_msgs_per_s": 300,
                                                "schema_old_versions": 2})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


def test_monthly_distribution_retention_and_unused(mbot: LocalBot, prefix: str) -> None:
    live, group = f"{prefix}-live", f"{prefix}-workers"
    kept, slow = f"{prefix}-short", f"{prefix}-slow"
    unused = f"{prefix}-forgotten"
    create_topic(live, 2)
    create_topic(kept, 1, {"retention.ms": "3600000"})
    create_topic(unused, 1)
    written = int((time.time() - 50 * 60) * 1000)
    produce_at(kept, 0, [written, written + 1000])
    commit(slow, {(kept, 0): 0})  # has read nothing: its oldest unread is 50 minutes old
    engine, now = mbot.ctx.engine, time.time()
    topic_row(engine, live, now - 10 * DAY, [0, 0])
    topic_row(engine, live, now - HOUR, [7, 0])  # partition 1 got nothing in ten days
    topic_row(engine, unused, now - 31 * DAY, [0])
    topic_row(engine, unused, now - HOUR, [0])
    with members(group, live, 2):
        digest = run.build(mbot.ctx, "monthly")

    spread = section(digest, "Partition distribution")
    assert [r for r in rows(spread) if r[0] == group] == [
        [group, live, "2", "2", "cannot scale further: 2 consumers for 2 partitions"]]
    assert rows(spread, 1) == [[live, "2", "1", "9 d 23 h"]]
    assert spread.verdict.reasons == ["1 group cannot scale further on a topic (as many consumers as partitions)",
                                      "1 topic with idle partitions"]

    configs = section(digest, "Consumer group configurations")
    assert [group, "Stable", "range", "2", "worker-0, worker-1"] in rows(configs)
    assert [slow, "Empty", "-", "0", "-"] in rows(configs)

    retention = section(digest, "Retention and the slowest readers")
    assert [kept, "1 h 0 min", "unlimited", slow, "50 min", "83%"] in rows(retention)
    assert retention.verdict.level is Level.WARNING
    assert retention.verdict.reasons == [f"1 topic whose slowest group reads back 80% of its retention or more: {kept}"]

    idle = section(digest, "Unused for 30 days")
    assert rows(idle) == [[unused, "kafka topic", "no message and no consumer in 30 days"]]
    assert idle.verdict.reasons == ["1 topic or queue unused: clean up?"]


def test_monthly_says_unused_cannot_be_judged_yet(mbot: LocalBot, prefix: str) -> None:
    create_topic(f"{prefix}-new", 1)
    topic_row(mbot.ctx.engine, f"{prefix}-new", time.time() - 2 * DAY, [0])
    digest = run.build(mbot.ctx, "monthly")
    spread = section(digest, "Partition distribution")
    assert spread.verdict.level is Level.WARNING
    assert spread.verdict.reasons == ["idle partitions unknown: no topic has two stored samples in the last 30 days"]
    idle = section(digest, "Unused for 30 days")
    assert rows(idle) == [] and idle.verdict.level is Level.WARNING
    assert idle.verdict.reasons == ["Kafka topics: samples cover only 2 d 0 h; unused topics can be named once they "
                                    "span 30 days."]


def test_quarterly_capacity_projection(mbot: LocalBot, prefix: str) -> None:
    engine = mbot.ctx.engine
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    now = midnight.timestamp()
    topic, young, group = f"{prefix}-growing", f"{prefix}-young", f"{prefix}-readers"
    total = 0
    topic_row(engine, topic, now - 10 * DAY, [0, 0])
    for k in range(1, 11):  # day k carries 100 + 10k messages a second: 110 … 200
        total += int((100 + 10 * k) * DAY)
        topic_row(engine, topic, now - (10 - k) * DAY, [total // 2, total - total // 2])
    group_row(engine, group, topic, now - DAY, 0, 2)
    group_row(engine, group, topic, now, int(400 * DAY), 2)  # 400/s by two members: 200/s each
    topic_row(engine, young, now - DAY, [0])
    topic_row(engine, young, now, [0])  # a day of samples, and of no traffic: the cluster's sum stays 110 … 200
    subject = f"{prefix}-many-value"
    try:
        for fields in (1, 2, 3):
            register(subject, fields)
        digest = run.build(mbot.ctx, "quarterly", now=midnight)
    finally:
        drop_subject(subject)

    capacity = section(digest, "Capacity planning")
    # Fitted: 200/s today, +10/s a day. Partitions: 2 × 300/s = 600/s in 40 days.
    # Consumers: at most 2 members × 200/s = 400/s, reached in 20 days.
    assert rows(capacity) == [[topic, "2", "200.00/s", "+300.00/s", "in 40 days",
                               f"in 20 days ({group}: at most 400.0/s)"]]
    assert capacity.verdict.level is Level.WARNING
    assert capacity.verdict.reasons == [f"within 90 days at today's growth: {topic}"]
    assert any(n.startswith("Assumptions: a partition takes 300 messages a second comfortably") for n in capacity.notes)
    assert f"A trend needs at least two days of samples; too few for: {young} (1 day of rates)." in capacity.notes
    assert "Cluster: 200.00 messages/s today by the fit, +300.00/s a month." in capacity.notes
    assert [c.filename for c in digest.charts] == ["capacity-local.png"]

    schemas = section(digest, "Schema subjects with many versions")
    assert rows(schemas) == [[subject, "3", "1", "3", "1"]]
    assert schemas.verdict.reasons == ["1 subject with more than 2 versions: cleanup candidates"]


def test_quarterly_without_samples_says_so(mbot: LocalBot) -> None:
    capacity = section(run.build(mbot.ctx, "quarterly"), "Capacity planning")
    assert capacity.verdict.level is Level.WARNING
    assert capacity.verdict.reasons == ["not enough stored samples for a trend (two days or more per topic are needed)"]
