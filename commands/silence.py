"""`/silence <matchers> <duration> <reason>`, `/silence list`, `/silence expire <id>`:
keep alerts (and watch breaches) from opening incidents for a while. What a silence
holds back is recorded on it; what still fires when it ends opens then."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from bot.reports.markup import escape, user
from bot.reports.report import Page
from bot.silences import store
from bot.silences.matchers import MatcherError, duration_text, parse_silence
from bot.silences.text import code, silence_line, until
from commands import args
from commands import help as help_command
from commands.base import CommandSpec, Invocation, Outcome, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

CREATE_USAGE = "/silence <matchers> <duration> <reason>"
USAGE = [CREATE_USAGE, "/silence list", "/silence expire <id>", "/silence help"]
EXAMPLE = ("For example: `/silence alertname=KafkaConsumerLagHigh consumergroup=~\"orders-.*\" 2h deploying orders` "
           "or `/silence group:orders-svc 30m replaying the DLQ`.")
_ID = re.compile(r"^(?:s-)?(\d+)$", re.IGNORECASE)


def silence_id(word: str) -> int:
    found = _ID.match(word.strip())
    if not found:
        raise UsageError(f"`{escape(word)}` is not a silence id: write it as `S-3` (or `3`). `/silence list` shows them.")
    return int(found.group(1))


def _create(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    limit = ctx.settings.silences.max_duration_hours * 3600
    try:
        matchers, seconds, reason = parse_silence(words, max_seconds=limit, default_cluster=next(iter(ctx.settings.kafka)))
    except MatcherError as exc:
        raise UsageError(f"{exc} Usage: `{CREATE_USAGE}`. {EXAMPLE}") from None
    now = time.time()
    made = store.create(ctx.engine, matchers=matchers, seconds=seconds, reason=reason, created_by=inv.user_id, now=now)
    text = (f":mute: {user(inv.user_id)} silenced {code(made.text())} for {duration_text(seconds)}, until "
            f"{until(made.ends_at, now)}: {escape(reason)}. Matching alerts are recorded on *{made.ref}* and open "
            f"no incident; what still fires when it ends opens then. `/silence expire {made.ref}` ends it early.")
    return Reply(text=text, in_channel=True)


def _list(ctx: BotContext) -> Reply:
    now = time.time()
    found = store.active(ctx.engine, now)
    if not found:
        return Reply(text="No silence is in force. `/silence <matchers> <duration> <reason>` makes one.")
    found.sort(key=lambda s: s.id)
    held = store.counts(ctx.engine, [s.id for s in found])
    lines = [silence_line(s, held.get(s.id, (0, 0)), now) for s in found]
    body = "\n".join(lines)
    return Reply(text=body, content=Page(title=f"Silences in force ({len(found)})", body=body, text=body,
                                         footer="`/silence expire <id>` ends one early."))


def _expire(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    if len(words) != 1:
        raise UsageError("Which silence? `/silence expire S-3` (`/silence list` shows them).")
    pk = silence_id(words[0])
    now = time.time()
    ended = store.expire(ctx.engine, pk, by=inv.user_id, now=now)
    if ended is None:
        known = store.get(ctx.engine, pk)
        why = "there is no such silence" if known is None else "it has already ended"
        raise UsageError(f"S-{pk} cannot be expired: {why}. `/silence list` shows the silences in force.")
    held = store.counts(ctx.engine, [pk]).get(pk, (0, 0))[0]
    tail = (f"it held back {held} alert{'s' if held != 1 else ''}; those still firing open as incidents now."
            if held else "it had held nothing back.")
    return Reply(text=f":loud_sound: {user(inv.user_id)} expired {ended.ref} ({code(ended.text())}): {tail}",
                 in_channel=True)


def handle(inv: Invocation, ctx: BotContext) -> Outcome:
    words = args.split(inv.text)
    first = words[0].lower() if words else "help"
    if first == "help":
        return help_command.render("silence", ctx.settings.slack.umbrella_command)
    if first == "list" and len(words) == 1:
        return _list(ctx)
    if first == "expire":
        return _expire(inv, ctx, words[1:])
    return _create(inv, ctx, words)


SPEC = CommandSpec(name="silence", summary="keep matching alerts from opening incidents for a while (recorded, "
                                           "never dropped)", usage=USAGE, handle=handle)
