"""What people see of an incident in the chat, kept in step with the database: its
card in the incidents channel (edited in place, never reposted), everything else
in its thread. All of it runs on the work pool after the chat or the alert
sender had its answer, serialised per incident so replies follow their parent."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import TYPE_CHECKING

from bot import db
from bot.alerts import routing
from bot.alerts.models import AlertBatch
from bot.chat import ChatError, Content, Place, Posted
from bot.db import owners
from bot.evidence import checks
from bot.incidents import claims, ingest, ladder, linking, service, store
from bot.incidents.ingest import Outcome
from bot.incidents.model import Incident, Status
from bot.incidents.text import clock
from bot.incidents.views import Checklist, IncidentCard, paged_from
from bot.reports.markup import channel as channel_mention
from bot.reports.markup import escape
from bot.reports.report import Report, to_text
from bot.runbooks import Check, Runbook
from bot.subject import pick_cluster

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)


def key(incident: Incident) -> str:
    return f"incident:{incident.id}"


def runbook(ctx: BotContext, incident: Incident) -> Runbook:
    return ctx.runbooks.get(incident.runbook_id) or ctx.runbooks["generic-triage"]


def reload(ctx: BotContext, incident: Incident) -> Incident:
    with ctx.engine.connect() as conn:
        fresh = store.get(conn, pk=incident.id)
    assert fresh is not None
    return fresh


def next_step(ctx: BotContext, incident: Incident) -> str | None:
    """The next escalation step, for the parent message and the App Home tab."""
    if not incident.is_open:
        return None
    step = ladder.next_pending(ctx.engine, incident.id)
    if step is None:
        return None
    return f"{step.minute:g}-minute step, {step.label}, at {clock(step.due_at)}"


# ---------------------------------------------------------------- the parent and the thread

def card(ctx: BotContext, incident: Incident) -> IncidentCard:
    with ctx.engine.connect() as conn:
        paged = paged_from(store.timeline(conn, incident_id=incident.id, kinds="page."))
        affected = tuple(linking.affected_in(conn, incident))
    return IncidentCard(incident, runbook(ctx, incident), next_step(ctx, incident), paged=paged, affected=affected)


def parent(incident: Incident) -> Posted:
    assert incident.channel and incident.thread_ts, "the incident has no parent message yet"
    return Posted(incident.channel, incident.thread_ts)


def ensure_parent(ctx: BotContext, incident: Incident) -> Incident:
    """Post the parent message once; later calls return the incident as it is."""
    if incident.thread_ts:
        return incident
    incident = reload(ctx, incident)  # the one in hand may be older than the post of another path
    if incident.thread_ts:
        return incident
    posted = ctx.chat.post(Place(ctx.settings.slack.incidents_channel), card(ctx, incident))
    with db.write(ctx.engine) as conn:
        claimed = store.claim_thread(conn, incident_id=incident.id, channel=posted.channel, thread_ts=posted.ts)
    if not claimed:  # another replica posted first: keep theirs, remove ours
        ctx.chat.delete(posted)
    return reload(ctx, incident)


# Errors of an edit that mean the message is gone (deleted by a person, or a chat
# that forgot it): the bot posts it again rather than failing on every update.
PARENT_GONE = {"message_not_found", "channel_not_found"}
CHECKLIST_GONE = {"message_not_found"}


def refresh_parent(ctx: BotContext, incident: Incident) -> None:
    incident = reload(ctx, incident)
    if not incident.thread_ts or not incident.channel:
        return
    try:
        ctx.chat.update(parent(incident), card(ctx, incident))
    except ChatError as exc:
        if exc.code not in PARENT_GONE:
            raise
        repost_parent(ctx, incident, exc.code)


def repost_parent(ctx: BotContext, incident: Incident, why: str) -> Incident:
    """Post the card again in the incidents channel. Its ts is the thread's, so the
    incident moves to a new thread, which says so; the old replies stay where they were."""
    log.warning("%s: its message is gone (%s); posting it again", incident.ref, why)
    old = parent(incident)
    posted = ctx.chat.post(Place(ctx.settings.slack.incidents_channel), card(ctx, incident))
    now = time.time()
    with db.write(ctx.engine) as conn:
        store.set_fields(conn, incident_id=incident.id, now=now, channel=posted.channel, thread_ts=posted.ts,
                         checklist_ts=None)
        store.add_event(conn, incident_id=incident.id, actor="bot", kind="parent.reposted", now=now,
                        text=f"The incident's message was gone ({why}); posted again, with a new thread",
                        data={"old_channel": old.channel, "old_ts": old.ts, "channel": posted.channel,
                              "ts": posted.ts})
    ctx.chat.post(posted.thread(), f"{incident.ref}'s message was gone from the channel (`{why}`), so it was "
                                   "posted again and this is its thread now; earlier replies stay under the old "
                                   "message, and `/incident timeline` has the whole story.")
    fresh = reload(ctx, incident)
    post_checklist(ctx, fresh)  # its buttons belong with the incident's new thread
    return fresh


_posted = threading.local()


def posts_here() -> int:
    """How many thread replies this thread has posted (post): a caller whose work
    failed half-way can tell whether Slack already has something of it."""
    return int(getattr(_posted, "count", 0))


def post(ctx: BotContext, incident: Incident, content: Content) -> str:
    """A reply in the incident's thread (and the parent first, if it is missing)."""
    incident = ensure_parent(ctx, incident)
    ts = ctx.chat.post(parent(incident).thread(), content).ts
    _posted.count = posts_here() + 1
    return ts


