"""Reminders to an incident's commander, a duty of the timer owner (bot.app.duties).

- Status reminder: every `oncall.reminders.every_minutes[severity]` minutes since the
  last status update (or the acknowledgement), a mention in the thread asking for
  `/incident update`.
- Stale: an acknowledged incident with no status update for
  `oncall.reminders.stale_after_minutes` re-notifies its commander by DM, and again
  each time that long passes.

Minutes are the ladder's (`escalation.time_scale` shortens them). Each reminder's due
time is computed from the database alone, so every replica computes the same one, and
a row per (incident, kind, due time) is claimed before sending: a reminder goes out at
most once, whichever replica holds the timer lease. Only open, acknowledged incidents
with a commander get reminders, so resolving one stops them; a claimed reminder checks
again before it is posted. A replica that dies between its claim and its post loses
that reminder (the next one is due one interval later)."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.chat import ChatError
from bot.db import owners
from bot.incidents import flows, roles, service, store
from bot.incidents.model import Incident, Status
from bot.incidents.tables import reminders
from bot.reports.markup import user

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)


def due_at(base: float, interval: float, now: float) -> float | None:
    """The latest reminder time `base + k·interval` (k ≥ 1) not after `now`, or None."""
    if interval <= 0 or now < base + interval:
        return None
    return round(base + math.floor((now - base) / interval) * interval, 3)


def claim(ctx: BotContext, incident_id: int, kind: str, due: float) -> bool:
    """True for the one process that records this reminder first."""
    try:
        with db.write(ctx.engine) as conn:
            conn.execute(insert(reminders).values(incident_id=incident_id, kind=kind, due_at=due,
                                                  sent_by=owners.this_process(), sent_at=time.time()))
    except IntegrityError:
        return False
    return True


def run(ctx: BotContext) -> int:
    """Claim and queue the reminders due now; returns how many were claimed."""
    settings = ctx.settings.oncall.reminders
    scale = ctx.settings.escalation.time_scale
    now = time.time()
    sent = 0
    with ctx.engine.connect() as conn:
        candidates = [i for i in store.list_open(conn, limit=500)
                      if i.status is Status.ACKNOWLEDGED and i.commander]
    for incident in candidates:
        last = roles.last_update_at(ctx.engine, incident.id)
        base = max(last or 0.0, incident.acknowledged_at or incident.created_at)
        every = settings.every_minutes.get(incident.severity.value)
        plan = []
        if every:
            plan.append(("status", due_at(base, every * 60 / scale, now), every))
        if settings.stale_after_minutes:
            plan.append(("stale", due_at(base, settings.stale_after_minutes * 60 / scale, now),
                         settings.stale_after_minutes))
        for kind, due, minutes in plan:
            if due is not None and claim(ctx, incident.id, kind, due):
                sent += 1
                ctx.work.submit(lambda i=incident, k=kind, m=minutes: _send(ctx, i, k, m), key=flows.key(incident))
    return sent


def _send(ctx: BotContext, incident: Incident, kind: str, minutes: float) -> None:
    fresh = flows.reload(ctx, incident)
    if fresh.status is not Status.ACKNOWLEDGED or not fresh.commander:
        return  # resolved (or handed back) since the claim
    who = fresh.commander
    if kind == "status":
        flows.post(ctx, fresh, f":hourglass: {user(who)}, time for a status update on {fresh.ref} "
                               f"(every {minutes:g} min for {fresh.severity.value} incidents): "
                               "`/incident update conditions: … actions: … needs: …`")
        text = f"Status reminder to {user(who)}"
    else:
        link = flows.parent(flows.ensure_parent(ctx, fresh))
        try:
            url = ctx.chat.link(link)
        except ChatError:
            url = f"the {fresh.ref} thread"
        try:
            ctx.chat.direct(who, f"{fresh.ref} ({fresh.severity.value}) has had no status update for "
                                 f"{minutes:g} min and you are its commander: {fresh.title}. Post one with "
                                 f"`/incident update` in {url}, or hand over with `/incident role commander @someone`.")
        except ChatError as exc:
            log.warning("stale reminder DM to %s for %s not sent: %s", who, fresh.ref, exc.code)
            flows.post(ctx, fresh, f":warning: {user(who)}: no status update for {minutes:g} min "
                                   f"(a direct message could not be sent: `{exc.code}`).")
        text = f"No status update for {minutes:g} min: commander {user(who)} notified by direct message"
    service.record(ctx.engine, fresh, actor="bot", kind=f"reminder.{kind}", now=time.time(), text=text)
