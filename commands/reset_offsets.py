"""`/reset-offsets`: reset a consumer group's offsets (dry run, second person's approval, restore point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import reset_offsets
from commands import destructive
from commands.base import CommandSpec, Deferred, Invocation

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/reset-offsets <group> --topic T[:p,p] | --all-topics --to-earliest | --to-latest | --to-datetime <ISO-8601> | --by-duration <PnDTnHnM> | --shift-by <n> | --to-offset <n> [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    return destructive.request(inv, ctx, kind="reset_offsets", usage=USAGE,
                               planner=lambda actx, cluster, rest: reset_offsets.plan(actx, cluster, rest))


SPEC = CommandSpec(name="reset-offsets", summary="reset a consumer group's offsets (dry run, second person's approval, restore point)", usage=[USAGE], handle=handle)
