"""`/restore-offsets`: put a group's offsets back from a restore point (with approval)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import reset_offsets
from commands import destructive
from commands.base import CommandSpec, Deferred, Invocation

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/restore-offsets <restore-point-id> [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    return destructive.request(inv, ctx, kind="restore_offsets", usage=USAGE,
                               planner=lambda actx, cluster, rest: reset_offsets.plan_restore(actx, rest.strip()))


SPEC = CommandSpec(name="restore-offsets", summary="put a group's offsets back from a restore point (with approval)", usage=[USAGE], handle=handle)
