"""What each rung of the ladder does in the incident's thread: evidence at every
step, and pings to the right people when the guide says so."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot.chat import ChatError
from bot.db import writable
from bot.escalation import attached, ownership
from bot.evidence import checks, lag_history
from bot.health.verdict import Level
from bot.incidents import flows, ladder, service, store
from bot.incidents.ladder import Step
from bot.incidents.model import Incident, Status
from bot.paging import pager
from bot.reports.markup import channel as channel_mention
from bot.reports.markup import escape, link, user, users
from bot.reports.report import Report
from bot.runbooks import Check
from bot.subject import pick_cluster

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
EVIDENCE_MAX_AGE = 5.0  # seconds a probe's report may be shared between incidents' steps


# Seconds before each further try of a direct message Slack could not take for now
# (after the client's own retries of 429s, 5xx and dropped connections).
DM_RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 20.0)
# Why Slack refuses a direct message for good, as the thread says it.
DM_REFUSALS = {
    "user_not_found": "this workspace has no such user",
    "user_disabled": "the account is deactivated",
    "cannot_dm_bot": "it is a bot, and bots cannot be sent direct messages",
    "channel_not_found": "Slack found no conversation with them",
    "not_allowed_token_type": "the bot's token may not send direct messages",
    "missing_scope": "the Slack app lacks the im:write scope",
}


def direct_message(ctx: BotContext, incident: Incident, people: list[str], text: str, setting: str) -> None:
    """Each DM on its own, after the thread post: one that fails never undoes the
    mention already in the thread. A refusal for good is said in the thread, naming
    `setting` (where the id is configured); a passing failure is tried again on the
    work pool, without posting anything else a second time."""
    for person in people:
        try:
            ctx.chat.direct(person, text)
        except ChatError as exc:
            if not exc.transient:
                _dm_refused(ctx, incident, person, setting, exc.code)
                continue
            log.warning("direct message to %s for %s failed (%s); trying again", person, incident.ref, exc.code)
            ctx.work.submit(lambda person=person: _retry_direct(ctx, incident, person, text, setting))


def _retry_direct(ctx: BotContext, incident: Incident, person: str, text: str, setting: str) -> None:
    code = "unknown_error"
    for delay in DM_RETRY_DELAYS:
        time.sleep(delay)
        try:
            ctx.chat.direct(person, text)
        except ChatError as exc:
            if not exc.transient:
                _dm_refused(ctx, incident, person, setting, exc.code)
                return
            code = exc.code
            log.warning("direct message to %s for %s failed again (%s)", person, incident.ref, code)
            continue
        service.record(ctx.engine, incident, actor="bot", kind="escalation.dm_retried", now=time.time(),
                       text=f"Direct message to {user(person)} sent on a later try")
        return
    _say_dm_failed(ctx, incident, person, f"Slack kept answering `{code}` after {len(DM_RETRY_DELAYS) + 1} tries",
                   code, setting)


def _dm_refused(ctx: BotContext, incident: Incident, person: str, setting: str, code: str) -> None:
    reason = DM_REFUSALS.get(code, "Slack refused it")
    _say_dm_failed(ctx, incident, person, f"{reason} (`{code}`); check `{setting}`", code, setting)


def _say_dm_failed(ctx: BotContext, incident: Incident, person: str, why: str, code: str, setting: str) -> None:
    line = f":warning: Could not send `{person}` a direct message: {why}."
    log.warning("direct message to %s for %s not sent: %s (setting %s)", person, incident.ref, code, setting)
    service.record(ctx.engine, incident, actor="bot", kind="escalation.dm_failed", now=time.time(),
                   text=line.removeprefix(":warning: "), data={"user": person, "error": code, "setting": setting})
    try:
        flows.post(ctx, incident, line)
    except ChatError as exc:  # the timeline has it; the step itself was posted
        log.warning("could not say in %s's thread that a DM failed: %s", incident.ref, exc.code)


def permalink(ctx: BotContext, incident: Incident) -> str:
    """The thread's link for a DM; the channel's name when Slack cannot give one,
    which must not fail a step whose thread post is already out."""
    incident = flows.ensure_parent(ctx, incident)
    try:
        return ctx.chat.link(flows.parent(incident))
    except ChatError as exc:
        log.warning("no link to %s's thread (%s)", incident.ref, exc.code)
        return f"the {incident.ref} thread in {channel_mention(incident.channel or '')}"


def _lag_change(ctx: BotContext, incident: Incident) -> str | None:
    """How the group's lag moved since the incident opened, from stored samples."""
    group = incident.subject.group
    if not group:
        return None
    cluster, _ = pick_cluster(incident.subject.cluster, ctx.settings.kafka)
    then = lag_history.total_at(ctx.engine, cluster, group, incident.created_at)
    now = lag_history.total_at(ctx.engine, cluster, group, time.time())
    if then is None or now is None:
        return None
    delta = now - then
    return f"Lag of `{group}` since the incident opened: {then:,} → {now:,} ({delta:+,})."


