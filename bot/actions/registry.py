"""Every destructive action the bot offers, one line each. Adding one is writing its
module (plan, replan, execute, verify and an ActionKind naming them) and listing it
here: its slash command (commands.destructive), its approval card's title and its
execution (bot.approvals.flow through bot.actions) all come from that entry."""

from __future__ import annotations

from bot.actions import leaders, partitions, purge, replay, reset_offsets, restore_backup
from bot.actions.base import ActionError, ActionKind

ACTIONS: tuple[ActionKind, ...] = (
    reset_offsets.RESET,
    reset_offsets.RESTORE,
    replay.ACTION,
    purge.ACTION,
    partitions.ACTION,
    leaders.ACTION,
    restore_backup.ACTION,
)


def get(kind: str) -> ActionKind:
    """The entry of a plan's kind. Looked up at each call, not cached, so a test can
    register an action by replacing ACTIONS."""
    for action in ACTIONS:
        if action.kind == kind:
            return action
    # A plan stored by a bot that knew a kind this one does not: fail the request, don't crash.
    raise ActionError(f"This bot has no action {kind!r} any more: nothing was done.")


def title(kind: str) -> str:
    """What people see for a kind on cards and in timelines; an old, unregistered kind as it is."""
    try:
        return get(kind).title
    except ActionError:
        return kind


def confirms_by_name(kind: str) -> bool:
    """Whether approving asks the approver to type the target's name out."""
    try:
        return get(kind).confirm_by_name
    except ActionError:
        return False
