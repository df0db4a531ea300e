"""`/ops status`: can the bot reach its Kafka clusters, RabbitMQ and database?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.app import readiness
from bot.reports import status as render
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    if inv.args:
        raise UsageError("`status` takes no arguments: it checks every configured connection.")

    def run() -> Reply:
        result = readiness.probe_dependencies(ctx.clients, ctx.engine, ctx.escalator.status if ctx.escalator else None)
        return Reply(text=render.readiness_text(result), blocks=render.readiness_blocks(result))

    return Deferred(run=run, ack=Reply(text="Checking Kafka, RabbitMQ and the database…"))


SPEC = CommandSpec(
    name="status",
    summary="check the bot's connections to Kafka, RabbitMQ and its database",
    usage=["/ops status"],
    handle=handle,
)
