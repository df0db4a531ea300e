"""Pieces several commands share: picking a cluster, and turning a report into a reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.reports.markup import escape
from bot.reports.report import Report, to_text
from commands.base import Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext


def kafka_cluster(ctx: BotContext, name: str | None) -> str:
    clusters = list(ctx.settings.kafka)
    if name is None:
        return clusters[0]
    if name not in clusters:
        raise UsageError(f"No Kafka cluster named `{name}`. Configured: {', '.join(clusters)}.")
    return name


def rabbit_cluster(ctx: BotContext, name: str | None) -> str:
    clusters = list(ctx.settings.rabbitmq)
    if name is None:
        return clusters[0]
    if name not in clusters:
        raise UsageError(f"No RabbitMQ named `{name}`. Configured: {', '.join(clusters)}.")
    return name


def report_reply(report: Report) -> Reply:
    return Reply(text=to_text(report), content=report, in_channel=True)


def problem(text: str) -> Reply:
    """Something the person should know that is not a report (not found, unreachable)."""
    return Reply(text=text)


def kafka_unreachable(cluster: str, servers: str, exc: Exception) -> Reply:
    """A Kafka cluster that could not be reached: said to the person, and in an
    incident's thread also to the thread and its timeline."""
    return Reply(text=f"Kafka cluster `{cluster}` is unreachable (tried {escape(servers)}): {escape(str(exc))}",
                 outage=True)
