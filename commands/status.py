"""`/ops status`: can the bot reach its Kafka clusters, RabbitMQ and database?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.reports.report import to_text
from bot.reports.status import readiness_report
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    if inv.args:
        raise UsageError("`status` takes no arguments: it checks every configured connection.")

    def run() -> Reply:
        report = readiness_report(ctx.readiness())
        return Reply(text=to_text(report), content=report)  # for the person who asked, like their other answers

    return Deferred(run=run, ack=Reply(text="Checking Kafka, RabbitMQ and the database…"))


SPEC = CommandSpec(
    name="status",
    summary="check the bot's connections to Kafka, RabbitMQ and its database",
    usage=["/ops status"],
    handle=handle,
    shared=True,
)
