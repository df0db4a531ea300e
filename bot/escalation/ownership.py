"""Who owns a consumer group, topic or queue: the longest configured name prefix
wins, then the default team."""

from __future__ import annotations

from bot.config import Settings


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
