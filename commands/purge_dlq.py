"""`/purge-dlq`: purge a DLQ after investigation (approval with the name typed out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import purge
from commands import destructive
from commands.base import CommandSpec, Deferred, Invocation

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/purge-dlq <dlq> [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    return destructive.request(inv, ctx, kind="purge_dlq", usage=USAGE,
                               planner=lambda actx, cluster, rest: purge.plan(actx, cluster, rest))


SPEC = CommandSpec(name="purge-dlq", summary="purge a DLQ after investigation (approval with the name typed out)", usage=[USAGE], handle=handle)
