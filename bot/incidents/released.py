"""When a silence ends (it ran out, or someone expired it), what it held back and still
fires opens as any alert would: each alert group it recorded is delivered again, as it
stood at its last delivery, through the usual ingestion (another silence in force may
hold it again; an alert resolved meanwhile opens nothing). A duty of the timer owner
(bot.app.duties), each ended silence claimed once in the database."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

from bot import db
from bot.alerts.models import Alert, AlertBatch
from bot.db import owners
from bot.incidents import flows, store
from bot.incidents.text import clock
from bot.silences import store as silences
from bot.silences.model import Held, Silence
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
WATCH = "watch"  # the watch re-opens its own breaches at its next round


def _over(ends_at: str | None, now: float) -> bool:
    """Whether a firing alert's own end time (Alertmanager's endsAt) has passed: it
    was not refreshed, so it is resolved. The zero time and unreadable values are not."""
    if not ends_at or ends_at.startswith("0001-"):
        return False
    try:
        return datetime.fromisoformat(ends_at.replace("Z", "+00:00")).timestamp() < now
    except ValueError:
        return False


def batches(rows: list[Held], now: float) -> list[AlertBatch]:
    """The alert groups a silence held back, as they stood at their last delivery."""
    groups: dict[tuple[str, str], list[Held]] = defaultdict(list)
    for row in rows:
        if row.source != WATCH:
            groups[(row.source, row.group_key)].append(row)
    found = []
    for (source, group_key), held in groups.items():
        alerts = [Alert(fingerprint=h.fingerprint, name=h.name, severity=h.severity, labels=h.labels,
                        annotations=h.annotations, starts_at=h.starts_at, ends_at=h.ends_at,
                        generator_url=h.generator_url,
                        status="resolved" if h.status == "resolved" or _over(h.ends_at, now) else "firing")
                  for h in held]
        meta = held[-1].batch or {}
        found.append(AlertBatch(source=source, group_key=group_key, title=meta.get("title") or held[0].name,
                                alerts=alerts, common_labels=meta.get("common_labels") or {},
                                runbook=meta.get("runbook"),
                                status="firing" if any(a.status == "firing" for a in alerts) else "resolved"))
    return found


def release(ctx: BotContext, silence: Silence, now: float) -> int:
    """Deliver again what `silence` held back; returns how many incidents it opened."""
    rows = silences.held(ctx.engine, [silence.id])
    opened = 0
    for batch in batches(rows, now):
        outcome = flows.take_alerts(ctx, batch)
        if not outcome.created or outcome.incident is None:
            continue
        opened += 1
        first = min(r.first_seen for r in rows if (r.source, r.group_key) == (batch.source, batch.group_key))
        with db.write(ctx.engine) as conn:
            store.add_event(conn, incident_id=outcome.incident.id, actor="bot", kind="silence.released", now=now,
                            text=f"Held back by silence {silence.ref} ({silence.reason[:200]}) since {clock(first)}; "
                                 f"still firing when it ended at {clock(silence.until)}, so it opens now.",
                            data={"silence": silence.id})
    return opened


def release_ended(ctx: BotContext) -> int:
    """The duty: every ended silence not handled yet, claimed, released, marked."""
    me, now = owners.this_process(), time.time()
    done = 0
    for silence in silences.ended_unreleased(ctx.engine, now):
        if not silences.claim_release(ctx.engine, silence.id, owner=me, now=now):
            continue
        opened = release(ctx, silence, now)
        silences.mark_released(ctx.engine, silence.id, owner=me, now=time.time())
        if opened:
            log.info("silence %s ended; %s still firing opened", silence.ref, plural(opened, "incident"))
        done += 1
    return done