def post_report(ctx: BotContext, incident: Incident, report: Report, actor: str, step: str) -> None:
    post(ctx, incident, report)
    service.record(ctx.engine, incident, actor=actor, kind="check", now=time.time(),
                   text=f"{step}: {report.verdict.headline}", data={"report": to_text(report)})


# ---------------------------------------------------------------- the runbook checklist

def placeholders(ctx: BotContext, incident: Incident) -> dict[str, str]:
    """What a runbook's command lines may mention, filled from the incident."""
    s = incident.subject
    cluster, _ = pick_cluster(s.cluster, ctx.settings.kafka)
    values = {"bootstrap": ctx.settings.kafka[cluster].bootstrap_servers, "cluster": cluster,
              "group": s.group, "topic": s.topic, "queue": s.queue, "dlq": s.queue or (f"{s.topic}.dlq" if s.topic else None),
              "app": incident.labels.get("app") or incident.labels.get("job")}
    if ctx.settings.schema_registry:
        values["schema_registry"] = next(iter(ctx.settings.schema_registry.values())).url
    return {k: v for k, v in values.items() if v}


def checklist(ctx: BotContext, incident: Incident) -> Checklist:
    with ctx.engine.connect() as conn:
        done = store.steps_done(conn, incident_id=incident.id)
    return Checklist(incident, runbook(ctx, incident), done, placeholders(ctx, incident))


def post_checklist(ctx: BotContext, incident: Incident) -> None:
    ts = post(ctx, incident, checklist(ctx, incident))
    with db.write(ctx.engine) as conn:
        store.set_fields(conn, incident_id=incident.id, now=time.time(), checklist_ts=ts)


def refresh_checklist(ctx: BotContext, incident: Incident) -> None:
    incident = reload(ctx, incident)
    if not incident.checklist_ts or not incident.channel:
        return
    try:
        ctx.chat.update(Posted(incident.channel, incident.checklist_ts), checklist(ctx, incident))
    except ChatError as exc:
        if exc.code not in CHECKLIST_GONE:
            raise
        log.warning("%s: its checklist is gone (%s); posting it again", incident.ref, exc.code)
        post_checklist(ctx, incident)
        service.record(ctx.engine, incident, actor="bot", kind="checklist.reposted", now=time.time(),
                       text=f"The checklist was gone ({exc.code}); posted again in the thread")


def run_step(ctx: BotContext, incident: Incident, step_id: str, actor: str) -> None:
    rb = runbook(ctx, incident)
    step = next((s for s in rb.diagnosis if s.id == step_id), None)
    if step is None or step.check is Check.MANUAL:
        return
    report = checks.run(ctx, step.check, incident.subject)
    if report is not None:
        post_report(ctx, incident, report, actor, step.title)
    with db.write(ctx.engine) as conn:
        store.mark_step_done(conn, incident_id=incident.id, step_id=step.id, actor=actor, now=time.time())
    refresh_checklist(ctx, incident)


