"""The guide's broker maintenance as a flow: a window on a broker or a cluster
silences the noise its work is expected to cause (bot.silences.windows), posts the
rolling-upgrade checklist in a thread of the ops channel, follows under-replicated
partitions and total lag there as they change, and at its end posts a health verdict
and what fired while it silenced.

The timer owner's duty (`watch_windows`, bot.app.duties) polls and finishes windows;
the probes run on the work pool, one at a time per window, so a slow cluster never
holds up the timers.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from bot.chat import Place, Posted
from bot.db import owners
from bot.health.brokers import kafka_cluster_verdict
from bot.silences import maintenance_text as words
from bot.silences import store, windows
from bot.silences.model import Silence, Window
from bot.silences.reading import Reading, changes, read

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
POLL_LEASE = 60.0  # seconds beyond the poll interval before a poll that died is tried again
FINISH_LEASE = 120.0  # a cluster read and three chat calls, with their retries


def channel(ctx: BotContext) -> str:
    return ctx.settings.silences.maintenance.channel or ctx.settings.slack.incidents_channel


def key(w: Window) -> str:
    return f"maintenance:{w.id}"


def bootstrap(ctx: BotContext, cluster: str) -> str:
    return ctx.settings.kafka[cluster].bootstrap_servers.split(",")[0]


def announce(ctx: BotContext, w: Window, made: list[Silence], first: Reading | None = None) -> Posted:
    """The parent message, the checklist and the first reading in its thread."""
    settings = ctx.settings.silences.maintenance
    now = time.time()
    posted = ctx.chat.post(Place(channel(ctx)), words.parent(w, made, now))
    ctx.chat.post(posted.thread(), words.checklist(w, bootstrap(ctx, w.cluster), settings.poll_seconds))
    if first is None:
        first, _ = read(ctx.clients, w.cluster, settings)
    ctx.chat.post(posted.thread(), words.baseline(first))
    windows.set_thread(ctx.engine, w.id, channel=posted.channel, thread_ts=posted.ts, baseline=first.as_dict(),
                       next_poll_at=time.time() + settings.poll_seconds)
    return posted


def poll(ctx: BotContext, w: Window) -> None:
    """Read the cluster; post in the thread what changed since the last post."""
    settings = ctx.settings.silences.maintenance
    try:
        now, _ = read(ctx.clients, w.cluster, settings)
        last = Reading.from_dict(w.last) if w.last else None
        found = changes(last, now, settings) if last is not None else []
        if found and w.channel and w.thread_ts:
            ctx.chat.post(Place(w.channel, w.thread_ts), words.change(found, now))
        windows.polled(ctx.engine, w.id, next_poll_at=time.time() + settings.poll_seconds,
                       last=now.as_dict() if found or last is None else None)
    except Exception:
        windows.polled(ctx.engine, w.id, next_poll_at=time.time() + settings.poll_seconds)
        raise


def finish(ctx: BotContext, w: Window) -> None:
    """The verdict and what fired while silenced, in the thread; the parent says it
    ended. Under this process's claim: each post is preceded by renewing it and
    followed by counting it, so a process that takes over a dead one's claim posts
    only what is missing (a post cut off between Slack and the count may repeat)."""
    settings = ctx.settings.silences.maintenance
    me = owners.this_process()
    made = store.of_window(ctx.engine, w.id)
    where = Place(w.channel, w.thread_ts) if w.channel and w.thread_ts else Place(channel(ctx))

    def ours() -> bool:
        return windows.renew_finish(ctx.engine, w.id, owner=me, now=time.time(), lease=FINISH_LEASE)

    if w.finish_step < 1:
        end, snap = read(ctx.clients, w.cluster, settings)
        start = Reading.from_dict(w.baseline) if w.baseline else None
        report = words.verdict_report(w, start, end, snap, kafka_cluster_verdict(snap, ctx.settings.thresholds),
                                      bootstrap(ctx, w.cluster))
        if not ours():
            return
        ctx.chat.post(where, report)
        windows.finished_step(ctx.engine, w.id, owner=me, step=1)
    if w.finish_step < 2:
        if not ours():
            return
        ctx.chat.post(where, words.held_lines(w, store.held(ctx.engine, [s.id for s in made])))
        windows.finished_step(ctx.engine, w.id, owner=me, step=2)
    if w.channel and w.thread_ts:
        ctx.chat.update(Posted(w.channel, w.thread_ts), words.parent(w, made, time.time(), ended=True))
    windows.finished_step(ctx.engine, w.id, owner=me, step=windows.DONE)


def watch_windows(ctx: BotContext) -> None:
    """The duty: finish windows that ended (and take over the end of one whose process
    died), poll the others when due; the work itself on the work pool."""
    now = time.time()
    lease = ctx.settings.silences.maintenance.poll_seconds + POLL_LEASE
    me = owners.this_process()
    for w in windows.to_finish(ctx.engine, now):
        if windows.claim_finish(ctx.engine, w.id, owner=me, now=now, lease=FINISH_LEASE):
            ctx.work.submit(lambda w=w: finish(ctx, w), key=key(w))
    for w in windows.unfinished(ctx.engine):
        if w.ends_at > now and w.thread_ts and windows.claim_poll(ctx.engine, w.id, now=now, lease=lease):
            ctx.work.submit(lambda w=w: poll(ctx, w), key=key(w))
