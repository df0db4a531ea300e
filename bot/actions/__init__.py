"""Destructive operations on Kafka and RabbitMQ, each a dry-run plan, a re-checked
single execution and a read-back verification (see bot.actions.base).

What a slash command calls (each returns a Plan to show on the approval card; text
that does not parse raises SpecError, an impossible request ActionError, both with a
sentence for the person):

    /reset-offsets   reset_offsets.plan(ctx, cluster, text_or_ResetSpec)
    /restore-offsets reset_offsets.plan_restore(ctx, restore_point_id)
    /export-offsets  restore_points.export_offsets(ctx, cluster, group) -> RestorePoint (no approval)
    /replay-dlq      replay.plan(ctx, cluster, text_or_ReplaySpec)
    /purge-dlq       purge.plan(ctx, cluster, text_or_PurgeSpec)
    /add-partitions  partitions.plan(ctx, cluster, *partitions.parse_partitions_spec(text))
    /elect-leaders   leaders.plan(ctx, cluster, selector_or_None)

What an approval executor calls, whatever the action:

    fresh = replan(ctx, plan)                  # just before executing
    if fresh.plan_hash != plan.plan_hash:       # the world moved: show fresh, ask again
        ...
    res = execute(ctx, plan, progress=fn, abort=event)
    check = verify(ctx, plan, res)

and at start-up ``replay.unfinished(ctx)`` / ``replay.resume(ctx, replay_id)`` for
replays a previous process did not finish.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.actions import leaders, partitions, purge, replay, reset_offsets, restore_points
from bot.actions.base import (
    ActionContext,
    ActionError,
    Plan,
    Progress,
    ProgressFn,
    Refusal,
    Result,
    Row,
    Verification,
)
from bot.actions.purge import PurgeSpec
from bot.actions.replay_spec import ReplaySpec
from bot.actions.reset_spec import ResetSpec, SpecError

__all__ = [
    "ActionContext", "ActionError", "Plan", "Progress", "ProgressFn", "PurgeSpec", "Refusal", "ReplaySpec",
    "ResetSpec", "Result", "Row", "SpecError", "Verification", "execute", "leaders", "partitions", "purge",
    "replan", "replay", "reset_offsets", "restore_points", "verify",
]

_Execute = Callable[..., Result]
_EXECUTE: dict[str, _Execute] = {
    "reset_offsets": reset_offsets.execute, "restore_offsets": reset_offsets.execute, "replay_dlq": replay.execute,
    "purge_dlq": purge.execute, "add_partitions": partitions.execute, "elect_leaders": leaders.execute,
}
_VERIFY: dict[str, Callable[[ActionContext, Plan, Result], Verification]] = {
    "reset_offsets": reset_offsets.verify, "restore_offsets": reset_offsets.verify, "replay_dlq": replay.verify,
    "purge_dlq": purge.verify, "add_partitions": partitions.verify, "elect_leaders": leaders.verify,
}


TITLES = {"reset_offsets": "Reset consumer group offsets", "restore_offsets": "Restore consumer group offsets",
          "replay_dlq": "Replay a DLQ", "purge_dlq": "Purge a DLQ", "add_partitions": "Increase partitions",
          "elect_leaders": "Preferred leader election"}


def title(kind: str) -> str:
    """What an action is called on its approval card and in timelines."""
    return TITLES.get(kind, kind)


def replan(ctx: ActionContext, plan: Plan) -> Plan:
    """The same request planned again now; compare ``plan_hash`` to see if it changed."""
    p = plan.params
    if plan.kind == "reset_offsets":
        return reset_offsets.plan(ctx, plan.cluster, ResetSpec.model_validate(p["spec"]))
    if plan.kind == "restore_offsets":
        return reset_offsets.plan_restore(ctx, p["restore_point"])
    if plan.kind == "replay_dlq":
        return replay.plan(ctx, plan.cluster, ReplaySpec.model_validate(p["spec"]))
    if plan.kind == "purge_dlq":
        return purge.plan(ctx, plan.cluster, PurgeSpec.model_validate(p["spec"]))
    if plan.kind == "add_partitions":
        return partitions.plan(ctx, plan.cluster, p["topic"], p["new_total"])
    return leaders.plan(ctx, plan.cluster, p["selector"])


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    """Execute an approved plan once; preconditions are re-checked inside."""
    return _EXECUTE[plan.kind](ctx, plan, progress=progress, abort=abort)


def verify(ctx: ActionContext, plan: Plan, result: Result) -> Verification:
    return _VERIFY[plan.kind](ctx, plan, result)
