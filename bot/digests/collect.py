"""The sampling round the timer owner runs every `digests.sample_every_s`: what the
digests are computed from later. Per Kafka cluster it stores every topic's end
offsets, every group's commits and members per topic, the lag samples of /lag and
the DLQ depths of /dlq; per Schema Registry the versions it has not seen before."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from bot.digests import tables
from bot.evidence import depth_history, lag_history
from bot.evidence import dlq as dlq_evidence
from bot.probes import kafka_dlq, kafka_lag, rabbitmq
from bot.probes.lag_models import LagSnapshot
from bot.probes.schema_registry import SchemaRegistryError

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
TREND_EVERY_S = 3600 - 60  # a round that comes a little early still counts


def sample_round(ctx: BotContext) -> list[str]:
    """One round over every configured cluster and registry; returns a sentence per
    source that could not be read (logged, and the round goes on)."""
    problems: list[str] = []
    for cluster in ctx.settings.kafka:
        try:
            sample_kafka(ctx, cluster)
        except KafkaException as exc:
            problems.append(f"Kafka {cluster}: {dlq_evidence.kafka_error(exc)}")
        except kafka_lag.KafkaUnavailable as exc:
            problems.append(f"Kafka {cluster}: {exc}")
    for cluster in ctx.settings.rabbitmq:
        try:
            sample_rabbit(ctx, cluster)
        except (rabbitmq.RabbitUnavailable, rabbitmq.ManagementDown) as exc:
            problems.append(f"RabbitMQ {cluster}: {exc}")
    for name in ctx.settings.schema_registry:
        try:
            sample_schemas(ctx, name)
        except SchemaRegistryError as exc:
            problems.append(f"Schema Registry {name}: {exc}")
    tables.prune(ctx.engine, time.time(), ctx.settings.digests.keep_days)
    for problem in problems:
        log.warning("digest sampling: %s", problem)
    return problems


def sample_kafka(ctx: BotContext, cluster: str) -> LagSnapshot:
    settings = ctx.settings.digests
    timeout = ctx.settings.kafka[cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(cluster)
    metadata = admin.list_topics(timeout=timeout)
    partitions = [(t.topic, p) for name, t in metadata.topics.items()
                  if not name.startswith("__") and settings.covers(name) for p in t.partitions]
    offsets, _ = kafka_dlq.fetch_offsets(admin, partitions, timeout)
    now = time.time()
    ends: dict[str, dict[int, int]] = defaultdict(dict)
    for (topic, partition), (_, end) in offsets.items():
        ends[topic][partition] = end
    rows = [(topic, len(by_p), [by_p.get(p, 0) for p in range(max(by_p) + 1)]) for topic, by_p in ends.items()]
    # The long-lived samples (kept digests.keep_days) are hourly at most: a quarter's trend
    # needs no more, and a year of them stays a few million rows on a large cluster.
    latest = tables.latest_sample(ctx.engine, cluster)
    trend = latest is None or now - latest >= TREND_EVERY_S
    if trend:
        tables.record_topics(ctx.engine, cluster, now, rows)
    snap = covered_lag(ctx, cluster)
    lag_history.record(ctx.engine, snap)
    if trend:
        tables.record_groups(ctx.engine, cluster, snap.taken_at.timestamp(), group_rows(snap))
    dlq_evidence.kafka_dlqs(ctx.clients, ctx.engine, ctx.settings.thresholds, cluster=cluster)  # stores depths
    return snap


def group_rows(snap: LagSnapshot) -> list[tables.GroupRow]:
    """Per group and topic: the committed offsets summed, and the members assigned a partition of it."""
    out: list[tables.GroupRow] = []
    for g in snap.groups:
        committed: dict[str, int] = defaultdict(int)
        for p in g.partitions:
            committed[p.topic] += p.committed or 0
        members: dict[str, int] = defaultdict(int)
        for m in g.members:
            for topic in {t for t, _ in m.partitions}:
                members[topic] += 1
        out += [(g.group, topic, total, members.get(topic, 0)) for topic, total in committed.items()]
    return out


def sample_rabbit(ctx: BotContext, cluster: str) -> None:
    """Dead-letter queue depths, in the shape of /dlq's own baseline."""
    for q in rabbitmq.rabbit_dead_letter_queues(ctx.clients, cluster):
        if ctx.settings.digests.covers(q.name):
            depth_history.record(ctx.engine, "rabbit-queue", cluster, q.name, q.taken_at.timestamp(),
                                 {"depth": q.depth, "taken_at": q.taken_at.isoformat()})


def sample_schemas(ctx: BotContext, registry: str) -> int:
    probe = ctx.clients.schema_registry(registry)
    seen = {s: [(v, None) for v in probe.versions(s)] for s in probe.subjects() if ctx.settings.digests.covers(s)}
    return tables.record_schemas(ctx.engine, registry, time.time(), seen)


def covered_lag(ctx: BotContext, cluster: str) -> LagSnapshot:
    """Lag of the groups the digests cover, asking only about those: on a cluster of
    thousands of groups the offsets of the others are not fetched at all.
    Raises kafka_lag.KafkaUnavailable."""
    admin = ctx.clients.kafka_admin(cluster)
    timeout = ctx.settings.kafka[cluster].request_timeout_s
    if not ctx.settings.digests.include:
        return kafka_lag.snapshot(admin, cluster, None, timeout, offsets=lambda: ctx.clients.offsets_log(cluster))
    groups = [g for g in kafka_lag.list_groups(admin, timeout) if ctx.settings.digests.covers(g)]
    if not groups:
        return LagSnapshot(cluster=cluster, taken_at=datetime.now(timezone.utc), groups=[])
    return kafka_lag.snapshot(admin, cluster, groups, timeout, offsets=lambda: ctx.clients.offsets_log(cluster))
