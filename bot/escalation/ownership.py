"""Who owns a consumer group, topic or queue: the longest configured name prefix
wins, then the default team; and whom an on-call schedule named as a target puts on call."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.config import Settings, Thresholds
from bot.oncall import lookup

if TYPE_CHECKING:
    from bot.app.context import BotContext


def owner(settings: Settings, *names: str | None) -> str | None:
    """The team owning the first of `names` that a prefix matches (a group before
    its topic, say), else the default team."""
    for name in names:
        if not name:
            continue
        matches = [prefix for prefix in settings.ownership if name.startswith(prefix)]
        if matches:
            return settings.ownership[max(matches, key=len)]
    return settings.default_team


def thresholds_for(settings: Settings, *names: str | None) -> Thresholds:
    """The thresholds for what `names` name: its owning team's overrides over the global ones."""
    team = owner(settings, *names)
    found = settings.teams.get(team) if team else None
    return found.thresholds.over(settings.thresholds) if found else settings.thresholds
def on_call(ctx: BotContext, schedule: str | None) -> tuple[list[str], str | None]:
    """Whom a schedule named by a ladder target puts on call right now, and a note
    for the thread when that is the schedule's fallback (or nobody)."""
    if not schedule:
        return [], None
    found = lookup.who(ctx.settings.oncall, ctx.engine, schedule, time.time(), ctx.caches.oncall)
    note = f"On-call schedule *{schedule}*: {found.note}." if found.note else None
    return found.users, note
