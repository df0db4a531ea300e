"""Incidents as Slack messages: the thread's parent, the runbook checklist, the
timeline and the list of open incidents."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from bot.incidents.model import REPEATS, Event, Incident, Status, collapsed
from bot.reports.lag import duration
from bot.runbooks import Check, Runbook
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.ids import Action, step_action, step_value
from bot.text import plural

SEVERITY_MARK = {"critical": ":red_circle:", "warning": ":large_yellow_circle:", "info": ":large_blue_circle:"}
STATUS_MARK = {"open": ":rotating_light: Open", "acknowledged": ":eyes: Acknowledged",
               "resolved": ":white_check_mark: Resolved"}


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def _button(text: str, action: Action | str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": str(action),
                     "value": value}
    if style:
        button["style"] = style
    return button


def parent_text(i: Incident) -> str:
    return f"[{i.severity.value.upper()}] {i.ref}: {i.title} ({i.status.value})"


def parent(i: Incident, runbook: Runbook, next_step: str | None = None, now: float | None = None) -> list[Block]:
    now = now or time.time()
    status = STATUS_MARK[i.status.value]
    if i.status is Status.OPEN and i.alerts_resolved:
        status += " (alerts resolved: confirm with Resolve)"
    fields = [
        f"*Status*\n{status}",
        f"*Severity*\n{SEVERITY_MARK[i.severity.value]} {i.severity.value}",
        f"*Subject*\n{i.subject.describe()}",
        f"*Runbook*\n{blocks.escape(runbook.title)}",
        f"*Commander*\n{'<@' + i.commander + '>' if i.commander else 'nobody yet'}",
        f"*Opened*\n{clock(i.created_at)} ({duration(now - i.created_at)} ago)",
    ]
    out: list[Block] = [
        blocks.header(f"{i.ref} · {i.title}"),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    extra = []
    if i.dedicated_channel:
        extra.append(f"Discussion in <#{i.dedicated_channel}>")
    if next_step and i.is_open:
        extra.append(f"Next: {next_step}")
    if i.status is Status.RESOLVED and i.resolved_at:
        extra.append(f"Resolved by <@{i.resolved_by}> at {clock(i.resolved_at)} after "
                     f"{duration(i.resolved_at - i.created_at)}")
    if extra:
        out.append(blocks.context(*extra))
    if i.is_open:
        buttons = []
        if i.status is Status.OPEN:
            buttons.append(_button("Acknowledge", Action.ACKNOWLEDGE, i.ref, "primary"))
        buttons += [_button("Run checks", Action.RUN_CHECKS, i.ref), _button("Resolve", Action.RESOLVE, i.ref, "danger")]
        out.append({"type": "actions", "block_id": f"incident-{i.ref}", "elements": buttons})
    return out


def checklist_text(runbook: Runbook) -> str:
    return f"Runbook: {runbook.title} ({plural(len(runbook.diagnosis), 'diagnosis step')})"


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:  # a placeholder the incident cannot fill stays visible
        return "{" + key + "}"


def who(actor: str) -> str:
    return f"<@{actor}>" if actor[:1] in ("U", "W") else actor


def checklist(i: Incident, runbook: Runbook, done: dict[str, tuple[str, float]],
              values: dict[str, str] | None = None) -> list[Block]:
    out: list[Block] = [blocks.header(f"Runbook: {runbook.title}"), blocks.section(blocks.escape(runbook.summary))]
    for n, step in enumerate(runbook.diagnosis, start=1):
        mark = ":white_check_mark:" if step.id in done else ":white_large_square:"
        text = f"{mark} *{n}. {blocks.escape(step.title)}*"
        if step.detail:
            text += f"\n{blocks.escape(step.detail)}"
        for broker, line in step.commands_for(i.subject.broker):
            # Named only when the subject does not say which broker it is on.
            label = f"{broker.label}: " if broker is not None and i.subject.broker is None else ""
            text += f"\n{label}`{blocks.escape(line.format_map(_Keep(values or {})))}`"
        section = blocks.section(text)
        section["block_id"] = f"step-{step.id}"
        if step.id in done:
            by, at = done[step.id]
            verb = "done" if step.check is Check.MANUAL else "first run"
            text += f"\n_{verb} by {who(by)} at {clock(at)}_"
            section["text"]["text"] = blocks.clip(text, blocks.SECTION_LIMIT)
        if i.is_open:
            if step.check is Check.MANUAL:
                if step.id not in done:
                    section["accessory"] = _button("Done", step_action(Action.STEP_DONE, step.id),
                                                   step_value(i.ref, step.id))
            else:
                section["accessory"] = _button("Run", step_action(Action.RUN_STEP, step.id),
                                               step_value(i.ref, step.id), "primary")
        out.append(section)
    if runbook.remediation:
        lines = [f"• *If {blocks.escape(r.when)}*: {blocks.escape(r.do)}"
                 + (f" _(the bot can do this with approval: {r.action})_" if r.action else "")
                 for r in runbook.remediation]
        out.append(blocks.divider())
        out.extend(blocks.sections("*Remediation*\n" + "\n".join(lines)))
    return blocks.limit_blocks(out)


def timeline_lines(events: list[Event]) -> list[str]:
    """One line per event; repeated alert deliveries collapse into one line."""
    return [f"{'':>12}  {REPEATS.format(n=e)}" if isinstance(e, int) else f"{clock(e.at)}  {who(e.actor)}: {e.text}"
            for e in collapsed(events)]


def incident_line(i: Incident, now: float, next_step: str | None = None) -> str:
    line = (f"{SEVERITY_MARK[i.severity.value]} *{i.ref}* {blocks.escape(i.title)} — {i.status.value}, "
            f"open {duration(now - i.created_at)}")
    if next_step:
        line += f"; next: {next_step}"
    return line