def lag_dlq(ctx: BotContext, incident: Incident, header: str) -> None:
    flows.post(ctx, incident, header)
    s = incident.subject
    wanted = [Check.KAFKA_LAG] if (s.group or s.topic or not s.queue) else []
    if s.topic or not s.queue:
        wanted.append(Check.KAFKA_DLQ)
    if s.queue:
        wanted.append(Check.RABBITMQ_QUEUE)
    for check in wanted:
        report = checks.run(ctx, check, s, max_age=EVIDENCE_MAX_AGE)
        if report is not None:
            if check is Check.KAFKA_LAG:
                change = _lag_change(ctx, incident)
                if change:
                    report.notes.insert(0, change)
            flows.post_report(ctx, incident, report, "bot", header)
    others = attached.summary(ctx, incident, EVIDENCE_MAX_AGE)  # a root cause's incident: what hangs on it
    if others:
        flows.post(ctx, incident, others)


def consumer_health(ctx: BotContext, incident: Incident, header: str) -> None:
    flows.post(ctx, incident, header)
    if incident.subject.group:
        report = checks.run(ctx, Check.KAFKA_GROUP, incident.subject, max_age=EVIDENCE_MAX_AGE)
        if report is not None:
            flows.post_report(ctx, incident, report, "bot", header)
    values = flows.placeholders(ctx, incident)
    links = [link(template.format_map(values), name) for name, template in ctx.settings.escalation.links.items()
             if all(f"{{{k}}}" not in template or k in values for k in ("group", "topic", "queue", "cluster"))]
    ask = (f"{user(incident.commander)}, what is the status? Post it here." if incident.commander
           else "Nobody has acknowledged this incident yet: who is on it? Press *Acknowledge* above.")
    flows.post(ctx, incident, (f"Logs and dashboards: {', '.join(links)}\n" if links else "") + ask)


def _broker_reports(ctx: BotContext, incident: Incident) -> list[Report]:
    found = [checks.run(ctx, Check.KAFKA_BROKERS, incident.subject, max_age=EVIDENCE_MAX_AGE),
             checks.run(ctx, Check.RABBITMQ_NODES, incident.subject, max_age=EVIDENCE_MAX_AGE)]
    return [r for r in found if r is not None]


def brokers(ctx: BotContext, incident: Incident, header: str) -> None:
    flows.post(ctx, incident, header)
    for report in _broker_reports(ctx, incident):
        flows.post_report(ctx, incident, report, "bot", header)


def _pages(ctx: BotContext, incident: Incident, step: str, reason: str, team: str | None = None) -> str:
    """Page through the configured pagers (bot.paging: written once, sent after this
    step's claim); the line the thread gets about it."""
    paged = pager.page(ctx, incident, step, reason, team)
    now = [f"{escape(pager.vendor(ctx, name))} ({escape(name)})" for name, new in paged if new]
    before = [f"{escape(pager.vendor(ctx, name))} ({escape(name)})" for name, new in paged if not new]
    return (f"\nPaging {', '.join(now)}." if now else "") + \
        (f"\nAlready paged for this step: {', '.join(before)}." if before else "")


