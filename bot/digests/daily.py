"""The daily digest: lag and DLQ depth with the change since yesterday, error-rate
leaders, broker health, incidents of the day. Live probes for now, stored samples
for a day ago; what cannot be compared is said, never guessed."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import confluent_kafka
from confluent_kafka import KafkaException

from bot.digests import collect, history
from bot.digests.model import Digest, missing
from bot.digests.stats import DAY, change, duration
from bot.evidence import depth_history, lag_history
from bot.evidence import dlq as dlq_evidence
from bot.health.verdict import Level, Verdict
from bot.probes import kafka_cluster, kafka_lag
from bot.reports.report import Report, Table, when
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

TOLERANCE = 3600.0  # a sample within an hour of "yesterday, this time" stands for it


def build(ctx: BotContext, cluster: str, rabbit: str, now: datetime | None = None) -> Digest:
    now = now or datetime.now(timezone.utc)
    digest = Digest("daily", now)
    digest.sections = [lag_section(ctx, cluster, now), dlq_section(ctx, cluster, rabbit, now),
                       error_rate_section(ctx, cluster, now), broker_section(ctx, cluster, now),
                       incident_section(ctx, now)]
    return digest


def _unknown_since(oldest: float | None, now: float) -> str:
    if oldest is None:
        return "no samples are stored yet"
    return f"the oldest sample is {duration(now - oldest)} old"


def lag_section(ctx: BotContext, cluster: str, now: datetime) -> Report:
    title = f"Consumer lag ({cluster})"
    try:
        snap = collect.covered_lag(ctx, cluster)
    except kafka_lag.KafkaUnavailable as exc:
        return Report(title=title, verdict=missing(Level.CRITICAL, f"Kafka unreachable: {exc}"), taken_at=now)
    except KafkaException as exc:
        return Report(title=title, verdict=missing(Level.CRITICAL, f"Kafka unreachable: {dlq_evidence.kafka_error(exc)}"),
                      taken_at=now)
    lag_history.record(ctx.engine, snap)
    ts = now.timestamp()
    rows, unknown, unreadable = [], [], []
    for g in sorted(snap.groups, key=lambda g: g.total_lag, reverse=True):
        if g.error and not g.partitions:  # its offsets could not be read: no figure rather than a false 0
            unreadable.append(f"{g.group} ({g.error})")
            rows.append([g.group, "unreadable", "-", "-"])
            continue
        then = lag_history.total_at(ctx.engine, cluster, g.group, ts - DAY)  # within an hour, or None
        if then is None:
            unknown.append(g.group)
        rows.append([g.group, f"{g.total_lag:,}", "unknown" if then is None else f"{then:,}", change(g.total_lag, then)])
    t = ctx.settings.thresholds
    worst = max((g.total_lag for g in snap.groups), default=0)
    level = Level.CRITICAL if worst > t.lag_critical else Level.WARNING if worst > t.lag_warning else Level.OK
    reasons = [f"{plural(len(snap.groups), 'group')}, the worst {worst:,} messages behind"] if snap.groups \
        else ["no consumer groups"]
    notes = []
    if unknown:
        oldest = history.oldest_lag_sample(ctx.engine, cluster)
        notes.append(f"No lag sample within an hour of {when(datetime.fromtimestamp(ts - DAY, timezone.utc))} for "
                     f"{plural(len(unknown), 'group')} ({_unknown_since(oldest, ts)}): change since yesterday unknown.")
        level = max(level, Level.WARNING)
        reasons.append(f"change since yesterday unknown for {plural(len(unknown), 'group')}")
    if unreadable:
        notes.append("Not read this time: " + "; ".join(unreadable[:10]) + ".")
        level = max(level, Level.WARNING)
        reasons.append(f"{plural(len(unreadable), 'group')} could not be read")
    return Report(title=title, verdict=Verdict(level=level, reasons=reasons), taken_at=now, notes=notes,
                  tables=[Table(headers=["group", "lag now", "24 h ago", "change"], rows=rows)],
                  cli=[f"kafka-consumer-groups.sh --bootstrap-server {ctx.settings.kafka[cluster].bootstrap_servers} "
                       "--describe --all-groups"])


def dlq_section(ctx: BotContext, cluster: str, rabbit: str, now: datetime) -> Report:
    covers = ctx.settings.digests.covers
    ts = now.timestamp()
    overview = dlq_evidence.overview(ctx.clients, ctx.engine, ctx.settings.thresholds, kafka_cluster=cluster,
                                     rabbit_cluster=rabbit)
    kafka_then = history.depth_near(ctx.engine, "kafka-dlq", cluster, ts - DAY, TOLERANCE)
    rabbit_then = history.depth_near(ctx.engine, "rabbit-queue", rabbit, ts - DAY, TOLERANCE)
    rows, unknown = [], []
    t = ctx.settings.thresholds
    worst = 0
    for d in overview.kafka:
        if covers(d.snapshot.topic):
            then = kafka_then.get(d.snapshot.topic, {}).get("depth")
            rows.append([d.snapshot.topic, "kafka", d.snapshot.depth, then])
    for q in overview.rabbit:
        if covers(q.snapshot.name):
            then = rabbit_then.get(q.snapshot.name, {}).get("depth")
            rows.append([q.snapshot.name, "rabbitmq", q.snapshot.depth, then])
            # /dlq stores Kafka depths itself; RabbitMQ's overview does not, so the digest keeps today's.
            depth_history.record(ctx.engine, "rabbit-queue", rabbit, q.snapshot.name, ts,
                                 {"depth": q.snapshot.depth, "taken_at": q.snapshot.taken_at.isoformat()})
    rows.sort(key=lambda r: r[2], reverse=True)
    shown = []
    for name, broker, depth, then in rows:
        worst = max(worst, depth)
        if then is None:
            unknown.append(name)
        shown.append([name, broker, f"{depth:,}", "unknown" if then is None else f"{then:,}", change(depth, then)])
    level = Level.CRITICAL if worst > t.dlq_critical else Level.WARNING if worst > t.dlq_warning else Level.OK
    reasons = [f"{plural(len(rows), 'DLQ')}, the deepest {worst:,} messages"] if rows else ["no DLQs"]
    notes = list(overview.unseen)
    if overview.unseen:
        level = max(level, Level.WARNING)
    if unknown:
        oldest = history.oldest_depth_sample(ctx.engine, "kafka-dlq", cluster)
        notes.append(f"No depth sample within an hour of {when(datetime.fromtimestamp(ts - DAY, timezone.utc))} for "
                     f"{plural(len(unknown), 'DLQ')} ({_unknown_since(oldest, ts)}): change since yesterday unknown.")
        level = max(level, Level.WARNING)
        reasons.append(f"change since yesterday unknown for {plural(len(unknown), 'DLQ')}")
    return Report(title="DLQ depth", verdict=Verdict(level=level, reasons=reasons), taken_at=now, notes=notes,
                  tables=[Table(headers=["DLQ", "broker", "depth now", "24 h ago", "change"], rows=shown)])


def error_rate_section(ctx: BotContext, cluster: str, now: datetime) -> Report:
    """Dead-lettered per hundred produced to the source, over the last day: end
    offsets of the DLQ and its source now against the stored observation of a day ago."""
    ts = now.timestamp()
    then = history.depth_near(ctx.engine, "kafka-dlq", cluster, ts - DAY, TOLERANCE)
    latest = history.depth_near(ctx.engine, "kafka-dlq", cluster, ts, TOLERANCE)  # the DLQ section just stored it
    rows, unknown = [], []
    for name, obs in latest.items():
        if not ctx.settings.digests.covers(name):
            continue
        old = then.get(name)
        if old is None or old.get("source_end_total") is None or obs.get("source_end_total") is None:
            unknown.append(name)
            continue
        source_in = obs["source_end_total"] - old["source_end_total"]
        dlq_in = obs["dlq_end_total"] - old["dlq_end_total"]
        rate = dlq_in * 100.0 / source_in if source_in > 0 and dlq_in >= 0 else None
        rows.append((rate if rate is not None else -1.0, [name, f"{dlq_in:,}", f"{source_in:,}",
                                                           "no traffic" if rate is None else f"{rate:.2f}%"]))
    rows.sort(key=lambda r: r[0], reverse=True)
    top = [r for _, r in rows[:10]]
    notes = ["RabbitMQ dead-letter queues are not ranked: the management API gives rates of the moment, not a day's."]
    level = Level.OK
    reasons = [f"highest: {top[0][0]} at {top[0][3]}"] if top else ["no Kafka DLQ with a day of samples"]
    if unknown:
        notes.append(f"No DLQ observation (with its source) from a day ago for {', '.join(sorted(unknown)[:10])}: "
                     "their error rate over the day is unknown.")
        level = Level.WARNING
    return Report(title="Error-rate leaders (last 24 h)", verdict=Verdict(level=level, reasons=reasons),
                  taken_at=now, notes=notes,
                  tables=[Table(headers=["DLQ", "dead-lettered", "produced to source", "error rate"], rows=top)])


def broker_section(ctx: BotContext, cluster: str, now: datetime) -> Report:
    snap = kafka_cluster.kafka_cluster_snapshot(ctx.clients, cluster)
    disk = (f"Disk usage is outside what this bot can read through the Kafka protocol: the installed "
            f"confluent-kafka {confluent_kafka.__version__} has no DescribeLogDirs call, so log-dir sizes are not "
            "readable here. Watch the brokers' disks in your host monitoring.")
    if not snap.reachable:
        return Report(title=f"Broker health ({cluster})", taken_at=now, notes=[disk],
                      verdict=missing(Level.CRITICAL, f"Kafka unreachable: {snap.error}"))
    reasons: list[tuple[Level, str]] = []
    if snap.offline:
        reasons.append((Level.CRITICAL, f"{plural(len(snap.offline), 'offline partition')}"))
    if snap.missing_brokers:
        reasons.append((Level.CRITICAL, f"{plural(len(snap.missing_brokers), 'broker')} missing"))
    if snap.under_replicated_percent > ctx.settings.thresholds.under_replicated_percent:
        reasons.append((Level.WARNING, f"{snap.under_replicated_percent:.1f}% of partitions under-replicated"))
    level = max((lv for lv, _ in reasons), default=Level.OK)
    text = [r for _, r in reasons] or [f"{plural(len(snap.brokers), 'broker')} answering, nothing under-replicated "
                                       "or offline"]
    rows = [["brokers answering", f"{len(snap.brokers):,}"], ["partitions", f"{snap.partition_count:,}"],
            ["under-replicated", f"{len(snap.under_replicated):,}"], ["offline", f"{len(snap.offline):,}"],
            ["brokers missing", f"{len(snap.missing_brokers):,}"]]
    return Report(title=f"Broker health ({cluster})", verdict=Verdict(level=level, reasons=text), taken_at=now,
                  tables=[Table(headers=["", "count"], rows=rows)], notes=[disk])


def incident_section(ctx: BotContext, now: datetime) -> Report:
    ts = now.timestamp()
    found = history.incidents_between(ctx.engine, ts - DAY, ts)
    opened = [i for i in found if i["created_at"] >= ts - DAY]
    resolved = [i for i in found if i["resolved_at"] is not None and i["resolved_at"] >= ts - DAY]
    rows = [[i["ref"] or "", i["title"], i["severity"], i["status"],
             when(datetime.fromtimestamp(i["created_at"], timezone.utc)),
             when(datetime.fromtimestamp(i["resolved_at"], timezone.utc)) if i["resolved_at"] else ""] for i in found]
    return Report(title="Incidents (last 24 h)", taken_at=now,
                  verdict=Verdict(reasons=[f"{len(opened)} opened, {len(resolved)} resolved"]),
                  tables=[Table(headers=["incident", "title", "severity", "status", "opened", "resolved"], rows=rows)])

