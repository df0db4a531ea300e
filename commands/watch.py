"""`/watch status | pause <subject> <duration> <reason> | resume <subject>`: what the
bot watches by itself, its last rounds and current breaches, and pausing one subject
(its breaches are still tracked, but open no incident until the pause ends)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.health.verdict import Level, Verdict
from bot.incidents import store as incident_store
from bot.reports.markup import escape
from bot.reports.report import Report, Table
from bot.text import plural
from bot.watch import look
from bot.watch import store as watch_store
from commands import args, common
from commands.base import CommandSpec, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/watch status | /watch pause <subject> <duration> <reason> | /watch resume <subject>"


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def status(ctx: BotContext) -> Reply:
    w = ctx.settings.watch
    now = time.time()
    watched = [f"Kafka `{c}`: groups {', '.join(t.groups)}"
               + (f" (not {', '.join(t.exclude_groups)})" if t.exclude_groups else "")
               + (f", DLQ topics {', '.join(t.dlqs)}" if t.dlqs else "") + (", brokers" if t.brokers else "")
               for c, t in look.kafka_targets(ctx).items()]
    watched += [f"RabbitMQ `{c}`:" + (f" dead-letter queues {', '.join(t.dlqs)}" if t.dlqs else "")
                + (", nodes" if t.nodes else "")
                for c, t in look.rabbit_targets(ctx).items()]
    watched += [f"Schema Registry `{r}`: subjects {', '.join(p)}" for r, p in w.schema_subjects.items()]
    rounds = watch_store.last_rounds(ctx.engine)
    round_rows = [[r.cluster, _ago(now - r.started_at), f"{r.duration_ms:,.0f} ms", str(r.watched),
                   escape(r.error or "-")[:200]] for r in rounds]
    states = sorted(watch_store.states(ctx.engine).values(), key=lambda s: (s.level, s.streak), reverse=True)
    with ctx.engine.connect() as conn:
        refs = incident_store.get_many(conn, {s.incident_id for s in states if s.incident_id is not None})
    breach_rows = []
    for s in states:
        incident = refs.get(s.incident_id) if s.incident_id is not None else None
        where = incident.ref if incident else (f"opens after {w.sustain_rounds} rounds ({s.streak} so far)"
                                               if s.streak else "-")
        state = f"recovering since {_ago(now - s.ok_since)}" if s.ok_since else s.level.name
        breach_rows.append([escape(s.key), state, escape(s.last_text)[:300], where])
    pauses = watch_store.pauses(ctx.engine, now)
    level = Level.WARNING if any(r.error for r in rounds) or not w.enabled else Level.OK
    if not w.enabled:
        headline = "The watch is off (watch.enabled: false): only alerts open incidents."
    elif not rounds:
        headline = f"The watch is on (every {w.interval_s:g} s) but no round has run yet."
    else:
        headline = (f"Watching every {w.interval_s:g} s; {plural(len([s for s in states if s.streak]), 'breach')} "
                    f"now, {plural(len(pauses), 'pause')}.")
    errors = [f"{r.cluster}: {r.error}" for r in rounds if r.error]
    tables = [Table(title="Last rounds", headers=["WHAT", "WHEN", "TOOK", "WATCHED", "COULD NOT SEE"],
                    rows=round_rows)] if round_rows else []
    if breach_rows:
        tables.append(Table(title="Breaches", headers=["KEY", "STATE", "WHAT", "INCIDENT"], rows=breach_rows))
    notes = ["Watched: " + "; ".join(watched) + "."] if watched else []
    notes += [f"Paused: `{escape(p.target)}` until {datetime.fromtimestamp(p.until, UTC):%H:%M} UTC by "
              f"<@{p.actor}>: {escape(p.reason)}" for p in pauses]
    notes.append(f"A breach opens an incident after {plural(w.sustain_rounds, 'round')} in a row and is called "
                 f"recovered after {w.recover_minutes:g} min below {w.recover_ratio:.0%} of its threshold.")
    return common.report_reply(Report(title="Watch", verdict=Verdict(level=level, reasons=[headline, *errors]),
                                      tables=tables, notes=notes, taken_at=datetime.now(UTC)))


def pause(inv: Invocation, ctx: BotContext, words: list[str]) -> Reply:
    if len(words) < 3:
        raise UsageError(f"Say what to pause, for how long and why.\nUsage: {USAGE}")
    target, length, reason = words[0], args.duration(words[1], usage=USAGE), " ".join(words[2:])
    now = time.time()
    watch_store.pause(ctx.engine, target, now + length, reason, inv.user_id, now)
    until = datetime.fromtimestamp(now + length, UTC)
    return Reply(text=f"Paused the watch for `{escape(target)}` until {until:%Y-%m-%d %H:%M} UTC: {escape(reason)}. "
                      "Its breaches are still tracked and open an incident when the pause ends if they stand.",
                 in_channel=True)


def resume(ctx: BotContext, words: list[str]) -> Reply:
    if len(words) != 1:
        raise UsageError(f"Name the subject to resume.\nUsage: {USAGE}")
    if not watch_store.resume(ctx.engine, words[0], time.time()):
        raise UsageError(f"`{escape(words[0])}` is not paused. `/watch status` lists the pauses.")
    return Reply(text=f"The watch for `{escape(words[0])}` is resumed.", in_channel=True)


def handle(inv: Invocation, ctx: BotContext) -> Reply:
    words = args.split(inv.text)
    sub = words[0].lower() if words else "status"
    if sub == "status":
        return status(ctx)
    if sub == "pause":
        return pause(inv, ctx, words[1:])
    if sub == "resume":
        return resume(ctx, words[1:])
    raise UsageError(f"`{escape(sub)}` is not a /watch subcommand.\nUsage: {USAGE}")


SPEC = CommandSpec(
    name="watch",
    summary="What the bot watches by itself; pause or resume one subject",
    usage=["/watch status", "/watch pause orders-svc 2h deploying the new consumer", "/watch resume orders-svc"],
    handle=handle,
)