def platform(ctx: BotContext, incident: Incident, header: str, forced: bool = False,
             page_step: str = "platform") -> None:
    reports = _broker_reports(ctx, incident)
    at_fault = [r for r in reports if r.verdict.level > Level.OK]
    e = ctx.settings.escalation
    if not at_fault and not forced:
        evidence = "; ".join(f"{r.title}: {r.verdict.headline}" for r in reports)
        flows.post(ctx, incident, f"{header}\nBrokers healthy, no platform escalation. Evidence: {escape(evidence)}")
        return
    scheduled, note = ownership.on_call(ctx, e.platform_oncall)
    people = list(dict.fromkeys([*e.platform_users, *scheduled]))
    who = users(people, e.platform_usergroup)
    why = "; ".join(f"{r.title}: {r.verdict.headline}" for r in at_fault) or "escalated by hand"
    noted = f"\n{escape(note)}" if note else ""
    # Paged first: when Slack is what fails, the pager is how anyone hears of it.
    paged = _pages(ctx, incident, page_step, f"Platform escalation: {why}")
    if not who and not paged:
        flows.post(ctx, incident, f"{header}\nThe brokers are at fault ({escape(why)}), but no platform on-call "
                                  "is configured (escalation.platform_users / platform_usergroup / platform_oncall, "
                                  f"paging.steps.platform).{noted}")
        return
    lead_in = f"{who}: platform" if who else "Platform"
    flows.post(ctx, incident, f"{header}\n{lead_in} escalation for {incident.ref}. {escape(why)}{paged}{noted}")
    for report in at_fault:
        flows.post_report(ctx, incident, report, "bot", header)
    setting = f"oncall.schedules.{e.platform_oncall}" if scheduled else "escalation.platform_users"
    direct_message(ctx, incident, people,
                   f"You are paged for {incident.ref} ({incident.severity.value}): {incident.title}. "
                   f"Brokers at fault: {why}. Thread: {permalink(ctx, incident)}", setting)


