"""The subjects attached to a cluster-level incident, at its lag-and-DLQ step: one
line each with its figures now, so the thread shows whether what hangs on the root
cause is getting better or worse, without a ladder of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.evidence import checks
from bot.incidents import linking
from bot.incidents.correlation import Affected, what, word
from bot.incidents.model import Incident
from bot.reports.markup import escape
from bot.runbooks import Check
from bot.subject import Subject
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

MAX_LINES = 10  # the card lists them all; the step keeps to the first few


def check_for(subject: Subject) -> Check | None:
    if subject.group:
        return Check.KAFKA_LAG
    if subject.topic:
        return Check.KAFKA_DLQ
    if subject.queue:
        return Check.RABBITMQ_QUEUE
    return None


def line(ctx: BotContext, a: Affected, max_age: float) -> str:
    head = f"• {word(a.runbook_id)} on {what(a.subject)}"
    check = check_for(a.subject)
    report = checks.run(ctx, check, a.subject, max_age=max_age) if check else None
    if report is None:
        return f"{head}: {a.state}"
    return f"{head}: {escape(report.verdict.headline)}"


def summary(ctx: BotContext, incident: Incident, max_age: float) -> str | None:
    """None when nothing is attached (or merged) and still active."""
    found = linking.affected(ctx.engine, incident)
    if not found:
        return None
    lines = [line(ctx, a, max_age) for a in found[:MAX_LINES]]
    more = len(found) - MAX_LINES
    if more > 0:
        lines.append(f"…and {plural(more, 'more subject')} (listed on the message above).")
    return f"Attached subjects now ({len(found)}):\n" + "\n".join(lines)
