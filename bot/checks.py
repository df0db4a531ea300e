"""Runbook check steps run for an incident's subject: each kind of check maps to a
probe, its verdict and its report. The incident flows, the escalation ladder and
the Run buttons all come through here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bot import lag
from bot.health.brokers import kafka_cluster_verdict, rabbit_nodes_verdict
from bot.health.verdict import Level, Verdict
from bot.incidents.model import Subject
from bot.probes import kafka_lag
from bot.probes.kafka_cluster import kafka_cluster_snapshot
from bot.probes.rabbitmq_nodes import rabbit_nodes_snapshot
from bot.runbooks import Check
from bot.slack import render_brokers, render_lag
from bot.slack.report import Report

if TYPE_CHECKING:
    from bot.context import BotContext


def _cluster(names: list[str], wanted: str | None) -> tuple[str, str | None]:
    """The configured cluster to use, and a note when the subject named an unknown one."""
    if wanted in names:
        return wanted, None  # type: ignore[return-value]
    note = f"The alert names cluster `{wanted}`, which is not configured; checked `{names[0]}`." if wanted else None
    return names[0], note


def _unavailable(title: str, text: str) -> Report:
    return Report(title=title, verdict=Verdict(level=Level.CRITICAL, reasons=[text]),
                  taken_at=datetime.now(timezone.utc))


def _lag(ctx: BotContext, subject: Subject, membership: bool) -> Report:
    cluster, note = _cluster(list(ctx.settings.kafka), subject.cluster)
    bootstrap = ctx.settings.kafka[cluster].bootstrap_servers
    title = "Consumer group health" if membership else "Consumer lag"
    try:
        if subject.group:
            known = kafka_lag.list_groups(ctx.clients.kafka_admin(cluster), ctx.settings.kafka[cluster].request_timeout_s)
            if subject.group not in known:
                return _unavailable(f"{title}: {subject.group}",
                                    f"Consumer group `{subject.group}` does not exist on `{cluster}`.")
        report = lag.check(ctx.clients, ctx.engine, ctx.settings.thresholds, cluster=cluster,
                           groups=[subject.group] if subject.group else None, topic=subject.topic)
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
    cluster, note = _cluster(list(ctx.settings.kafka), subject.cluster)
    snap = kafka_cluster_snapshot(ctx.clients, cluster)
    out = render_brokers.kafka_report(snap, kafka_cluster_verdict(snap, ctx.settings.thresholds))
    if note:
        out.notes.insert(0, note)
    return out


def _rabbit_nodes(ctx: BotContext, subject: Subject) -> Report:
    cluster, _ = _cluster(list(ctx.settings.rabbitmq), subject.cluster)
    snap = rabbit_nodes_snapshot(ctx.clients, cluster)
    return render_brokers.rabbit_nodes_report(snap, rabbit_nodes_verdict(snap, ctx.settings.thresholds))


RUNNERS: dict[Check, Callable[["BotContext", Subject], Report]] = {
    Check.KAFKA_LAG: lambda ctx, s: _lag(ctx, s, membership=False),
    Check.KAFKA_GROUP: lambda ctx, s: _lag(ctx, s, membership=True),
    Check.KAFKA_BROKERS: _brokers,
    Check.RABBITMQ_NODES: _rabbit_nodes,
}


def run(ctx: BotContext, check: Check, subject: Subject) -> Report | None:
    """The check's report, or None for a manual step."""
    runner = RUNNERS.get(check)
    return runner(ctx, subject) if runner else None