def run_first_checks(ctx: BotContext, incident: Incident, actor: str = "bot") -> None:
    """Evidence first: each distinct automated check of the diagnosis, in order."""
    seen: set[Check] = set()
    for step in (s for s in runbook(ctx, incident).diagnosis if s.fits(incident.subject.broker)):
        if step.check is Check.MANUAL or step.check in seen:
            continue
        if len(seen) >= ctx.settings.incidents.first_checks:
            break
        seen.add(step.check)
        run_step(ctx, incident, step.id, actor)


def mark_done(ctx: BotContext, incident: Incident, step_id: str, actor: str) -> bool:
    rb = runbook(ctx, incident)
    step = next((s for s in rb.diagnosis if s.id == step_id), None)
    if step is None:
        return False
    now = time.time()
    with db.write(ctx.engine) as conn:
        first = store.mark_step_done(conn, incident_id=incident.id, step_id=step_id, actor=actor, now=now)
        if first:
            store.add_event(conn, incident_id=incident.id, actor=actor, kind="step.done", now=now,
                            text=f"Done: {step.title}")
    if first:
        refresh_checklist(ctx, incident)
    return first


# ---------------------------------------------------------------- whole flows

def dedicated_channel(ctx: BotContext, incident: Incident) -> None:
    if incident.severity.value not in ctx.settings.incidents.dedicated_channel_severities or incident.dedicated_channel:
        return
    slug = re.sub(r"[^a-z0-9]+", "-", incident.title.lower()).strip("-")
    name = f"inc-{incident.ref.lower()}-{slug}"[:80].rstrip("-")
    invite = ctx.settings.incidents.oncall_users
    try:
        channel = ctx.chat.open_room(name, invite)
    except ChatError as exc:
        if exc.code != "name_taken":
            raise
        channel = ctx.chat.open_room(f"{name[:73]}-{int(time.time()) % 100000}", invite)
    with db.write(ctx.engine) as conn:
        store.set_fields(conn, incident_id=incident.id, now=time.time(), dedicated_channel=channel)
        store.add_event(conn, incident_id=incident.id, actor="bot", kind="channel",
                        text=f"Created {channel_mention(channel)}")
    ctx.chat.post(Place(channel), f"{incident.ref}: {escape(incident.title)}. The incident thread is in "
                                  f"{ctx.settings.slack.incidents_channel}.")
    refresh_parent(ctx, incident)


def wants_first_checks(incident: Incident) -> bool:
    """An alert's incident gets its first checks with its announcement; one opened by
    hand, when it names something to check."""
    s = incident.subject
    return incident.source != "slack" or any((s.group, s.topic, s.queue))


def announce(ctx: BotContext, incident: Incident, *, checks: bool = False) -> Incident | None:
    """The parent message, the dedicated channel if any, the checklist (and, for an
    unrecognised alert, the triage note), then the first checks if `checks`: once,
    by whichever path and replica wins the claim (bot.incidents.claims). Returns the
    incident as stored now, or None when another holds the claim or it was done."""
    me, claimed = owners.this_process(), time.time()
    with db.write(ctx.engine) as conn:
        if not claims.claim(conn, incident_id=incident.id, owner=me, now=claimed):
            return None
    try:
        return _announce(ctx, incident, me, claimed, checks)
    except ChatError:
        # What was posted is recorded on the row; the sweep takes the rest up again soon.
        with db.write(ctx.engine) as conn:
            claims.retry_soon(conn, incident_id=incident.id, owner=me, now=time.time())
        raise


def _announce(ctx: BotContext, incident: Incident, me: str, claimed: float, checks: bool) -> Incident | None:
    incident = ensure_parent(ctx, incident)  # it reads the row first: another may have posted it
    dedicated_channel(ctx, incident)
    incident = reload(ctx, incident)
    if not incident.checklist_ts:  # else a replica that died after the checklist left the rest
        if time.time() - claimed > claims.TTL / 2:  # a slow chat: keep the claim, if still ours
            with db.write(ctx.engine) as conn:
                if not claims.renew(conn, incident_id=incident.id, owner=me, now=time.time()):
                    return None  # taken over meanwhile: the new owner posts it
        post_checklist(ctx, incident)
        if incident.runbook_id == "generic-triage":
            post(ctx, incident, routing.triage_note(incident.labels))
    with db.write(ctx.engine) as conn:
        finished = claims.finish(conn, incident_id=incident.id, owner=me, now=time.time())
    if finished and checks:
        # Announcements go out one at a time (an alert storm must not crowd out the
        # webhook, and Slack takes about a message a second per channel anyway); the
        # first checks wait on brokers, not on the interpreter, so they run beside them.
        ctx.work.submit(lambda: run_first_checks(ctx, incident), key=f"{key(incident)}:checks")
    return reload(ctx, incident)


