"""Who owns a consumer group, topic or queue: the longest configured name prefix
wins, then the default team."""

from __future__ import annotations

from bot.config import Settings, Thresholds


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
