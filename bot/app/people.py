"""The Slack user and user-group ids in the configuration, checked against the
workspace: an id Slack does not know makes a page that never arrives, which
nobody would notice until the 20- or 30-minute step of a real incident."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.chat import Chat, ChatError
from bot.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Configured:
    setting: str  # where the id is configured, e.g. "teams.payments.lead_users"
    id: str
    usergroup: bool = False


def configured(settings: Settings) -> list[Configured]:
    """Every person and user group the bot pages, DMs, invites or asks to approve."""
    found = [Configured("escalation.platform_users", u) for u in settings.escalation.platform_users]
    found += [Configured("incidents.oncall_users", u) for u in settings.incidents.oncall_users]
    found += [Configured("approvals.approvers", u) for u in settings.approvals.approvers]
    for name, team in settings.teams.items():
        found += [Configured(f"teams.{name}.lead_users", u) for u in team.lead_users]
    for name, schedule in settings.oncall.schedules.items():
        found += [Configured(f"oncall.schedules.{name}.fallback_users", u) for u in schedule.fallback_users]
        for n, layer in enumerate(getattr(schedule, "layers", [])):
            found += [Configured(f"oncall.schedules.{name}.layers[{n}].members", u) for u in layer.members]
    found += [Configured(f"oncall.user_map.{email}", u) for email, u in settings.oncall.user_map.items()]
    groups = [("escalation.platform_usergroup", settings.escalation.platform_usergroup),
              ("approvals.approvers_usergroup", settings.approvals.approvers_usergroup)]
    groups += [(f"teams.{name}.lead_usergroup", team.lead_usergroup) for name, team in settings.teams.items()]
    found += [Configured(setting, g, usergroup=True) for setting, g in groups if g]
    return found


def unknown(chat: Chat, settings: Settings) -> list[str]:
    """One line per configured id the workspace does not know, naming its setting.
    Raises ChatError when Slack cannot be asked."""
    wanted = configured(settings)
    if not wanted:
        return []
    missing = set(chat.unknown_people([c.id for c in wanted if not c.usergroup],
                                      [c.id for c in wanted if c.usergroup]))
    return [f"{c.setting}: Slack does not know the {'user group' if c.usergroup else 'user'} {c.id} "
            f"(or it is deactivated); the bot cannot {'page' if c.usergroup else 'mention or message'} it"
            for c in wanted if c.id in missing]


def warn_unknown(chat: Chat, settings: Settings) -> None:
    """At start-up: a warning line per unknown id; Slack being unreachable is a
    warning too, never a reason not to start."""
    try:
        lines = unknown(chat, settings)
    except ChatError as exc:
        log.warning("could not check the configured Slack user and user-group ids (%s)", exc.code)
        return
    for line in lines:
        log.warning("%s", line)
