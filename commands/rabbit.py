"""`/rabbit [queue]`: RabbitMQ node health and the deepest queues, or one queue's
depth, consumers, rates and dead-letter routing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from bot.evidence import dlq
from bot.health.brokers import rabbit_nodes_verdict
from bot.health.coverage import partial
from bot.probes import rabbitmq
from bot.probes.rabbitmq_nodes import rabbit_nodes_snapshot
from bot.reports import brokers as render_brokers
from bot.reports import dlq as render_dlq
from bot.reports.report import Table
from commands import args, common
from commands.base import CommandSpec, Deferred, Invocation, Reply

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/rabbit [queue] [--sample N] [--rabbit NAME]"
TOP_QUEUES = 15


class RabbitArgs(BaseModel):
    queue: str | None = None
    sample: int = Field(0, ge=0, le=100)
    rabbit: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, RabbitArgs, positional=["queue"], usage=USAGE)
    cluster = common.rabbit_cluster(ctx, a.rabbit)

    def queue(name: str) -> Reply:
        try:
            found = dlq.rabbit_queue(ctx.clients, ctx.engine, ctx.settings.thresholds, cluster=cluster, name=name,
                                     sample_size=a.sample)
        except rabbitmq.QueueNotFound as missing:
            return common.problem(str(args.not_found("queue", name, missing.suggestions)))
        except rabbitmq.RabbitUnavailable as exc:
            return common.problem(f"RabbitMQ `{cluster}` is unavailable: {exc}")
        return common.report_reply(render_dlq.rabbit_queue_report(found))

    def nodes() -> Reply:
        snap = rabbit_nodes_snapshot(ctx.clients, cluster)
        report = render_brokers.rabbit_nodes_report(snap, rabbit_nodes_verdict(snap))
        if snap.management_ok:
            try:
                queues = rabbitmq.list_queues(ctx.clients, cluster)
            except rabbitmq.RabbitUnavailable as exc:
                # The nodes were seen, the queues not: said first, and not OK.
                report.verdict = partial(report.verdict, [f"RabbitMQ `{cluster}`'s queues could not be listed, so "
                                                          f"the deepest queues are not shown: {exc}"],
                                         saw_anything=True)
            else:
                deepest = sorted(queues, key=lambda q: q.messages or 0, reverse=True)
                report.tables.append(Table(
                    title=f"Deepest queues ({len(queues)} in all)",
                    headers=["QUEUE", "MESSAGES", "CONSUMERS", "DLX"],
                    rows=[[q.name, f"{q.messages or 0:,}", str(q.consumers if q.consumers is not None else "-"),
                           q.dead_letter_exchange or "-"] for q in deepest[:TOP_QUEUES]],
                    total_rows=len(queues),
                ))
        return common.report_reply(report)

    what = f"queue `{a.queue}`" if a.queue else "the RabbitMQ nodes"
    return Deferred(run=(lambda: queue(a.queue)) if a.queue else nodes, ack=Reply(text=f"Checking {what}…"))


SPEC = CommandSpec(
    name="rabbit",
    summary="RabbitMQ nodes (alarms, memory, disk) and queues, or one queue in detail",
    usage=[USAGE],
    handle=handle,
    shared=True,
)
