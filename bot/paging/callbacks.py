"""A paging tool says its alert was acknowledged or resolved: the incident follows
in the bot, and the thread and card say so, as the Slack buttons do. A repeated
delivery finds the incident already there and changes nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import db
from bot.db import owners
from bot.incidents import flows, service
from bot.incidents.model import Incident
from bot.paging import outbox
from bot.paging.pager import DONE_KIND
from bot.reports.markup import escape

if TYPE_CHECKING:
    from bot.app.context import BotContext


@dataclass(frozen=True)
class Applied:
    incident: Incident | None
    changed: bool
    message: str


def apply(ctx: BotContext, kind: str, vendor: str, action: str, ref: str, by: str | None) -> Applied:
    incident = service.get(ctx.engine, ref)
    if incident is None:
        return Applied(None, False, f"no incident {ref} here")
    actor = (f"{vendor} ({by})" if by else vendor)[:64]
    now = time.time()
    if action == "acknowledge":
        change = service.acknowledge(ctx.engine, incident, actor=actor, now=now)
    else:
        change = service.resolve(ctx.engine, incident, actor=actor, now=now, note=f"in {vendor}")
    if not change.changed:
        return Applied(change.incident, False, f"{ref} is already {change.incident.status.value}")
    # The tool knows already: its pagers get no acknowledge or resolve echoed back.
    paged = []
    with db.write(ctx.engine) as conn:
        for row in outbox.for_incident(conn, incident.id):
            pager = ctx.settings.paging.pagers.get(row.pager)
            if row.action == "trigger" and row.status == "sent" and pager and pager.kind == kind \
                    and row.pager not in paged:
                paged.append(row.pager)
                outbox.enqueue(conn, incident_id=incident.id, step=outbox.FOLLOW_UP, pager=row.pager, action=action,
                               owner=owners.this_process(), now=now, ttl=0, status="skipped",
                               detail={"reason": f"{action} came from {vendor}"})
                if action == "resolve":
                    outbox.settle(conn, incident_id=incident.id, pager=row.pager)
    done = "acknowledged" if action == "acknowledge" else "resolved"
    who = f" by {by}" if by else ""
    for name in paged or [kind]:
        service.record(ctx.engine, incident, actor=actor, kind=DONE_KIND[action], now=now,
                       text=f"{done.capitalize()} in {vendor}{who}",
                       data={"pager": name, "vendor": vendor, "by": by, "inbound": True, "action": action})
    message = f"{ref} {done} in {vendor}{' by ' + escape(by) if by else ''}."
    if action == "acknowledge":
        message = message[:-1] + "; the commander is whoever holds the page there."
    flows.announce_change(ctx, change.incident, message)
    return Applied(change.incident, True, message)
