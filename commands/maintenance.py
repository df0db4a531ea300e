"""`/maintenance broker <id> | cluster <name> <duration> <reason>`, `/maintenance list`,
`/maintenance end <id>`: the guide's broker maintenance as a flow (bot.silences.maintenance)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from bot.chat import Posted
from bot.reports.markup import escape, link, user
from bot.reports.report import Page
from bot.silences import maintenance, store, windows
from bot.silences.matchers import MatcherError, check_duration, duration_text, parse_duration
from bot.silences.reading import read
from bot.silences.text import until
from commands import args, common
from commands import help as help_command
from commands.base import CommandSpec, Deferred, Invocation, Outcome, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

START_USAGE = "/maintenance broker <id> [--cluster NAME] | cluster <name> <duration> <reason>"
USAGE = [START_USAGE, "/maintenance list", "/maintenance end <id>", "/maintenance help"]
EXAMPLE = "For example: `/maintenance broker 1 45m upgrading to Kafka 3.9`."
_ID = re.compile(r"^(?:m-)?(\d+)$", re.IGNORECASE)


def _pop_cluster(words: list[str]) -> tuple[list[str], str | None]:
    for i, word in enumerate(words):
        if word == "--cluster":
            if i + 1 >= len(words):
                raise UsageError(f"`--cluster` needs a value. Usage: `{START_USAGE}`")
            return words[:i] + words[i + 2:], words[i + 1]
        if word.startswith("--cluster="):
            return words[:i] + words[i + 1:], word.partition("=")[2]
    return words, None


def _start(inv: Invocation, ctx: BotContext, scope: str, words: list[str]) -> Outcome:
    words, named = _pop_cluster(words)
    if len(words) < 3:
        raise UsageError(f"Say which {scope}, for how long and why. Usage: `{START_USAGE}`. {EXAMPLE}")
    target, when, reason = words[0], words[1], " ".join(words[2:])
    if scope == "broker":
        if not target.isdigit():
            raise UsageError(f"`{escape(target)}` is not a broker id: Kafka's broker ids are numbers, "
                             f"as `/broker` lists them. {EXAMPLE}")
        cluster, broker = common.kafka_cluster(ctx, named), target
    else:
        if named is not None:
            raise UsageError("Name the cluster once: `/maintenance cluster <name> <duration> <reason>`.")
        cluster, broker = common.kafka_cluster(ctx, target), None
    seconds = parse_duration(when)
    if seconds is None:
        raise UsageError(f"`{escape(when)}` is not a duration: write it as 30m, 2h or 1d. Usage: `{START_USAGE}`")
    try:
        check_duration(seconds, ctx.settings.silences.max_duration_hours * 3600)
    except MatcherError as exc:
        raise UsageError(str(exc)) from None
    now = time.time()
    busy = windows.overlapping(ctx.engine, scope=scope, cluster=cluster, broker=broker, now=now)
    if busy is not None:
        raise UsageError(f"{busy.ref} already covers {busy.what()} until {until(busy.ends_at, now)}. "
                         f"`/maintenance end {busy.ref}` first, or let it run.")
    default = cluster == next(iter(ctx.settings.kafka))
    what = f"broker {broker} of `{cluster}`" if broker else f"cluster `{cluster}`"

    def run() -> Reply:
        first, snap = read(ctx.clients, cluster, ctx.settings.silences.maintenance)
        known = set(first.brokers) | {m.id for m in snap.missing_brokers}
        if broker is not None and first.reachable and int(broker) not in known:
            return Reply(text=f"Broker {broker} is not a broker of `{cluster}` (brokers: "
                              f"{', '.join(map(str, sorted(known))) or 'none'}). Nothing was silenced.")
        w, made = windows.create(ctx.engine, scope=scope, cluster=cluster, broker=broker, seconds=seconds,
                                 reason=reason, created_by=inv.user_id, now=time.time(), default_cluster=default)
        posted = maintenance.announce(ctx, w, made, first)
        return Reply(text=f"Maintenance {w.ref} of {what} started for {duration_text(seconds)}, with "
                          f"{', '.join(s.ref for s in made)} silencing its noise: "
                          f"{link(ctx.chat.link(posted), 'follow it in its thread')}.")

    return Deferred(run=run, ack=Reply(text=f"Starting maintenance of {what} for {duration_text(seconds)}…"))


def _list(ctx: BotContext) -> Reply:
    now = time.time()
    found = windows.unfinished(ctx.engine)
    if not found:
        return Reply(text="No maintenance window is open. " + EXAMPLE)
    lines = []
    for w in found:
        made = store.of_window(ctx.engine, w.id)
        held = sum(n for n, _ in store.counts(ctx.engine, [s.id for s in made]).values())
        thread = (f" — {link(ctx.chat.link(Posted(w.channel, w.thread_ts)), 'thread')}"
                  if w.channel and w.thread_ts else "")
        state = f"until {until(w.ends_at, now)}" if w.ends_at > now else "ending now"
        lines.append(f":construction: *{w.ref}* {w.what()} by {user(w.created_by)}, {state}; silences "
                     f"{', '.join(s.ref for s in made)}, {held} alert{'s' if held != 1 else ''} held back. "
                     f"{escape(w.reason)}{thread}")
    body = "\n".join(lines)
    return Reply(text=body, content=Page(title=f"Maintenance windows ({len(found)})", body=body, text=body,
                                         footer="`/maintenance end <id>` ends one early."))


def _end(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    found = _ID.match(words[0]) if len(words) == 1 else None
    if found is None:
        raise UsageError("Which window? `/maintenance end M-3` (`/maintenance list` shows them).")
    pk = int(found.group(1))
    if not windows.end_early(ctx.engine, pk, by=inv.user_id, now=time.time()):
        known = windows.get(ctx.engine, pk)
        why = "there is no such window" if known is None else "it has already ended"
        raise UsageError(f"M-{pk} cannot be ended: {why}. `/maintenance list` shows the open ones.")
    return Reply(text=f":white_check_mark: {user(inv.user_id)} ended maintenance M-{pk}: its silences are over, "
                      "and the health verdict follows in its thread.", in_channel=True)


def handle(inv: Invocation, ctx: BotContext) -> Outcome:
    words = args.split(inv.text)
    first = words[0].lower() if words else "help"
    if first == "help":
        return help_command.render("maintenance", ctx.settings.slack.umbrella_command)
    if first in ("broker", "cluster"):
        return _start(inv, ctx, first, words[1:])
    if first == "list" and len(words) == 1:
        return _list(ctx)
    if first == "end":
        return _end(inv, ctx, words[1:])
    raise UsageError(f"`/maintenance {escape(first)}` is not something I know. Usage: `{START_USAGE}`, "
                     "`/maintenance list`, `/maintenance end <id>`.")


SPEC = CommandSpec(name="maintenance", summary="a broker or cluster maintenance window: silences its expected noise, "
                                               "posts the rolling-upgrade checklist, follows under-replicated "
                                               "partitions and lag, and ends with a health verdict",
                   usage=USAGE, handle=handle)
