"""`/incident`: open, acknowledge, resolve and follow incidents. Inside an incident's
thread (or its dedicated channel) the commands act on that incident; elsewhere
they take its id."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from bot.chat import Attachment
from bot.escalation import steps as escalation_steps
from bot.incidents import flows, ladder, postmortem, service
from bot.incidents.model import Incident, Severity, Subject
from bot.incidents.text import clock, headline, incident_line, timeline_lines
from bot.incidents.views import IncidentList
from bot.reports.markup import escape, link
from bot.reports.report import Page
from commands import args, incident_regroup, incident_roles
from commands import help as help_command
from commands.base import CommandSpec, Deferred, Invocation, Outcome, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

REF = re.compile(r"^INC-\d{4}-\d{2,}$", re.IGNORECASE)
OPEN_USAGE = ("/incident open <title> [--severity critical|warning|info] [--runbook ID] [--group G] [--topic T] "
              "[--queue Q] [--cluster C]")
USAGE = [OPEN_USAGE, "/incident ack [id]", "/incident resolve [id] [note]", "/incident status [id]",
         "/incident list", "/incident timeline [id]", "/incident ladder [id]", "/incident escalate [id] platform|lead",
         "/incident postmortem [id]", incident_roles.ROLE_USAGE, incident_roles.UPDATE_USAGE,
         incident_regroup.SPLIT_USAGE, incident_regroup.MERGE_USAGE, "/incident help"]


class OpenArgs(BaseModel):
    title: str = Field(min_length=3, max_length=300)
    severity: Severity = Severity.WARNING
    runbook: str | None = None
    group: str | None = None
    topic: str | None = None
    queue: str | None = None
    cluster: str | None = None


def find(inv: Invocation, ctx: BotContext, words: list[str]) -> tuple[Incident, list[str]]:
    """The incident meant: a leading id, else the thread or channel the command came from."""
    if words and REF.match(words[0]):
        found = service.get(ctx.engine, words[0])
        if found is None:
            raise UsageError(f"There is no incident {words[0].upper()}. `/incident list` shows the open ones.")
        return found, words[1:]
    found = service.in_thread(ctx.engine, inv.channel_id, inv.thread_ts)
    if found is not None:
        return found, words
    open_refs = [i.ref for i in service.list_open(ctx.engine)[:5]]
    hint = f" Open now: {', '.join(open_refs)}." if open_refs else " No incident is open."
    raise UsageError(f"Which incident? Run this in its thread, or name it: `/incident {inv.args[0]} INC-…`.{hint}")


def _open(inv: Invocation, ctx: BotContext, text: str) -> Outcome:
    a = args.parse(text, OpenArgs, positional=[], rest="title", usage=OPEN_USAGE)
    if a.runbook and a.runbook not in ctx.runbooks:
        raise args.not_found("runbook", a.runbook, ctx.runbooks)
    if a.cluster and a.cluster not in ctx.settings.kafka and a.cluster not in ctx.settings.rabbitmq:
        raise UsageError(f"No cluster named `{a.cluster}`. Configured: {', '.join(ctx.settings.kafka)}.")
    runbook_id = a.runbook or ("high-consumer-lag" if a.group else "dlq-filling" if a.queue else "generic-triage")
    subject = Subject(cluster=a.cluster, group=a.group, topic=a.topic, queue=a.queue)
    incident = service.open_manual(ctx.engine, title=a.title, severity=a.severity, runbook=ctx.runbooks[runbook_id],
                                   subject=subject, actor=inv.user_id, now=time.time(), settings=ctx.settings)
    if ctx.escalator is not None:
        ctx.escalator.notify()

    def announce() -> Reply:
        fresh = flows.announce(ctx, incident)
        if fresh is None:  # announced by another path meanwhile (its claim ran out)
            fresh = flows.ensure_parent(ctx, incident)
        elif any((a.group, a.topic, a.queue)):
            flows.run_first_checks(ctx, fresh)
        url = ctx.chat.link(flows.parent(fresh))
        return Reply(text=f"{fresh.ref} is open: {link(url, 'follow it in its thread')}.")

    return Deferred(run=announce, ack=Reply(text=f"Opening {incident.ref} ({a.severity.value}): {a.title}"))


def _change(inv: Invocation, ctx: BotContext, words: list[str], resolve: bool) -> Outcome:
    incident, rest = find(inv, ctx, words)
    now = time.time()
    if resolve:
        change = service.resolve(ctx.engine, incident, actor=inv.user_id, now=now, note=" ".join(rest) or None)
    else:
        change = service.acknowledge(ctx.engine, incident, actor=inv.user_id, now=now)
    if not change.changed:
        return Reply(text=change.message)
    return Deferred(run=lambda: flows.announce_change(ctx, change.incident, change.message),
                    ack=Reply(text=change.message))


def _status(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    incident, _ = find(inv, ctx, words)
    card = dataclasses.replace(flows.card(ctx, incident), buttons=False)
    return Reply(text=headline(incident), content=card)


def _list(ctx: BotContext) -> Reply:
    now = time.time()
    open_now = service.list_open(ctx.engine)
    if not open_now:
        return Reply(text="No incident is open.")
    shown = IncidentList([(i, flows.next_step(ctx, i)) for i in open_now], now)
    return Reply(text="\n".join(incident_line(i, now, step) for i, step in shown.incidents), content=shown)


def _timeline(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    incident, _ = find(inv, ctx, words)
    body = "\n".join(timeline_lines(service.timeline(ctx.engine, incident)))
    return Reply(text=f"Timeline of {incident.ref}\n{body}",
                 content=Page(title=f"Timeline of {incident.ref}", body=escape(body),
                              text=f"Timeline of {incident.ref}\n{body}"))


def _escalate(inv: Invocation, ctx: BotContext, words: list[str]) -> Outcome:
    incident, rest = find(inv, ctx, words)
    kind = (rest[0].lower() if rest else "platform")
    if kind not in ("platform", "lead") or len(rest) > 1:
        raise UsageError("Escalate to whom? `/incident escalate platform` or `/incident escalate lead`.")
    if not incident.is_open:
        return Reply(text=f"{incident.ref} is resolved; there is nobody to escalate to.")

    def work() -> None:
        ctx.work.submit(lambda: escalation_steps.escalate_now(ctx, incident, kind, inv.user_id),
                        key=flows.key(incident))

    return Deferred(run=lambda: work(), ack=Reply(text=f"Escalating {incident.ref} to the "
                                                       f"{'platform on-call' if kind == 'platform' else 'team lead'}…"))


def _ladder(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    incident, _ = find(inv, ctx, words)
    with ctx.engine.connect() as conn:
        found = ladder.steps(conn, incident.id)
    if not found:
        return Reply(text=f"{incident.ref} has no escalation ladder.")
    marks = {"pending": ":hourglass:", "firing": ":arrows_counterclockwise:", "fired": ":white_check_mark:",
             "cancelled": ":heavy_minus_sign:", "failed": ":x:"}
    lines = []
    for s in found:
        state = s.status
        if s.status == "fired" and s.late_by is not None and s.late_by > ctx.settings.escalation.late_note_seconds:
            state += f", late by {s.late_by:.0f} s"
        lines.append(f"{marks.get(s.status, '')} *{s.minute:g} min* {s.label}: due {clock(s.due_at)}, {state}")
    scale = ctx.settings.escalation.time_scale
    note = f" (time scale {scale:g}: a minute lasts {60 / scale:g} s)" if scale != 1 else ""
    return Reply(text="\n".join(lines), content=Page(title=f"Escalation ladder of {incident.ref}",
                                                      body="\n".join(lines), text="\n".join(lines),
                                                      footer=f"Only resolution stops the ladder{note}."))


def _postmortem(inv: Invocation, ctx: BotContext, words: list[str]) -> Outcome:
    incident, _ = find(inv, ctx, words)

    def upload() -> Reply:
        with ctx.engine.connect() as conn:
            markdown = postmortem.render(conn, incident, flows.runbook(ctx, incident))
        fresh = flows.ensure_parent(ctx, incident)
        ctx.chat.upload(flows.parent(fresh).thread(), Attachment(
            filename=f"{incident.ref}-postmortem.md", content=markdown, title=f"{incident.ref} postmortem draft",
            comment=f"Postmortem draft for {incident.ref}, from the recorded timeline."))
        return Reply(text=f"The postmortem draft of {incident.ref} is in its thread.")

    return Deferred(run=upload, ack=Reply(text=f"Writing the postmortem draft of {incident.ref}…"))


def _merge_pair(inv: Invocation, ctx: BotContext, words: list[str]) -> tuple[Incident, str]:
    """The incident to fold in (the thread's, or the first of two ids) and the id to fold it into."""
    if len(words) == 2 and all(REF.match(w) for w in words):
        source, rest = find(inv, ctx, words)
        return source, rest[0]
    if len(words) != 1 or not REF.match(words[0]):
        raise UsageError(f"Merge into which incident? `{incident_regroup.MERGE_USAGE}`.")
    source = service.in_thread(ctx.engine, inv.channel_id, inv.thread_ts)
    if source is None:
        raise UsageError(f"Run `/incident merge {words[0].upper()}` in the thread of the incident to fold into it, "
                         f"or name both: `/incident merge INC-from {words[0].upper()}`.")
    return source, words[0]


def handle(inv: Invocation, ctx: BotContext) -> Outcome:
    sub, _, text = inv.text.strip().partition(" ")
    sub = sub.lower() or "help"
    words = args.split(text)
    if sub == "help":
        return help_command.render("incident", ctx.settings.slack.umbrella_command)
    if sub == "open":
        return _open(inv, ctx, text)
    if sub in ("ack", "acknowledge"):
        return _change(inv, ctx, words, resolve=False)
    if sub == "resolve":
        return _change(inv, ctx, words, resolve=True)
    if sub == "status":
        return _status(inv, ctx, words)
    if sub == "list":
        return _list(ctx)
    if sub == "timeline":
        return _timeline(inv, ctx, words)
    if sub == "postmortem":
        return _postmortem(inv, ctx, words)
    if sub == "escalate":
        return _escalate(inv, ctx, words)
    if sub == "ladder":
        return _ladder(inv, ctx, words)
    if sub == "split":
        return incident_regroup.split(inv, ctx, *find(inv, ctx, words))
    if sub == "merge":
        return incident_regroup.merge(inv, ctx, *_merge_pair(inv, ctx, words))
    if sub == "role":
        incident, rest = find(inv, ctx, words)
        return incident_roles.role(inv, ctx, incident, rest)
    if sub == "update":
        first, _, body = text.strip().partition(" ")
        incident, rest = find(inv, ctx, [first] if first else [])
        return incident_roles.update(inv, ctx, incident, body if not rest else text)
    raise UsageError(f"`/incident {sub}` is not a subcommand I know. Try `/incident help`.")


SPEC = CommandSpec(name="incident", summary="open, acknowledge, resolve and follow incidents", usage=USAGE,
                   handle=handle)
