"""Incidents as Slack messages: the thread's parent (the incident's card), the
runbook checklist and the list of open incidents."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from bot.incidents.correlation import Affected
from bot.incidents.model import Incident, Status
from bot.incidents.text import SEVERITY_MARK, STATUS_MARK, clock, headline, incident_line
from bot.incidents.views import Checklist, IncidentCard, IncidentList, Paged
from bot.reports.lag import duration
from bot.reports.markup import channel, user
from bot.runbooks import Check, Runbook
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.ids import Action, step_action, step_value
from bot.text import plural


def _button(text: str, action: Action | str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": str(action),
                     "value": value}
    if style:
        button["style"] = style
    return button


def card(view: IncidentCard) -> tuple[str, list[Block]]:
    out = parent(view.incident, view.runbook, view.next_step, paged=view.paged, affected=view.affected)
    if not view.buttons:
        out = [b for b in out if b["type"] != "actions"]
    return headline(view.incident), out


AFFECTED_SHOWN = 15  # a broker down can make every group lag: the card lists the first, and counts all


def affected_section(affected: Sequence[Affected]) -> Block:
    firing = sum(1 for a in affected if a.firing)
    head = f"*Affected subjects ({len(affected)}, {firing} firing)*, likely the same cause"
    lines = [f"• {a.line()}" for a in affected[:AFFECTED_SHOWN]]
    if len(affected) > AFFECTED_SHOWN:
        lines.append(f"…and {len(affected) - AFFECTED_SHOWN} more (`/incident timeline` lists each)")
    return blocks.section("\n".join([head, *lines]))


def parent(i: Incident, runbook: Runbook, next_step: str | None = None, now: float | None = None,
           paged: tuple[Paged, ...] = (), affected: Sequence[Affected] = ()) -> list[Block]:
    now = now or time.time()
    status = STATUS_MARK[i.status.value]
    if i.status is Status.OPEN and i.alerts_resolved:
        status += " (alerts resolved: confirm with Resolve)"
    fields = [
        f"*Status*\n{status}",
        f"*Severity*\n{SEVERITY_MARK[i.severity.value]} {i.severity.value}",
        f"*Subject*\n{blocks.escape(i.subject.describe())}",
        f"*Runbook*\n{blocks.escape(runbook.title)}",
        f"*Commander*\n{user(i.commander) if i.commander else 'nobody yet'}",
        f"*Opened*\n{clock(i.created_at)} ({duration(now - i.created_at)} ago)",
    ]
    fields += [f"*{label}*\n{user(person)}" for label, person in (("Comms", i.comms), ("Scribe", i.scribe)) if person]
    out: list[Block] = [
        blocks.header(f"{i.ref} · {i.title}"),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if affected:
        out.append(affected_section(affected))
    extra = []
    if i.dedicated_channel:
        extra.append(f"Discussion in {channel(i.dedicated_channel)}")
    if paged:
        extra.append(paged_line(paged))
    if next_step and i.is_open:
        extra.append(f"Next: {next_step}")
    if i.status is Status.RESOLVED and i.resolved_at:
        extra.append(f"Resolved by {user(i.resolved_by or '')} at {clock(i.resolved_at)} after "
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


PAGED_MARK = {"paged": ":pager: paged, not acknowledged", "acknowledged": ":white_check_mark: acknowledged",
              "resolved": ":white_check_mark: resolved", "failed": ":warning: page failed"}


def paged_line(paged: tuple[Paged, ...]) -> str:
    """Who was paged through which tool, and whether they acknowledged."""
    parts = []
    for p in paged:
        who = user(p.by) if p.by and re.fullmatch(r"[UW][A-Z0-9]+", p.by) else blocks.escape(p.by or "")
        by = f" by {who}" if p.by and p.state in ("acknowledged", "resolved") else ""
        parts.append(f"{blocks.escape(p.vendor)} *{blocks.escape(p.pager)}*: {PAGED_MARK.get(p.state, p.state)}{by}")
    return "Paged: " + "; ".join(parts)


def checklist_message(view: Checklist) -> tuple[str, list[Block]]:
    steps = [s for s in view.runbook.diagnosis if s.fits(view.incident.subject.broker)]
    text = f"Runbook: {view.runbook.title} ({plural(len(steps), 'diagnosis step')})"
    return text, checklist(view.incident, view.runbook, view.done, view.values)


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:  # a placeholder the incident cannot fill stays visible
        return "{" + key + "}"


def checklist(i: Incident, runbook: Runbook, done: dict[str, tuple[str, float]],
              values: dict[str, str] | None = None) -> list[Block]:
    out: list[Block] = [blocks.header(f"Runbook: {runbook.title}"), blocks.section(blocks.escape(runbook.summary))]
    for n, step in enumerate((s for s in runbook.diagnosis if s.fits(i.subject.broker)), start=1):
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
            text += f"\n_{verb} by {user(by)} at {clock(at)}_"
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


def incident_list(view: IncidentList) -> tuple[str, list[Block]]:
    lines = [incident_line(i, view.now, next_step) for i, next_step in view.incidents]
    if not lines:
        return "No incident is open.", [blocks.section("No incident is open. :sunny:")]
    return "\n".join(lines), blocks.limit_blocks([blocks.header(plural(len(lines), "open incident")),
                                                 *blocks.sections("\n".join(lines))])
