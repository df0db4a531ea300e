"""The weekly digest: DLQs with the age of their oldest message and their top error
patterns, consumer trends (lag p95, produce against consume rates, a chart), and the
schema versions first seen this week."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from bot.actions.base import ActionError
from bot.actions.kafka_read import read_range
from bot.chat import Attachment
from bot.digests import backups, charts, history, tables
from bot.digests.model import Digest, missing
from bot.digests.stats import DAY, counter_rate, duration, p95, rank_patterns, rate_text
from bot.evidence import dlq as dlq_evidence
from bot.health.verdict import Level, Verdict
from bot.probes import kafka_dlq, rabbitmq
from bot.reports.report import Report, Table, when
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

WEEK = 7 * DAY


def build(ctx: BotContext, cluster: str, rabbit: str, now: datetime | None = None) -> Digest:
    now = now or datetime.now(timezone.utc)
    digest = Digest("weekly", now)
    rates, chart = rate_section(ctx, cluster, now)
    kept, newest = backups.section(ctx, now)
    digest.sections = [dlq_section(ctx, cluster, rabbit, now), lag_p95_section(ctx, cluster, now), rates,
                       *schema_sections(ctx, now), kept]
    digest.charts += [a for a in (chart, newest) if a is not None]
    return digest


def oldest_ages(ctx: BotContext, cluster: str, snap: kafka_dlq.KafkaDlqSnapshot, now: float) -> float | None:
    """Seconds since the oldest message still in the DLQ was written: the first record
    of each partition, the earliest of them."""
    ranges = {(snap.topic, p.partition): (p.start, p.start + 1) for p in snap.partitions if p.depth > 0}
    stamps = [m.timestamp()[1] for m in read_range(ctx.settings.kafka[cluster], ranges) if m.timestamp()[1] > 0]
    return now - min(stamps) / 1000.0 if stamps else None


def dlq_section(ctx: BotContext, cluster: str, rabbit: str, now: datetime) -> Report:
    settings = ctx.settings.digests
    ts = now.timestamp()
    rows: list[list[str]] = []
    notes: list[str] = []
    purge: list[str] = []
    level = Level.OK
    try:
        found = dlq_evidence.kafka_dlqs(ctx.clients, ctx.engine, ctx.settings.thresholds, cluster=cluster)
    except KafkaException as exc:
        found, level = [], Level.WARNING
        notes.append(f"Kafka `{cluster}` could not be read: {dlq_evidence.kafka_error(exc)}.")
    for d in found:
        s = d.snapshot
        if not settings.covers(s.topic):
            continue
        try:
            age = oldest_ages(ctx, cluster, s, ts) if s.depth else None
        except ActionError as exc:
            age, _ = None, notes.append(f"{s.topic}: the oldest message could not be read ({exc}).")
        if s.depth:  # sampled here, only for the DLQs the digest covers
            s.samples, _ = kafka_dlq.sample_newest(ctx.settings.kafka[cluster], s.topic, s.partitions,
                                                   settings.dlq_sample, ctx.settings.dlq)
        top = rank_patterns([(m.pattern, 1) for m in s.samples], settings.top_patterns)
        patterns = "; ".join(f"{p} ×{n}" for p, n, _ in top) or ("empty" if not s.depth else "(none sampled)")
        rows.append([s.topic, "kafka", f"{s.depth:,}", duration(age) if age is not None else "-", patterns])
        if s.depth:
            purge.append(f"`/purge-dlq {s.topic}`")
    try:
        for q in rabbitmq.rabbit_dead_letter_queues(ctx.clients, rabbit):
            if not settings.covers(q.name):
                continue
            snap = rabbitmq.rabbit_queue_snapshot(ctx.clients, rabbit, q.name, sample_size=settings.dlq_sample)
            heads = [m.timestamp or (m.deaths[0].time if m.deaths else None) for m in snap.samples[:1]]
            age = ts - heads[0].timestamp() if heads and heads[0] else None
            groups = rank_patterns([(f"{g.reason} in {g.queue}" if g.queue else g.reason, g.count)
                                    for g in snap.death_groups],
                                   settings.top_patterns)
            rows.append([q.name, "rabbitmq", f"{snap.depth:,}", duration(age) if age is not None else "-",
                         "; ".join(f"{p} ×{n}" for p, n, _ in groups) or ("empty" if not snap.depth else "-")])
            if snap.depth:
                purge.append(f"`/purge-dlq {q.name} --broker rabbitmq`")
    except (rabbitmq.RabbitUnavailable, rabbitmq.QueueNotFound) as exc:
        level = Level.WARNING
        notes.append(f"RabbitMQ `{rabbit}` could not be read: {exc}")
    rows.sort(key=lambda r: int(r[2].replace(",", "")), reverse=True)
    waiting = [r for r in rows if r[2] != "0"]
    if waiting:
        level = max(level, Level.WARNING)
        notes.append("Review, then purge after investigation: " + ", ".join(purge) +
                     " (each asks a second person to approve).")
    notes.append(f"Error patterns are counted over the newest {settings.dlq_sample} messages of each Kafka DLQ and "
                 f"the oldest {settings.dlq_sample} of each RabbitMQ one (by x-death reason and queue).")
    reasons = [f"{plural(len(waiting), 'DLQ')} holding messages" if waiting else "every DLQ is empty"]
    return Report(title="DLQs", verdict=Verdict(level=level, reasons=reasons), taken_at=now, notes=notes,
                  tables=[Table(headers=["DLQ", "broker", "depth", "oldest message", "top error patterns"], rows=rows)])


def lag_p95_section(ctx: BotContext, cluster: str, now: datetime) -> Report:
    ts = now.timestamp()
    totals = history.lag_totals(ctx.engine, cluster, ts - WEEK, ctx.settings.digests.covers)
    title = "Consumer lag over the week (p95)"
    if not totals:
        return Report(title=title, taken_at=now, verdict=missing(Level.WARNING, "no lag samples in the last 7 days: "
                                                                  "lag p95 unknown"))
    rows = []
    for group, points in totals.items():
        values = [v for _, v in points]
        rows.append((p95(values) or 0, [group, f"{p95(values):,.0f}", f"{max(values):,.0f}", f"{values[-1]:,.0f}",
                                        f"{len(values):,}", duration(points[-1][0] - points[0][0])]))
    rows.sort(key=lambda r: r[0], reverse=True)
    span = ts - min(p[0][0] for p in totals.values())
    notes = [] if span >= WEEK - DAY else [f"The samples cover {duration(span)}, not the whole week."]
    worst = rows[0][1]
    return Report(title=title, taken_at=now, notes=notes,
                  verdict=Verdict(reasons=[f"highest p95: {worst[0]} at {worst[1]} messages"]),
                  tables=[Table(headers=["group", "p95", "max", "latest", "samples", "span"],
                                rows=[r for _, r in rows])])


def rate_section(ctx: BotContext, cluster: str, now: datetime) -> tuple[Report, Attachment | None]:
    """Produced per topic (its end offsets) against consumed per group (its commits),
    messages a second over the week's samples."""
    ts = now.timestamp()
    topics = tables.topic_history(ctx.engine, cluster, ts - WEEK, with_ends=False)
    groups = tables.group_history(ctx.engine, cluster, ts - WEEK)
    title = "Produce and consume rates over the week"
    if not topics:
        return Report(title=title, taken_at=now, verdict=missing(
            Level.WARNING, "no topic samples in the last 7 days: rates unknown (the sampling round stores them)")), None
    rows, bars = [], []
    for topic, points in sorted(topics.items()):
        produced = counter_rate([(t, total) for t, total, _ in points])
        consumers = {g: counter_rate([(t, c) for t, c, _ in pts]) for (g, tp), pts in groups.items() if tp == topic}
        if not consumers:
            rows.append([topic, rate_text(produced), "(no group)", "-", "-"])
        for g, consumed in sorted(consumers.items()):
            gap = produced - consumed if produced is not None and consumed is not None else None
            rows.append([topic, rate_text(produced), g, rate_text(consumed),
                         "unknown" if gap is None else f"{gap:+,.2f}/s"])
        known = [c for c in consumers.values() if c is not None]
        if produced is not None:
            bars.append((topic, produced, min(known) if known else 0.0))
    bars.sort(key=lambda b: b[1], reverse=True)
    chart = Attachment(filename=f"rates-{cluster}.png", content=charts.produce_consume(bars[:12], title),
                       title=f"{title} ({cluster})") if bars else None
    if not bars:
        return Report(title=title, taken_at=now, tables=[Table(headers=["topic", "produced", "group", "consumed", "gap"],
                                                               rows=rows)],
                      verdict=missing(Level.WARNING, "one sample per topic in the last 7 days: rates need two, "
                                                     "so they are unknown")), None
    behind = [r for r in rows if r[4].startswith("+") and r[4] != "+0.00/s"]
    reasons = [f"{plural(len(behind), 'group')} consuming slower than its topic is produced"] if behind else \
        [f"{plural(len(topics), 'topic')}, every group keeping up"]
    return Report(title=title, taken_at=now, verdict=Verdict(level=Level.WARNING if behind else Level.OK,
                                                             reasons=reasons),
                  tables=[Table(headers=["topic", "produced", "group", "consumed", "gap"], rows=rows)],
                  notes=["Rates are offset deltas between the first and last sample of the week: end offsets for "
                         "produced, committed offsets for consumed."]), chart


