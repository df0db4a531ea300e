"""`/runbook [id]`: the runbooks the bot knows, or one of them in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.reports.markup import escape
from bot.reports.report import Page
from bot.text import plural
from commands import args
from commands.base import CommandSpec, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/runbook [id]"


def handle(inv: Invocation, ctx: BotContext) -> Reply:
    words = args.split(inv.text)
    if len(words) > 1:
        raise UsageError(f"Too many arguments. Usage: `{USAGE}`")
    if not words:
        lines = [f"• `{b.id}`: *{escape(b.title)}* ({b.severity}) — {escape(b.summary)}"
                 for b in ctx.runbooks.values()]
        return Reply(text="\n".join(lines), content=Page(title=plural(len(lines), "runbook"), body="\n".join(lines),
                                                          footer=f"`{USAGE}` shows one in full.", text="\n".join(lines)))
    book = ctx.runbooks.get(words[0])
    if book is None:
        raise args.not_found("runbook", words[0], ctx.runbooks)
    steps = "\n".join(f"{n}. {escape(s.title)}" + (f" _(the bot runs `{s.check}`)_" if s.check != "manual" else "")
                      + "".join(f"\n   {b.label + ': ' if b else ''}`{escape(line)}`" for b, line in s.commands_for(None))
                      for n, s in enumerate(book.diagnosis, start=1))
    remedies = "\n".join(f"• *If {escape(r.when)}*: {escape(r.do)}" for r in book.remediation)
    matchers = "; ".join(", ".join(f"{k}={v}" for k, v in m.items()) for m in book.match) or "none (the fallback)"
    text = (f"*{escape(book.title)}* (`{book.id}`, {book.severity})\n{escape(book.summary)}\n\n"
            f"*Diagnosis*\n{steps}\n\n*Remediation*\n{remedies}")
    return Reply(text=text, content=Page(title=f"Runbook: {book.title}", body=text, text=text,
                                         footer=f"Opens for alerts matching: {escape(matchers)}"))


SPEC = CommandSpec(name="runbook", summary="the runbooks, or one in full", usage=[USAGE, "/runbook dlq-filling"],
                   handle=handle)
