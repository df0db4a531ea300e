"""Paging out: a ladder step (or a manual escalation) writes its pages to the
outbox and sends them; acknowledging or resolving the incident sends the same
to every pager that was paged; pages nobody is sending any more are sent by the
timer owner (bot.app.duties)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot import db
from bot.chat import ChatError
from bot.db import owners
from bot.incidents import flows, service, store
from bot.incidents.model import Incident, Status
from bot.incidents.tables import incidents
from bot.paging import outbox
from bot.paging.deliver import Attempt, deliver
from bot.paging.vendors import VENDOR_NAMES, PageEvent, build, setting_to_fix

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)

# Pages this process is sending now, by (database, page): the sweep must not hand
# the same page to a second thread of the same process.
_in_flight: set[tuple[int, int]] = set()
_in_flight_lock = threading.Lock()

# The timeline's kinds for a page that went out, by action (the card reads them).
DONE_KIND = {"trigger": "page.sent", "acknowledge": "page.acknowledged", "resolve": "page.resolved"}


def vendor(ctx: BotContext, pager: str) -> str:
    found = ctx.settings.paging.pagers.get(pager)
    return VENDOR_NAMES.get(found.kind, found.kind) if found else "unknown"


def page(ctx: BotContext, incident: Incident, step: str, reason: str,
         team: str | None = None) -> list[tuple[str, bool]]:
    """Write a trigger for every pager the step pages, then send them (each on its
    own, off the step's queue, since a vendor's retries may take minutes). Called
    only by a step its claim gave to this process; a step run again after a crash
    finds its rows written and writes none. Returns each pager's name, and
    whether it is paged now (False: this step paged it already)."""
    paging = ctx.settings.paging
    names = paging.for_step(step.removeprefix("manual:"), team)
    if not names:
        return []
    me, now = owners.this_process(), time.time()
    written: dict[str, int | None] = {}
    with db.write(ctx.engine) as conn:
        for name in names:
            written[name] = outbox.enqueue(conn, incident_id=incident.id, step=step, pager=name, action="trigger",
                                           owner=me, now=now, ttl=paging.lease_s,
                                           detail={"reason": reason, "team": team})
    for page_id in written.values():
        if page_id is not None:
            submit(ctx, page_id)
    return [(name, page_id is not None) for name, page_id in written.items()]


def repage(ctx: BotContext, incident: Incident, step: str, minute: float) -> list[str]:
    """At each ladder step of an incident nobody has acknowledged, the pagers an earlier
    step paged are paged again (once per step, as every page). The trigger carries the
    incident's id as its dedup key, so it lands on the same PagerDuty alert, Opsgenie
    alert or OnCall group: the vendor re-notifies by its own rules, nothing is opened
    twice. Returns the pagers paged again now."""
    if incident.status is not Status.OPEN:
        return []
    with ctx.engine.connect() as conn:
        earlier = outbox.for_incident(conn, incident.id)
    # Pages of earlier steps; one still being tried counts as paged (the re-page goes out
    # behind it). This step's own pages were just written: not paged again.
    mine = {r.pager for r in earlier if r.step == step}
    names = list(dict.fromkeys(r.pager for r in earlier if r.action == "trigger" and r.status != "failed"
                               and r.step not in (step, f"repage:{minute:g}") and r.pager not in mine
                               and r.pager in ctx.settings.paging.pagers))
    if not names:
        return []
    me, now = owners.this_process(), time.time()
    reason = f"{incident.ref} is still unacknowledged at the {minute:g}-minute step"
    with db.write(ctx.engine) as conn:
        written = [outbox.enqueue(conn, incident_id=incident.id, step=f"repage:{minute:g}", pager=name,
                                  action="trigger", owner=me, now=now, ttl=ctx.settings.paging.lease_s,
                                  detail={"reason": reason}) for name in names]
    for page_id in written:
        if page_id is not None:
            submit(ctx, page_id)
    return [name for name, page_id in zip(names, written) if page_id is not None]


def submit(ctx: BotContext, page_id: int) -> None:
    marker = (id(ctx.engine), page_id)
    with _in_flight_lock:
        if marker in _in_flight:
            return
        _in_flight.add(marker)

    def run() -> None:
        try:
            send(ctx, page_id)
        finally:
            with _in_flight_lock:
                _in_flight.discard(marker)

    ctx.work.submit(run, key=f"page:{page_id}")


def _event(ctx: BotContext, incident: Incident, row: outbox.Page) -> PageEvent:
    link = None
    if incident.channel and incident.thread_ts:
        try:
            link = ctx.chat.link(flows.parent(incident))
        except ChatError as exc:  # the page matters more than its link
            log.warning("no link to %s's thread for its page (%s)", incident.ref, exc.code)
    by = incident.resolved_by if row.action == "resolve" else incident.commander
    s = incident.subject
    subject = {k: v for k, v in (("cluster", s.cluster), ("group", s.group), ("topic", s.topic), ("queue", s.queue))
               if v}
    reason = str(row.detail.get("reason") or f"{incident.ref} {incident.status.value} in Slack")
    return PageEvent(action=row.action, ref=incident.ref, title=incident.title,  # type: ignore[arg-type]
                     severity=incident.severity.value, status=incident.status.value, step=row.step, reason=reason,
                     link=link, subject=subject, by=by, at=time.time())


def send(ctx: BotContext, page_id: int) -> None:
    """Claim the page, send it, record the outcome: at most one process at a time
    does this for a page, and a page recorded as done is never sent again."""
    paging, me = ctx.settings.paging, owners.this_process()
    with db.write(ctx.engine) as conn:
        if not outbox.claim(conn, page_id=page_id, owner=me, now=time.time(), ttl=paging.lease_s):
            return
        row = outbox.get(conn, page_id)
        incident = store.get(conn, pk=row.incident_id) if row else None
    if row is None or incident is None:
        return
    pager = paging.pagers.get(row.pager)
    if pager is None:
        _finish(ctx, incident, row, "failed", Attempt(False, False, None, "this pager is no longer configured"))
        return
    if row.action == "trigger" and incident.status is Status.RESOLVED:
        _finish(ctx, incident, row, "cancelled", Attempt(False, False, None, "resolved before the page went out"))
        return
    out = build(pager, _event(ctx, incident, row))
    if not out.supported:
        _finish(ctx, incident, row, "skipped", Attempt(False, False, None, f"{VENDOR_NAMES[pager.kind]} has no "
                                                                         f"{row.action} from outside"))
        return

    def still_ours(seconds: float) -> bool:
        with db.write(ctx.engine) as conn:
            return outbox.renew(conn, page_id=page_id, owner=me, now=time.time(), ttl=seconds + paging.lease_s)

    result = deliver(out, timeout=pager.timeout_s, delays=paging.retry.delays, max_wait=paging.retry.max_wait_s,
                     still_ours=still_ours)
    if result.error == "another process took the page over":
        return
    _finish(ctx, incident, row, "sent" if result.ok else "failed", result)


def _finish(ctx: BotContext, incident: Incident, row: outbox.Page, status: str, result: Attempt) -> None:
    now = time.time()
    detail = {**row.detail, "tries": result.tries, "http_status": result.status, "answer": result.answer[:500]}
    with db.write(ctx.engine) as conn:
        if not outbox.finish(conn, page_id=row.id, owner=owners.this_process(), status=status, now=now,
                             error=result.error or None, detail=detail):
            return  # taken over meanwhile: the other process records it
    name, kind = row.pager, vendor(ctx, row.pager)
    data = {"pager": name, "vendor": kind, "step": row.step, "action": row.action, "tries": result.tries,
            "by": incident.commander if row.action == "acknowledge" else incident.resolved_by}
    if status == "sent":
        text = {"trigger": f"Paged through {kind} ({name}) for the {_step_name(row.step)}",
                "acknowledge": f"Acknowledged the page in {kind} ({name})",
                "resolve": f"Resolved the page in {kind} ({name})"}[row.action]
        service.record(ctx.engine, incident, actor="bot", kind=DONE_KIND[row.action], now=now,
                       text=text + (f" after {result.tries} tries" if result.tries > 1 else ""), data=data)
        if row.action != "resolve":  # a resolved card no longer shows what is paged
            ctx.work.submit(lambda: flows.refresh_parent(ctx, incident), key=flows.key(incident))
        return
    if status in ("cancelled", "skipped"):
        service.record(ctx.engine, incident, actor="bot", kind=f"page.{status}", now=now,
                       text=f"{row.action.capitalize()} to {kind} ({name}) not sent: {result.error}", data=data)
        return
    setting = setting_to_fix(name, ctx.settings.paging.pagers[name].kind if name in ctx.settings.paging.pagers
                             else "", result.status)
    answer = f"HTTP {result.status}" if result.status else "no answer"
    line = (f"Could not {'page' if row.action == 'trigger' else row.action} through {kind} ({name}) after "
            f"{result.tries} {'try' if result.tries == 1 else 'tries'}: {answer}: {result.error}. Check `{setting}`.")
    log.warning("%s: %s", incident.ref, line)
    service.record(ctx.engine, incident, actor="bot", kind="page.failed", now=now, text=line,
                   data={**data, "error": result.error, "http_status": result.status, "setting": setting})

    def say() -> None:
        try:
            flows.post(ctx, incident, f":warning: {line}")
            flows.refresh_parent(ctx, incident)
        except ChatError as exc:  # the timeline has it
            log.warning("could not say in %s's thread that a page failed: %s", incident.ref, exc.code)

    ctx.work.submit(say, key=flows.key(incident))


def _step_name(step: str) -> str:
    if step.startswith("repage:"):
        return f"{step.removeprefix('repage:')}-minute re-page"
    manual = step.startswith("manual:")
    kind = step.removeprefix("manual:")
    return f"{kind} escalation by hand" if manual else f"{kind} step"


def follow_up(ctx: BotContext) -> int:
    """Acknowledge or resolve, at every pager that took a page, what was acknowledged
    or resolved in the bot: once per (incident, pager, action), whichever replica.
    A duty of the timer owner (every tick), so it also catches what happened while
    the bot was down. It reads only the triggers not yet settled (their incident's
    resolution not passed on), a handful however many incidents the database holds.
    Returns how many it wrote."""
    me, now = owners.this_process(), time.time()
    with ctx.engine.connect() as conn:
        triggers = outbox.unsettled(conn)
        if not triggers:
            return 0
        # Only the incidents that moved on: most paged incidents are simply still open.
        moved = {row.id: row for row in conn.execute(
            select(incidents.c.id, incidents.c.status, incidents.c.acknowledged_at).where(
                incidents.c.id.in_({t.incident_id for t in triggers})
                & (incidents.c.status != Status.OPEN.value)))}
        if not moved:
            return 0
        done = outbox.follow_ups(conn, sorted(moved))
    wanted: dict[tuple[int, str, str], bool] = {}  # (incident, pager, action) -> still to write
    for trigger in triggers:
        incident = moved.get(trigger.incident_id)
        if incident is None:
            continue
        if incident.status == Status.RESOLVED.value:
            action = "resolve"
        elif incident.acknowledged_at is not None and trigger.sent_at is not None \
                and incident.acknowledged_at >= trigger.sent_at:
            action = "acknowledge"
        else:  # acknowledged before this page went out (the lead step pages an acknowledged incident too)
            continue
        key = (incident.id, trigger.pager, action)
        wanted[key] = wanted.get(key, False) or key not in done
    if not wanted:
        return 0
    written = []
    with db.write(ctx.engine) as conn:
        for (incident_id, pager, action), missing in wanted.items():
            if missing:
                page_id = outbox.enqueue(conn, incident_id=incident_id, step=outbox.FOLLOW_UP, pager=pager,
                                         action=action, owner=me, now=now, ttl=ctx.settings.paging.lease_s)
                if page_id is not None:
                    written.append(page_id)
            if action == "resolve":  # written now or before: this pager's triggers are done with
                outbox.settle(conn, incident_id=incident_id, pager=pager)
    for page_id in written:
        submit(ctx, page_id)
    return len(written)


def sweep(ctx: BotContext) -> int:
    """Send the pages whose sender is gone (killed between the claim and the send,
    or a replica that stopped): a duty of the timer owner."""
    with ctx.engine.connect() as conn:
        found = outbox.orphans(conn, owner=owners.this_process(), now=time.time())
    for row in found:
        log.info("sending page %d (%s to %s) that its sender left", row.id, row.action, row.pager)
        submit(ctx, row.id)
    return len(found)


def duty(ctx: BotContext) -> None:
    if ctx.settings.paging.pagers:
        follow_up(ctx)
        sweep(ctx)
