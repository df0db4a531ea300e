"""`/runbook [id]`: the runbooks the bot knows, or one of them in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack import blocks
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
        lines = [f"• `{b.id}`: *{blocks.escape(b.title)}* ({b.severity}) — {blocks.escape(b.summary)}"
                 for b in ctx.runbooks.values()]
        return Reply(text="\n".join(lines), blocks=[blocks.header(plural(len(lines), "runbook")),
                                                    *blocks.sections("\n".join(lines)),
                                                    blocks.context(f"`{USAGE}` shows one in full.")])
    book = ctx.runbooks.get(words[0])
    if book is None:
        raise args.not_found("runbook", words[0], ctx.runbooks)
    steps = "\n".join(f"{n}. {blocks.escape(s.title)}" + (f" _(the bot runs `{s.check}`)_" if s.check != "manual" else "")
                      + "".join(f"\n   {b.label + ': ' if b else ''}`{blocks.escape(line)}`"
                                for b, line in s.commands_for(None))
                      for n, s in enumerate(book.diagnosis, start=1))
    remedies = "\n".join(f"• *If {blocks.escape(r.when)}*: {blocks.escape(r.do)}" for r in book.remediation)
    matchers = "; ".join(", ".join(f"{k}={v}" for k, v in m.items()) for m in book.match) or "none (the fallback)"
    text = (f"*{blocks.escape(book.title)}* (`{book.id}`, {book.severity})\n{blocks.escape(book.summary)}\n\n"
            f"*Diagnosis*\n{steps}\n\n*Remediation*\n{remedies}")
    return Reply(text=text, blocks=[blocks.header(f"Runbook: {book.title}"), *blocks.sections(text),
                                    blocks.context(f"Opens for alerts matching: {blocks.escape(matchers)}")])


SPEC = CommandSpec(name="runbook", summary="the runbooks, or one in full", usage=[USAGE, "/runbook dlq-filling"],
                   handle=handle)