def take_alerts(ctx: BotContext, batch: AlertBatch) -> Outcome:
    """Store a batch of alerts (SQLAlchemyError when the database cannot take it)
    and queue what the chat hears of it, so the sender has its answer at once."""
    outcome = ingest.receive(ctx.engine, ctx.settings, ctx.runbooks, batch, time.time(), ctx.caches.alert_groups)
    incident = outcome.incident
    if outcome.created and ctx.escalator is not None:
        ctx.escalator.notify()  # the ladder's rows are stored; their timers need not delay the answer
    if incident is not None and not outcome.duplicate:
        ctx.work.submit(lambda: after_alert(ctx, outcome), key=key(incident), lane="alerts")
    return outcome


def after_alert(ctx: BotContext, outcome: Outcome) -> None:
    incident = outcome.incident
    if incident is None or outcome.duplicate:
        return
    if outcome.created:
        announce(ctx, incident, checks=True)  # unless the sweep or another replica got there first
        return
    def names(alerts: list) -> str:  # type: ignore[type-arg]
        return ", ".join(escape(n) for n in sorted({a.name for a in alerts}))

    lines = [outcome.joined] if outcome.joined else []
    if outcome.attached:  # they are the alerts of the subjects attached: one line each says so
        lines.extend(outcome.attached)
    elif outcome.new_alerts or outcome.refired:
        lines.append(f":rotating_light: Firing: {names(outcome.new_alerts + outcome.refired)} "
                     f"({len(outcome.new_alerts)} new, {len(outcome.refired)} again).")
    if outcome.severity_raised:
        lines.append(f"Severity raised to *{incident.severity.value}*.")
    if outcome.resolved:
        lines.append(f":white_check_mark: Resolved: {names(outcome.resolved)}.")
    if lines:
        post(ctx, incident, "\n".join(lines))
    if outcome.all_resolved and incident.status is not Status.RESOLVED:
        if ctx.settings.alerts.auto_resolve:
            change = service.resolve(ctx.engine, incident, actor=incident.source, now=time.time(),
                                     note="every alert resolved (auto-resolve)")
            post(ctx, incident, change.message)
        else:
            post(ctx, incident, "Every alert of this incident is resolved. If the problem is gone, press *Resolve* "
                                "on the message above (or `/incident resolve`).")
    if outcome.severity_raised or outcome.all_resolved or outcome.resolved or outcome.attached:
        refresh_parent(ctx, incident)


def announce_change(ctx: BotContext, incident: Incident, message: str) -> None:
    """After acknowledge or resolve: say so in the thread, edit the parent and the
    checklist (their buttons change); queued behind the incident's other work."""
    def work() -> None:
        post(ctx, incident, message)
        refresh_parent(ctx, incident)
        refresh_checklist(ctx, incident)
        if incident.status is Status.RESOLVED and ctx.escalator is not None:
            ctx.escalator.forget(incident.id)

    ctx.work.submit(work, key=key(incident))


def sweep(ctx: BotContext) -> int:
    """Claim the incidents nobody is announcing (stored while the chat was down, or
    by a replica that died or was killed before announcing them) and queue their
    announcements, in the order they came; at start and then as a duty of the timer
    owner (bot.app.duties). Returns how many were taken."""
    me = owners.this_process()
    now = time.time()
    with ctx.engine.connect() as conn:
        waiting = claims.waiting(conn, owner=me, now=now)
    taken = []
    for incident in waiting:
        with db.write(ctx.engine) as conn:
            if claims.claim(conn, incident_id=incident.id, owner=me, now=now):
                taken.append(incident)
    if taken:
        log.info("announcing %d incident(s) nobody was announcing: %s", len(taken), ", ".join(i.ref for i in taken))
    for incident in taken:
        ctx.work.submit(lambda i=incident: announce(ctx, i, checks=wants_first_checks(i)), key=key(incident),
                        lane="alerts")
    return len(taken)
