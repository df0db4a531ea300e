"""`/incident`: open, follow and close incidents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commands import help as help_command
from commands.base import CommandSpec, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.context import BotContext

SUBCOMMANDS = ("help",)


def handle(inv: Invocation, ctx: BotContext) -> Reply:
    sub = inv.args[0].lower() if inv.args else "help"
    if sub == "help":
        return help_command.render("incident", ctx.settings.slack.umbrella_command)
    raise UsageError(
        f"`/incident {sub}` is not a subcommand I know. Available: {', '.join(SUBCOMMANDS)}. "
        "Try `/incident help`."
    )


SPEC = CommandSpec(
    name="incident",
    summary="incident commands",
    usage=["/incident help"],
    handle=handle,
)
