"""Runbook check steps run for an incident's subject: each kind of check maps to a
probe, its verdict and its report. The incident flows, the escalation ladder and
the Run buttons all come through here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from bot.evidence import dlq, lag
from bot.health.brokers import kafka_cluster_verdict, rabbit_nodes_verdict
from bot.health.schema import error_verdict, registry_verdict, subject_verdict
from bot.health.verdict import Level, Verdict
from bot.probes import kafka_dlq, kafka_lag, rabbitmq
from bot.probes.kafka_cluster import kafka_cluster_snapshot
from bot.probes.rabbitmq_nodes import rabbit_nodes_snapshot
from bot.probes.schema_registry import SchemaRegistryError, subjects_for_topic
from bot.reports import brokers as render_brokers
from bot.reports import dlq as render_dlq
from bot.reports import lag as render_lag
from bot.reports import schema as render_schema
from bot.reports.report import Report
from bot.runbooks import Check
from bot.subject import Subject, pick_cluster

if TYPE_CHECKING:
    from bot.app.context import BotContext


def _unavailable(title: str, text: str) -> Report:
    return Report(title=title, verdict=Verdict(level=Level.CRITICAL, reasons=[text]),
                  taken_at=datetime.now(timezone.utc))


def _lag(ctx: BotContext, subject: Subject, membership: bool) -> Report:
    cluster, note = pick_cluster(subject.cluster, ctx.settings.kafka)
    bootstrap = ctx.settings.kafka[cluster].bootstrap_servers
    title = "Consumer group health" if membership else "Consumer lag"
    try:
        if subject.group:
            known = kafka_lag.list_groups(ctx.clients.kafka_admin(cluster), ctx.settings.kafka[cluster].request_timeout_s)
            if subject.group not in known:
                return _unavailable(f"{title}: {subject.group}",
                                    f"Consumer group `{subject.group}` does not exist on `{cluster}`.")
        report = lag.record_and_assess(ctx.clients, ctx.engine, ctx.settings.thresholds, memory=ctx.lag_memory,
                                       cluster=cluster, groups=[subject.group] if subject.group else None,
                                       topic=subject.topic)
    except kafka_lag.KafkaUnavailable as exc:
        return _unavailable(f"{title} ({cluster})", f"Kafka unreachable (tried {bootstrap}): {exc}")
    if subject.group and report.groups:
        out = (render_lag.membership_report if membership else render_lag.group_report)(report, bootstrap)
    else:
        out = render_lag.all_groups_report(report, bootstrap, subject.topic)
    if note:
        out.notes.insert(0, note)
    return out


def _brokers(ctx: BotContext, subject: Subject) -> Report:
    cluster, note = pick_cluster(subject.cluster, ctx.settings.kafka)
    snap = kafka_cluster_snapshot(ctx.clients, cluster)
    out = render_brokers.kafka_report(snap, kafka_cluster_verdict(snap, ctx.settings.thresholds))
    if note:
        out.notes.insert(0, note)
    return out


def _rabbit_nodes(ctx: BotContext, subject: Subject) -> Report:
    cluster, _ = pick_cluster(subject.cluster, ctx.settings.rabbitmq)
    snap = rabbit_nodes_snapshot(ctx.clients, cluster)
    return render_brokers.rabbit_nodes_report(snap, rabbit_nodes_verdict(snap))


def _kafka_dlq(ctx: BotContext, subject: Subject) -> Report:
    cluster, note = pick_cluster(subject.cluster, ctx.settings.kafka)
    bootstrap = ctx.settings.kafka[cluster].bootstrap_servers
    t = ctx.settings.thresholds
    try:
        if subject.topic:
            found = dlq.kafka_dlqs(ctx.clients, ctx.engine, t, cluster=cluster, name=subject.topic, sample_size=None)
            out = render_dlq.kafka_dlq_report(found[0], bootstrap) if len(found) == 1 else \
                render_dlq.overview_report(found, [], [], datetime.now(timezone.utc), bootstrap)
        else:
            out = render_dlq.overview_report(dlq.kafka_dlqs(ctx.clients, ctx.engine, t, cluster=cluster), [], [],
                                             datetime.now(timezone.utc), bootstrap)
    except kafka_dlq.DlqNotFound:
        return Report(title=f"DLQ of {subject.topic}", taken_at=datetime.now(timezone.utc),
                      verdict=Verdict(reasons=[f"Topic `{subject.topic}` has no dead-letter topic under the configured "
                                               "naming (dlq.kafka_patterns) or mappings."]))
    except KafkaException as exc:
        return _unavailable(f"DLQs ({cluster})", f"Kafka unreachable (tried {bootstrap}): {exc}")
    if note:
        out.notes.insert(0, note)
    return out


def _rabbit_queue(ctx: BotContext, subject: Subject) -> Report:
    cluster, _ = pick_cluster(subject.cluster, ctx.settings.rabbitmq)
    t = ctx.settings.thresholds
    try:
        if subject.queue:
            return render_dlq.rabbit_queue_report(dlq.rabbit_queue(ctx.clients, ctx.engine, t, cluster=cluster,
                                                                   name=subject.queue, sample_size=None))
        return render_dlq.overview_report([], dlq.rabbit_dlqs(ctx.clients, t, cluster=cluster), [],
                                          datetime.now(timezone.utc), None)
    except rabbitmq.QueueNotFound as missing:
        return _unavailable(f"Queue {subject.queue}", str(missing))
    except rabbitmq.RabbitUnavailable as exc:
        return _unavailable(f"RabbitMQ ({cluster})", str(exc))


def _schema(ctx: BotContext, subject: Subject) -> Report:
    now = datetime.now(timezone.utc)
    if not ctx.settings.schema_registry:
        return Report(title="Schema Registry", taken_at=now, verdict=Verdict(level=Level.WARNING, reasons=[
            "No Schema Registry is configured (schema_registry.<name>.url), so schemas could not be checked."]))
    name = next(iter(ctx.settings.schema_registry))
    probe = ctx.clients.schema_registry(name)
    if not subject.topic:
        snap = probe.snapshot()
        return render_schema.registry_report(snap, registry_verdict(snap))
    try:
        existing = set(probe.subjects())
    except SchemaRegistryError as err:
        return Report(title=f"Schema Registry {name}", taken_at=now, verdict=error_verdict(err.kind, err.message))
    wanted = sorted((s for s in subjects_for_topic(subject.topic) if s in existing), key=lambda s: not s.endswith("-value"))
    if not wanted:
        return Report(title=f"Schemas of {subject.topic}", taken_at=now, verdict=Verdict(reasons=[
            f"No subject for topic `{subject.topic}` ({', '.join(subjects_for_topic(subject.topic))}) in the registry."]))
    snap = probe.subject_snapshot(wanted[0])
    return render_schema.subject_report(name, probe.shown_url, snap, subject_verdict(snap, now=now), now)


RUNNERS: dict[Check, Callable[["BotContext", Subject], Report]] = {
    Check.KAFKA_LAG: lambda ctx, s: _lag(ctx, s, membership=False),
    Check.KAFKA_GROUP: lambda ctx, s: _lag(ctx, s, membership=True),
    Check.KAFKA_BROKERS: _brokers,
    Check.RABBITMQ_NODES: _rabbit_nodes,
    Check.KAFKA_DLQ: _kafka_dlq,
    Check.RABBITMQ_QUEUE: _rabbit_queue,
    Check.SCHEMA_SUBJECT: _schema,
}


def run(ctx: BotContext, check: Check, subject: Subject, max_age: float = 0.0) -> Report | None:
    """The check's report, or None for a manual step. With `max_age`, a report of
    the same check on the same subject at most that old is reused: when a broker
    fails, dozens of incidents reach their 15-minute step together and need one probe,
    not dozens."""
    runner = RUNNERS.get(check)
    if runner is None:
        return None
    key = (check, subject)
    if max_age > 0:
        cached = ctx.caches.reports.get(key, max_age)
        if cached is not None:
            return cached.model_copy(deep=True)
    report = runner(ctx, subject)
    ctx.caches.reports.put(key, report)
    return report.model_copy(deep=True)  # callers add notes; the cached one stays as probed
