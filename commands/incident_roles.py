"""`/incident role commander|comms|scribe <@user>` and `/incident update <text>`:
the incident's people, and the status updates its commander posts (in the thread,
and in the stakeholder channel when one is configured)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.chat import ChatError, Place
from bot.incidents import flows, roles
from bot.incidents.model import Incident
from bot.reports.markup import escape, link
from commands.base import Deferred, Invocation, Outcome, Reply, UsageError
from commands.oncall import parse_user

if TYPE_CHECKING:
    from bot.app.context import BotContext

ROLE_USAGE = "/incident role commander|comms|scribe <@user>"
UPDATE_USAGE = "/incident update [conditions: …] [actions: …] [needs: …]"


def role(inv: Invocation, ctx: BotContext, incident: Incident, rest: list[str]) -> Outcome:
    if len(rest) != 2 or rest[0].lower() not in roles.ROLES:
        raise UsageError(f"Which role, and who? Usage: `{ROLE_USAGE}`")
    if not incident.is_open:
        return Reply(text=f"{incident.ref} is resolved; its roles stay as they were.")
    person = parse_user(rest[1])
    change = roles.assign(ctx.engine, incident, role=rest[0].lower(), person=person, actor=inv.user_id,
                          now=time.time())
    if not change.changed:
        return Reply(text=change.message)

    def announce() -> None:  # after the acknowledgement: the thread says so, the card shows it
        flows.post(ctx, change.incident, f":bust_in_silhouette: {change.message}")
        flows.refresh_parent(ctx, change.incident)

    return Deferred(run=announce, ack=Reply(text=change.message))


def update(inv: Invocation, ctx: BotContext, incident: Incident, text: str) -> Outcome:
    if not text.strip():
        raise UsageError(f"What is the status? Usage: `{UPDATE_USAGE}`")
    if not incident.is_open:
        return Reply(text=f"{incident.ref} is resolved; add what you know to its postmortem.")
    parts = roles.parse_update(text)
    now = time.time()
    roles.record_update(ctx.engine, incident, parts, inv.user_id, now)
    body = roles.render_update(incident, parts, inv.user_id)
    stakeholders = ctx.settings.oncall.stakeholder_channel

    def post() -> Reply:
        fresh = flows.ensure_parent(ctx, incident)
        flows.post(ctx, fresh, body)
        if not stakeholders:
            return Reply(text=f"Status update posted in {incident.ref}'s thread.")
        try:
            url = ctx.chat.link(flows.parent(fresh))
            ctx.chat.post(Place(stakeholders), f"{body}\n{link(url, f'{escape(incident.title)} ({incident.ref})')}")
        except ChatError as exc:
            return Reply(text=f"Status update posted in the thread, but not in the stakeholder channel "
                              f"`{stakeholders}`: Slack answered `{exc.code}` (check `oncall.stakeholder_channel`).")
        return Reply(text=f"Status update posted in {incident.ref}'s thread and in the stakeholder channel.")

    return Deferred(run=post, ack=Reply(text=f"Posting the update to {incident.ref}…"))

