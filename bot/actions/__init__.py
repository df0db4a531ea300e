"""Destructive operations on Kafka and RabbitMQ, each a dry-run plan, a re-checked
single execution and a read-back verification (see bot.actions.base), listed once in
bot.actions.registry as an ActionKind: its slash command, the title of its approval
cards and the functions below all come from that entry.

A slash command calls the entry's ``plan(ctx, cluster, words)``, which returns the Plan
to show on the approval card (words that do not parse raise SpecError, an impossible
request ActionError, both with a sentence for the person). ``/export-offsets`` needs no
approval: restore_points.export_offsets(ctx, cluster, group) -> RestorePoint.

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

from bot.actions import leaders, partitions, purge, registry, replay, reset_offsets, restore_points
from bot.actions.base import (
    ActionContext,
    ActionError,
    ActionKind,
    Plan,
    Progress,
    ProgressFn,
    Refusal,
    Result,
    Row,
    Verification,
)
from bot.actions.purge import PurgeSpec
from bot.actions.registry import title  # what cards and timelines call a kind
from bot.actions.replay_spec import ReplaySpec
from bot.actions.reset_spec import ResetSpec, SpecError

__all__ = [
    "ActionContext", "ActionError", "ActionKind", "Plan", "Progress", "ProgressFn", "PurgeSpec", "Refusal",
    "ReplaySpec", "ResetSpec", "Result", "Row", "SpecError", "Verification", "execute", "leaders", "partitions",
    "purge", "registry", "replan", "replay", "reset_offsets", "restore_points", "title", "verify",
]


def replan(ctx: ActionContext, plan: Plan) -> Plan:
    """The same request planned again now; compare ``plan_hash`` to see if it changed."""
    return registry.get(plan.kind).replan(ctx, plan)


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    """Execute an approved plan once; preconditions are re-checked inside."""
    return registry.get(plan.kind).execute(ctx, plan, progress=progress, abort=abort)


def verify(ctx: ActionContext, plan: Plan, result: Result) -> Verification:
    return registry.get(plan.kind).verify(ctx, plan, result)
