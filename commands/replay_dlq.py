"""`/replay-dlq`: replay a DLQ to its source (dry run, approval, verified counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import replay
from commands import destructive
from commands.base import CommandSpec, Deferred, Invocation

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/replay-dlq <dlq> [--to <topic-or-exchange>] [--limit N] [--pattern <error-pattern>] [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    return destructive.request(inv, ctx, kind="replay_dlq", usage=USAGE,
                               planner=lambda actx, cluster, rest: replay.plan(actx, cluster, rest))


SPEC = CommandSpec(name="replay-dlq", summary="replay a DLQ to its source (dry run, approval, verified counts)", usage=[USAGE], handle=handle)
