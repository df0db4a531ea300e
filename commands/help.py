"""`/ops help` and `<command> help`: the command list, built from the registry so
it never lists a command the bot does not have."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.reports.report import Page
from commands.base import CommandSpec, Invocation, Reply

if TYPE_CHECKING:
    from bot.app.context import BotContext


def _usage(spec: CommandSpec) -> str:
    lines = [f"*{spec.name}*: {spec.summary}"]
    lines += [f"  `{u}`" for u in spec.usage]
    return "\n".join(lines)


def render(focus: str | None, umbrella: str) -> Reply:
    from commands.registry import REGISTRY

    specs = [s for s in REGISTRY.values() if s.name != "help"]
    if focus is not None:
        specs.sort(key=lambda s: s.name != focus)
    body = "\n\n".join(_usage(s) for s in specs)
    footer = (
        f"Every command also works through `{umbrella}`, e.g. `{umbrella} incident help`, "
        "for workspaces where another app already owns the name."
    )
    text = f"Incident bot commands\n\n{body}\n\n{footer}"
    return Reply(text=text, content=Page(title="Incident bot commands", body=body, footer=footer, text=text))


def handle(inv: Invocation, ctx: BotContext) -> Reply:
    return render(None, ctx.settings.slack.umbrella_command)


SPEC = CommandSpec(name="help", summary="this list", usage=["/ops help"], handle=handle)
