"""`/elect-leaders`: preferred leader election for partitions led by another replica."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import leaders
from commands import destructive
from commands.base import CommandSpec, Deferred, Invocation

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/elect-leaders [topic[:p]] [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    return destructive.request(inv, ctx, kind="elect_leaders", usage=USAGE,
                               planner=lambda actx, cluster, rest: leaders.plan(actx, cluster, rest or None),
                               allow_empty=True)


SPEC = CommandSpec(name="elect-leaders", summary="preferred leader election for partitions led by another replica", usage=[USAGE], handle=handle)