def schema_sections(ctx: BotContext, now: datetime) -> list[Report]:
    ts = now.timestamp()
    out = []
    for registry in ctx.settings.schema_registry:
        changes = tables.schema_changes(ctx.engine, registry, ts - WEEK)
        start = tables.schema_watch_start(ctx.engine, registry)
        by_subject: dict[str, list[tuple[int, float]]] = {}
        for subject, version, seen in changes:
            by_subject.setdefault(subject, []).append((version, seen))
        rows = [[s, ", ".join(str(v) for v, _ in vs), when(datetime.fromtimestamp(min(t for _, t in vs), timezone.utc))]
                for s, vs in sorted(by_subject.items())]
        notes = ["The registry's Confluent API gives versions no dates: a version counts from the sampling round "
                 "that first saw it."]
        if start is None:
            verdict = missing(Level.WARNING, "no sampling round has read this registry yet: schema changes unknown")
        else:
            if ts - start < WEEK:
                notes.append(f"Watched since {when(datetime.fromtimestamp(start, timezone.utc))}; versions that "
                             "existed then are not counted as changes.")
            verdict = Verdict(reasons=[f"{plural(len(changes), 'new version')} in {plural(len(rows), 'subject')}"])
        out.append(Report(title=f"Schema changes this week ({registry})", verdict=verdict, taken_at=now, notes=notes,
                          tables=[Table(headers=["subject", "new versions", "first seen"], rows=rows)]))
    return out