def lead(ctx: BotContext, incident: Incident, header: str, page_step: str = "lead") -> None:
    s = incident.subject
    team_name = ownership.owner(ctx.settings, s.group, s.topic, s.queue)
    team = ctx.settings.teams.get(team_name) if team_name else None
    scheduled, note = ownership.on_call(ctx, team.lead_oncall if team else None)
    noted = f"\n{escape(note)}" if note else ""
    # In the ladder's minutes, which a time scale shortens.
    age = int((time.time() - incident.created_at) * ctx.settings.escalation.time_scale // 60)
    owns = f"team {team_name} owns {s.describe()}" if team_name else f"no team owns {s.describe()}"
    paged = _pages(ctx, incident, page_step, f"{incident.ref} is still unresolved after {age} min; {owns}.",
                   team_name)
    if team is None or not (team.lead_users or team.lead_usergroup or scheduled):
        flows.post(ctx, incident, f"{header}\nNo team lead to page: {s.describe()} matches no team with a lead "
                                  f"(configure teams, ownership and default_team).{paged}{noted}")
        return
    people = list(dict.fromkeys([*team.lead_users, *scheduled]))
    who = users(people, team.lead_usergroup)
    flows.post(ctx, incident, f"{header}\n{who}: {incident.ref} is still unresolved after {age} min; "
                              f"team *{team_name}* owns {s.describe()}.{paged}{noted}")
    summary = (f"{incident.ref} ({incident.severity.value}, {incident.status.value}) is unresolved after {age} min: "
               f"{incident.title}. Subject: {s.describe()}. Commander: "
               f"{user(incident.commander) if incident.commander else 'nobody yet'}. "
               f"Thread: {permalink(ctx, incident)}")
    setting = f"oncall.schedules.{team.lead_oncall}" if scheduled else f"teams.{team_name}.lead_users"
    direct_message(ctx, incident, people, summary, setting)


KINDS: dict[str, Callable[["BotContext", Incident, str], None]] = {
    "lag_dlq": lag_dlq, "consumer_health": consumer_health, "brokers": brokers, "platform": platform, "lead": lead,
}


def dispatch(ctx: BotContext, claimed: list[Step]) -> None:
    """Post the steps the timers claimed, each on its incident's queue, so slow
    probes or a Slack 429 never hold up another incident. A resolved incident's
    step does nothing. Whatever can fail here fails before anything is queued, so
    the timer link can simply try the whole batch again."""
    if not claimed:
        return
    with ctx.engine.connect() as conn:
        found = store.get_many(conn, {step.incident_id for step in claimed})
    live = {pk: incident for pk, incident in found.items() if incident.status is not Status.RESOLVED}
    for step in claimed:
        if step.incident_id not in live:
            ladder.finish(ctx.engine, step, status="cancelled", now=time.time(), late_by=step.late_by)
    for step in claimed:
        incident = live.get(step.incident_id)
        if incident is not None:
            ctx.work.submit(lambda incident=incident, step=step: _post(ctx, incident, step, step.late_by or 0.0),
                            key=flows.key(incident), lane="evidence")


# Seconds a step being posted waits for a database that went away (a restart)
# before giving up; it stays claimed then, and a later timer owner makes it pending.
OUTAGE_WAIT = 300.0


@dataclass
class _Progress:
    """How far a step got, kept across the tries of a database outage."""
    fresh: Incident | None = None
    note: str = ""
    out: bool = False  # its thread posts are out: never posted again
    repaged: bool = False
    finished: bool = False
    refused: str | None = None  # Slack's error: the step is recorded failed, nothing else


def _post(ctx: BotContext, incident: Incident, step: Step, late: float) -> None:
    """Post a claimed step once. The database going away meanwhile (restarting) is
    waited for, one line in the log: the parts not done yet are done when it answers,
    and what Slack already has is not posted again. Without that the step stayed
    `firing` under a live owner, never finished, or (retried whole) posted twice."""
    progress, deadline, said = _Progress(), time.time() + OUTAGE_WAIT, False
    while True:
        try:
            if said and step.claimed_by and not ladder.still_claimed(ctx.engine, step):
                log.warning("%g-minute step of %s was taken over by another timer owner during the outage; "
                            "left to it", step.minute, incident.ref)
                return
            _post_once(ctx, incident, step, late, progress)
            return
        except SQLAlchemyError as exc:
            if not writable.unreachable(exc) or time.time() > deadline:
                raise
            if not said:
                log.warning("%g-minute step of %s waits for the database (unreachable)%s", step.minute,
                            incident.ref, "; its post is out" if progress.out else "")
                said = True
            time.sleep(1.0)


def _post_once(ctx: BotContext, incident: Incident, step: Step, late: float, progress: _Progress) -> None:
    if progress.refused is not None and progress.fresh is not None:
        _not_posted(ctx, progress.fresh, step, late, progress.refused)
        return
    if not progress.out:
        with ctx.engine.connect() as conn:
            fresh = store.get(conn, pk=incident.id)
        if fresh is None or fresh.status is Status.RESOLVED:
            ladder.finish(ctx.engine, step, status="cancelled", now=time.time(), late_by=late)
            return
        late_note = ctx.settings.escalation.late_note_seconds
        progress.fresh, progress.note = fresh, f" (late by {late:.0f} s: the bot was down)" if late > late_note else ""
        header = f":alarm_clock: *{step.minute:g}-minute step*: {step.label}{progress.note}."
        before = flows.posts_here()
        try:
            KINDS[step.kind](ctx, fresh, header)
        except ChatError as exc:  # a thread post, after the client's own retries (429, 5xx, network)
            progress.refused = exc.code
            _not_posted(ctx, fresh, step, late, exc.code)
            return
        finally:
            # Failed after its header was out (the database went away): the rest is bookkeeping.
            progress.out = progress.out or flows.posts_here() > before
        progress.out = True
    fresh, note = progress.fresh, progress.note
    assert fresh is not None
    if not progress.repaged:
        again = pager.repage(ctx, fresh, step.kind, step.minute)
        progress.repaged = True
        if again:
            try:
                flows.post(ctx, fresh, "Nobody has acknowledged yet: paging again "
                                       + ", ".join(f"{escape(pager.vendor(ctx, n))} ({escape(n)})" for n in again)
                                       + ".")
            except ChatError as exc:
                progress.refused = exc.code
                _not_posted(ctx, fresh, step, late, exc.code)
                return
    if not progress.finished:
        ladder.finish(ctx.engine, step, status="fired", now=time.time(), late_by=late)
        service.record(ctx.engine, fresh, actor="bot", kind=f"escalation.{step.kind}", now=time.time(),
                       text=f"{step.minute:g}-minute step: {step.label}{note}", data={"late_by": round(late, 3)})
        progress.finished = True
    flows.refresh_parent(ctx, fresh)


def _not_posted(ctx: BotContext, fresh: Incident, step: Step, late: float, error: str) -> None:
    log.warning("%g-minute step of %s not posted: %s; retried at the next start", step.minute, fresh.ref, error)
    ladder.finish(ctx.engine, step, status="failed", now=time.time(), late_by=late, error=error)
    service.record(ctx.engine, fresh, actor="bot", kind="escalation.failed", now=time.time(),
                   text=f"{step.minute:g}-minute step ({step.label}) could not be posted: {error}; "
                        "it is retried at the next start")


def escalate_now(ctx: BotContext, incident: Incident, kind: str, actor: str) -> None:
    header = f":rotating_light: Escalated by {user(actor)}: {ladder.LABELS[kind]}."
    if kind == "platform":
        platform(ctx, incident, header, forced=True, page_step="manual:platform")
    elif kind == "lead":
        lead(ctx, incident, header, page_step="manual:lead")
    else:
        KINDS[kind](ctx, incident, header)
    service.record(ctx.engine, incident, actor=actor, kind=f"escalation.manual.{kind}", now=time.time(),
                   text=f"Escalated by hand: {ladder.LABELS[kind]}")
