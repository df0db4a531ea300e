"""`/add-partitions`: increase a topic's partitions (keys move; consumers rebalance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import partitions
from commands import destructive
from commands.base import CommandSpec, Deferred, Invocation

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/add-partitions <topic> <new-total> [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    return destructive.request(inv, ctx, kind="add_partitions", usage=USAGE,
                               planner=lambda actx, cluster, rest: partitions.plan(actx, cluster, *partitions.parse_partitions_spec(rest)))


SPEC = CommandSpec(name="add-partitions", summary="increase a topic's partitions (keys move; consumers rebalance)", usage=[USAGE], handle=handle)
