"""The console's demo people: the stand-in's workspace has Alice, Bob, Carol and
Dave (bot.localslack.seed); unless the configuration names people of its own, the
console gives them parts, so that the two-person rule and the ladder can be tried
end to end: Alice types, Bob approves, Carol leads the team that owns everything,
Dave is the platform on-call."""

from __future__ import annotations

from bot.config import Settings, TeamSettings

APPROVER, LEAD, PLATFORM = "U0BOB", "U0CAROL", "U0DAVE"
DEMO_TEAM = "demo"


def with_demo_cast(settings: Settings) -> Settings:
    """The settings with the demo parts filled in where the configuration has none."""
    update: dict[str, object] = {}
    a, e = settings.approvals, settings.escalation
    if not a.approvers and not a.approvers_usergroup:
        update["approvals"] = a.model_copy(update={"approvers": [APPROVER]})
    if not e.platform_users and not e.platform_usergroup:
        update["escalation"] = e.model_copy(update={"platform_users": [PLATFORM]})
    if not settings.teams:
        update["teams"] = {DEMO_TEAM: TeamSettings(lead_users=[LEAD])}
        update["default_team"] = DEMO_TEAM
    return settings.model_copy(update=update)


def describe(settings: Settings) -> str:
    """Who is who, for the console's greeting."""
    parts = {"U0ALICE": "you, by default"}
    for person in settings.approvals.approvers:
        parts[person] = "approver"
    for name, team in settings.teams.items():
        for person in team.lead_users:
            parts[person] = f"lead of team {name}" if person not in parts else f"{parts[person]}, lead of {name}"
    for person in settings.escalation.platform_users:
        parts[person] = "platform on-call" if person not in parts else f"{parts[person]}, platform on-call"
    return "People: " + ", ".join(f"{person} ({part})" for person, part in parts.items())
