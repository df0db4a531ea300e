"""The monthly digest: partitions against consumers, the group configurations seen,
retention next to how far back the slowest group reads, and what nobody used for a
month."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ResourceType

from bot.digests import collect, tables
from bot.digests.model import Digest, missing
from bot.digests.stats import DAY, duration, idle_partitions
from bot.evidence.dlq import kafka_error
from bot.health.verdict import Level, Verdict
from bot.probes import kafka_lag, rabbitmq
from bot.probes.clients import kafka_config, op_timeout
from bot.probes.lag_models import LagSnapshot
from bot.reports.report import Report, Table
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

RETENTION_SHARE_WARNING = 0.8  # the slowest group reads back this share of the retention: data loss is near


def build(ctx: BotContext, cluster: str, rabbit: str, now: datetime | None = None) -> Digest:
    now = now or datetime.now(timezone.utc)
    digest = Digest("monthly", now)
    timeout = ctx.settings.kafka[cluster].request_timeout_s
    try:
        admin = ctx.clients.kafka_admin(cluster)
        metadata = admin.list_topics(timeout=timeout)
        snap = collect.covered_lag(ctx, cluster)
    except (KafkaException, kafka_lag.KafkaUnavailable) as exc:
        why = kafka_error(exc) if isinstance(exc, KafkaException) else str(exc)
        digest.sections = [Report(title=f"Kafka ({cluster})", taken_at=now,
                                  verdict=missing(Level.CRITICAL, f"Kafka unreachable: {why}"))]
        return digest
    covers = ctx.settings.digests.covers
    # Every topic's partitions (a covered group may read a topic outside the prefixes).
    partitions = {name: len(t.partitions) for name, t in metadata.topics.items() if not name.startswith("__")}
    covered = {name: n for name, n in partitions.items() if covers(name)}
    digest.sections = [distribution_section(ctx, cluster, snap, partitions, now), configs_section(snap, now),
                       retention_section(ctx, cluster, snap, list(covered), now),
                       unused_section(ctx, cluster, rabbit, covered, now)]
    return digest


def distribution_rows(snap: LagSnapshot, partitions: dict[str, int]) -> tuple[list[list[str]], int, int]:
    """Per group and topic: partitions against the members assigned one of them. Returns
    the rows, how many (group, topic) pairs cannot scale further, and idle members."""
    rows, capped, idle_members = [], 0, 0
    for g in snap.groups:
        idle = sum(1 for m in g.members if not m.partitions)  # more members than partitions to hand out
        idle_members += idle
        members: dict[str, set[str]] = defaultdict(set)
        for m in g.members:
            for topic, _ in m.partitions:
                members[topic].add(m.member_id)
        for topic in sorted({p.topic for p in g.partitions} | set(members)):
            n, k = partitions.get(topic, 0), len(members.get(topic, ()))
            note = ""
            if n and k >= n:
                note = f"cannot scale further: {k} consumers for {n} partitions"
                capped += 1
            if idle:
                note += ("; " if note else "") + f"{plural(idle, 'member')} of the group without a partition"
            rows.append([g.group, topic, str(n), str(k), note])
    return rows, capped, idle_members


def distribution_section(ctx: BotContext, cluster: str, snap: LagSnapshot, partitions: dict[str, int],
                         now: datetime) -> Report:
    rows, capped, idle_members = distribution_rows(snap, partitions)
    history = tables.topic_history(ctx.engine, cluster, now.timestamp() - ctx.settings.digests.unused_days * DAY)
    idle_rows = []
    for topic, points in sorted(history.items()):
        idle = idle_partitions(points[0][2], points[-1][2]) if len(points) >= 2 else []
        if idle and topic in partitions and ctx.settings.digests.covers(topic):
            idle_rows.append([topic, str(partitions[topic]), ", ".join(map(str, idle)),
                              duration(points[-1][0] - points[0][0])])
    reasons = []
    if capped:
        reasons.append(f"{plural(capped, 'group')} cannot scale further on a topic (as many consumers as partitions)")
    if idle_members:
        reasons.append(f"{plural(idle_members, 'consumer')} idle, with no partition to read")
    if idle_rows:
        reasons.append(f"{plural(len(idle_rows), 'topic')} with idle partitions")
    sampled = [t for t, points in history.items() if len(points) >= 2 and t in partitions]
    if not sampled:
        reasons.append(f"idle partitions unknown: no topic has two stored samples in the last "
                       f"{ctx.settings.digests.unused_days} days")
    return Report(title="Partition distribution", taken_at=now,
                  verdict=Verdict(level=Level.WARNING if reasons else Level.OK,
                                  reasons=reasons or ["every group can still add consumers"]),
                  tables=[Table(title="Consumers per topic", headers=["group", "topic", "partitions", "consumers",
                                                                      "note"], rows=rows),
                          Table(title="Idle partitions (no message while others of the topic had some)",
                                headers=["topic", "partitions", "idle", "over"], rows=idle_rows)],
                  notes=["Idle partitions are read from the stored end offsets of the last "
                         f"{ctx.settings.digests.unused_days} days."])


def configs_section(snap: LagSnapshot, now: datetime) -> Report:
    rows = [[g.group, g.state, g.assignor or "-", str(len(g.members)),
             ", ".join(sorted({m.client_id for m in g.members})[:5]) or "-"] for g in sorted(snap.groups,
                                                                                      key=lambda g: g.group)]
    assignors = sorted({g.assignor for g in snap.groups if g.assignor})
    return Report(title="Consumer group configurations", taken_at=now,
                  verdict=Verdict(reasons=[f"{plural(len(rows), 'group')}; assignment strategies in use: "
                                           f"{', '.join(assignors) or 'none (no active members)'}"]),
                  tables=[Table(headers=["group", "state", "assignment", "members", "clients"], rows=rows)])


def retention_section(ctx: BotContext, cluster: str, snap: LagSnapshot, topics: list[str], now: datetime) -> Report:
    settings = ctx.settings.kafka[cluster]
    admin = ctx.clients.kafka_admin(cluster)
    configs: dict[str, dict[str, Any]] = {}
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    notes: list[str] = []
    long = op_timeout(settings.request_timeout_s)
    for resource, future in (admin.describe_configs(resources, request_timeout=long).items()
                             if resources else []):
        try:
            entries = future.result(timeout=settings.request_timeout_s + 1)
            configs[resource.name] = {k: entries[k].value for k in ("retention.ms", "retention.bytes") if k in entries}
        except KafkaException as exc:
            notes.append(f"{resource.name}: configuration unreadable ({kafka_error(exc)}).")
        except FutureTimeout:
            notes.append(f"{resource.name}: configuration unreadable (no answer within "
                         f"{settings.request_timeout_s + 1:g} s).")
    kafka_lag.read_oldest_unread(kafka_config(settings), snap, settings.request_timeout_s,
                                 limit=max(kafka_lag.MAX_OLDEST_PARTITIONS, 500))
    ts_ms = now.timestamp() * 1000
    slowest: dict[str, tuple[str, float]] = {}
    for g in snap.groups:
        for p in g.partitions:
            if p.oldest_unread_ms is not None:
                back = (ts_ms - p.oldest_unread_ms) / 1000.0
                if p.topic not in slowest or back > slowest[p.topic][1]:
                    slowest[p.topic] = (g.group, back)
    rows, near = [], []
    for topic in sorted(configs):
        c = configs[topic]
        ms = int(c.get("retention.ms") or -1)
        by = int(c.get("retention.bytes") or -1)
        group, back = slowest.get(topic, ("-", 0.0))
        share = back * 1000 / ms if ms > 0 and group != "-" else None
        if share is not None and share >= RETENTION_SHARE_WARNING:
            near.append(topic)
        rows.append([topic, "unlimited" if ms < 0 else duration(ms / 1000), "unlimited" if by < 0 else f"{by:,}",
                     group, duration(back) if group != "-" else "up to date",
                     f"{share * 100:.0f}%" if share is not None else "-"])
    if snap.oldest_unread_missed:
        notes.append(f"{plural(snap.oldest_unread_missed, 'lagging partition')} could not be read back: "
                     "how far back they read is not counted.")
    return Report(title="Retention and the slowest readers", taken_at=now, notes=notes,
                  verdict=Verdict(level=Level.WARNING if near else Level.OK,
                                  reasons=[f"{plural(len(near), 'topic')} whose slowest group reads back "
                                           f"{RETENTION_SHARE_WARNING:.0%} of its retention or more: "
                                           f"{', '.join(near)}"] if near else
                                  [f"{plural(len(rows), 'topic')}, every group well inside retention"]),
                  tables=[Table(headers=["topic", "retention.ms", "retention.bytes", "slowest group", "reads back",
                                         "of retention"], rows=rows)])


def unused_section(ctx: BotContext, cluster: str, rabbit: str, partitions: dict[str, int], now: datetime) -> Report:
    days = ctx.settings.digests.unused_days
    ts = now.timestamp()
    since = ts - days * DAY
    rows: list[list[str]] = []
    notes: list[str] = []
    oldest = tables.oldest_sample(ctx.engine, cluster)
    if oldest is None or oldest > since + DAY:
        covered = "no samples yet" if oldest is None else f"samples cover only {duration(ts - oldest)}"
        notes.append(f"Kafka topics: {covered}; unused topics can be named once they span {days} days.")
    else:
        # From the last sample at or before the window's start: the topic's end offsets then and since.
        topics = tables.topic_history(ctx.engine, cluster, since - 7 * DAY, with_ends=False)
        groups = tables.group_history(ctx.engine, cluster, since)
        for topic, points in sorted(topics.items()):
            before = [p for p in points if p[0] <= since]
            if topic not in partitions or not before:
                continue
            if any(p[1] != before[-1][1] for p in points if p[0] >= before[-1][0]):
                continue
            readers = [g for (g, t), pts in groups.items() if t == topic and
                       (any(m for _, _, m in pts) or pts[-1][1] != pts[0][1])]
            if not readers:
                rows.append([topic, "kafka topic", f"no message and no consumer in {days} days"])
    try:
        vhost = quote(ctx.settings.rabbitmq[rabbit].vhost, safe="")
        queues = rabbitmq.management_get(ctx.clients, rabbit, f"queues/{vhost}?columns=name,idle_since,consumers") or []
        for q in queues:
            idle = _idle_since(q.get("idle_since"))
            if ctx.settings.digests.covers(q["name"]) and not q.get("consumers") and idle is not None \
                    and idle <= since:
                rows.append([q["name"], "rabbitmq queue", f"idle since {duration(ts - idle)} ago, no consumer"])
    except (rabbitmq.ManagementDown, rabbitmq.RabbitUnavailable) as exc:
        notes.append(f"RabbitMQ `{rabbit}` could not be read: {exc}")
    verdict = Verdict(level=Level.WARNING if rows else Level.OK,
                      reasons=[f"{plural(len(rows), 'topic or queue', 'topics and queues')} unused: clean up?"]
                      if rows else [f"nothing unused for {days} days"])
    if notes and not rows:
        verdict = missing(Level.WARNING, notes[0])
    return Report(title=f"Unused for {days} days", verdict=verdict, taken_at=now, notes=notes,
                  tables=[Table(headers=["name", "kind", "why"], rows=rows)])


def _idle_since(value: Any) -> float | None:
    """The management API's idle_since: ISO 8601 with an offset (3.12+) or "YYYY-MM-DD HH:MM:SS" in UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
