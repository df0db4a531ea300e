"""`/oncall`: who is on call now and next, per team (or schedule); and
`/oncall cover <@user> <duration> [team]`: someone covers a local rotation for a while
(an override, recorded in the on-call audit trail)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from bot.config.oncall import LocalRotation
from bot.oncall import lookup, store
from bot.oncall.rotation import local_time
from bot.reports.markup import escape, user, users
from bot.text import parse_duration as text_duration
from commands import args
from commands.base import CommandSpec, Deferred, Invocation, Outcome, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

COVER_USAGE = "/oncall cover <@user> <duration, e.g. 2h, 30m, 1d12h> [team]"
USAGE = ["/oncall [team]", COVER_USAGE]
MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(\|[^>]*)?>$|^@?([UW][A-Z0-9]{2,})$")
MAX_COVER_DAYS = 31


def parse_duration(text: str) -> float:
    """Seconds of `2h`, `30m`, `1d12h`; UsageError for anything else."""
    seconds = text_duration(text)
    if seconds is None:
        raise UsageError(f"`{text}` is not a duration: use minutes, hours or days such as `30m`, `2h`, `1d12h`. "
                         f"Usage: `{COVER_USAGE}`")
    if seconds < 60 or seconds > MAX_COVER_DAYS * 86400:
        raise UsageError(f"A cover lasts from a minute to {MAX_COVER_DAYS} days; `{text}` does not.")
    return seconds


def parse_user(text: str) -> str:
    m = MENTION.match(text.strip())
    if not m:
        raise UsageError(f"`{text}` is not a person: mention them, like `@alice`. Usage: `{COVER_USAGE}`")
    return m[1] or m[3]


def targets(ctx: BotContext) -> list[tuple[str, str]]:
    """(label, schedule) for every team with an on-call schedule, then the platform's."""
    found = [(team, t.lead_oncall) for team, t in ctx.settings.teams.items() if t.lead_oncall]
    if ctx.settings.escalation.platform_oncall:
        found.append(("platform", ctx.settings.escalation.platform_oncall))
    named = {schedule for _, schedule in found}
    found += [(name, name) for name in ctx.settings.oncall.schedules if name not in named]
    return found


def resolve(ctx: BotContext, name: str) -> tuple[str, str, str | None]:
    """(label, schedule, team) for a team's or a schedule's name."""
    team = ctx.settings.teams.get(name)
    if team is not None:
        if not team.lead_oncall:
            raise UsageError(f"Team `{name}` has no on-call schedule (set `teams.{name}.lead_oncall`).")
        return name, team.lead_oncall, name
    if name == "platform" and ctx.settings.escalation.platform_oncall:
        return name, ctx.settings.escalation.platform_oncall, None
    if name in ctx.settings.oncall.schedules:
        return name, name, None
    raise args.not_found("team or on-call schedule", name,
                         [*ctx.settings.teams, *ctx.settings.oncall.schedules])


def describe(label: str, found: lookup.OnCall) -> str:
    source = lookup.VENDOR_NAMES[found.source]
    head = f"*{escape(label)}*" + (f" (schedule `{escape(found.schedule)}`, {source})" if label != found.schedule
                                   else f" ({source})")
    now = users(found.users) if found.users else "nobody"
    line = f"{head}: on call now {now}"
    if found.fallback:
        line += " (fallback)"
    if found.until is not None:
        line += f" until {local_time(found.until, found.timezone)}"
    if found.next_users:
        line += f"; next {users(found.next_users)}"
    line += "."
    if found.note:
        line += f"\n    :warning: {escape(found.note)}"
    return line


def _show(inv: Invocation, ctx: BotContext, words: list[str]) -> Outcome:
    if len(words) > 1:
        raise UsageError(f"Too many arguments: `{' '.join(words)}`. Usage: `/oncall [team]`")
    wanted = [resolve(ctx, words[0])[:2]] if words else targets(ctx)
    if not wanted:
        return Reply(text="No on-call schedule is configured (see `oncall.schedules`, `teams.<team>.lead_oncall` "
                          "and `escalation.platform_oncall`).")

    def answer() -> Reply:
        now = time.time()
        lines = [describe(label, lookup.who(ctx.settings.oncall, ctx.engine, schedule, now, ctx.caches.oncall))
                 for label, schedule in wanted]
        return Reply(text="\n".join(lines))

    schedules = ctx.settings.oncall.schedules
    if all(isinstance(schedules[s], LocalRotation) for _, s in wanted):
        return answer()
    return Deferred(run=answer, ack=Reply(text="Asking the on-call schedules…"))


def _cover(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    if len(words) not in (2, 3):
        raise UsageError(f"Who covers, and for how long? Usage: `{COVER_USAGE}`")
    person, seconds = parse_user(words[0]), parse_duration(words[1])
    if len(words) == 3:
        label, schedule, team = resolve(ctx, words[2])
    else:
        local = [name for name, s in ctx.settings.oncall.schedules.items() if isinstance(s, LocalRotation)]
        default = ctx.settings.default_team and ctx.settings.teams[ctx.settings.default_team].lead_oncall
        if default:
            label, schedule, team = resolve(ctx, str(ctx.settings.default_team))
        elif len(local) == 1:
            label, schedule, team = local[0], local[0], None
        else:
            raise UsageError(f"Which team? Name it: `{COVER_USAGE}`. Local rotations: "
                             f"{', '.join(local) or 'none configured'}.")
    cfg = ctx.settings.oncall.schedules[schedule]
    if not isinstance(cfg, LocalRotation):
        raise UsageError(f"`{schedule}` is a {lookup.VENDOR_NAMES[cfg.kind]} schedule: add the override in "
                         f"{lookup.VENDOR_NAMES[cfg.kind]}. `/oncall cover` changes local rotations only.")
    now = time.time()
    before = lookup.who(ctx.settings.oncall, ctx.engine, schedule, now).users
    added = store.add_override(ctx.engine, schedule=schedule, team=team, user=person, start=now, end=now + seconds,
                               actor=inv.user_id, now=now)
    instead = f" in place of {users(before)}" if before and before != [person] else ""
    return Reply(text=f":white_check_mark: {user(person)} covers *{escape(label)}* until "
                      f"{local_time(added.end, cfg.timezone)}{instead} (added by {user(inv.user_id)}).",
                 in_channel=True)


def handle(inv: Invocation, ctx: BotContext) -> Outcome:
    words = args.split(inv.text)
    if words and words[0].lower() == "help":
        return Reply(text="\n".join(f"`{u}`" for u in USAGE))
    if words and words[0].lower() == "cover":
        return _cover(inv, ctx, words[1:])
    return _show(inv, ctx, words)


SPEC = CommandSpec(name="oncall", summary="who is on call now and next; cover a shift", usage=USAGE, handle=handle)
