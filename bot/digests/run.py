"""Building and posting a digest, on demand or when it is due. The timer owner checks
every half minute; each due time is claimed in the database first, so two replicas
(or a lease handed over mid-minute) post it once."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from bot.chat import Place, Posted
from bot.digests import collect, daily, monthly, quarterly, tables, weekly
from bot.digests.model import Digest, post
from bot.digests.schedule import KINDS, last_due

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
BUILDERS = {"daily": daily.build, "weekly": weekly.build, "monthly": monthly.build, "quarterly": quarterly.build}
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def build(ctx: BotContext, kind: str, cluster: str | None = None, rabbit: str | None = None,
          now: datetime | None = None) -> Digest:
    return BUILDERS[kind](ctx, cluster or next(iter(ctx.settings.kafka)), rabbit or next(iter(ctx.settings.rabbitmq)),
                          now)


def publish(ctx: BotContext, kind: str, where: Place, cluster: str | None = None) -> Posted:
    return post(ctx.chat, where, build(ctx, kind, cluster))


def due_digests(ctx: BotContext, now: float | None = None) -> list[str]:
    """Posts every digest whose time has come and that no one claimed; returns their kinds.
    A due time further back than digests.catch_up_s (the bot was down) is skipped."""
    settings = ctx.settings.digests
    if settings.channel is None:
        return []
    now = time.time() if now is None else now
    claimed = []
    for kind in KINDS:
        due = last_due(kind, settings.times, settings.timezone, now)
        if now - due <= settings.catch_up_s and tables.claim(ctx.engine, kind, due, OWNER, now):
            claimed.append(kind)
            # Built and posted off the timer's tick: a digest reads whole clusters, and the
            # tick renews the lease. One digest at a time.
            ctx.work.submit(lambda kind=kind, due=due: _post_due(ctx, kind, due, settings.channel), key="digests")
    return claimed


def _post_due(ctx: BotContext, kind: str, due: float, channel: str) -> None:
    try:
        publish(ctx, kind, Place(channel))
        tables.finish(ctx.engine, kind, due, time.time())
    except Exception as exc:  # noqa: BLE001 - recorded with the claim, and logged
        log.exception("the %s digest due at %s failed", kind, due)
        tables.finish(ctx.engine, kind, due, time.time(), error=f"{type(exc).__name__}: {exc}")


_sampling: dict[int, float] = {}  # id of the context -> when its last round started (monotonic)
_lock = threading.Lock()


def sample(ctx: BotContext) -> bool:
    """Starts a sampling round when digests.sample_every_s has passed since the last
    one this process started; False when it is not time yet, or when no digest is
    scheduled (digests.channel unset: nothing would read the samples)."""
    if ctx.settings.digests.channel is None:
        return False
    with _lock:
        last = _sampling.get(id(ctx))
        if last is not None and time.monotonic() - last < ctx.settings.digests.sample_every_s:
            return False
        _sampling[id(ctx)] = time.monotonic()
    ctx.work.submit(lambda: _round(ctx), key="digest-samples")
    return True


def _round(ctx: BotContext) -> None:
    collect.sample_round(ctx)
