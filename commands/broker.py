"""`/broker [--cluster NAME]`: Kafka broker health: controller, brokers that do not
answer, under-replicated and offline partitions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.health.brokers import kafka_cluster_verdict
from bot.probes.kafka_cluster import kafka_cluster_snapshot
from bot.reports import brokers as render_brokers
from commands import args, common
from commands.base import CommandSpec, Deferred, Invocation, Reply

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/broker [--cluster NAME]"


class BrokerArgs(BaseModel):
    cluster: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, BrokerArgs, positional=[], usage=USAGE)
    cluster = common.kafka_cluster(ctx, a.cluster)

    def run() -> Reply:
        snap = kafka_cluster_snapshot(ctx.clients, cluster)
        verdict = kafka_cluster_verdict(snap, ctx.settings.thresholds)
        return common.report_reply(render_brokers.kafka_report(snap, verdict))

    return Deferred(run=run, ack=Reply(text=f"Checking the brokers of `{cluster}`…"))


SPEC = CommandSpec(
    name="broker",
    summary="Kafka broker health: controller, missing brokers, under-replicated and offline partitions",
    usage=[USAGE],
    handle=handle,
    shared=True,
)
