"""What the timer owner does besides the ladder. These are housekeeping jobs that
one process per database must do (several replicas share one PostgreSQL): the
process holding the escalation lease runs them, each at its pace, starting on the
tick after it takes the lease (bot.escalation.scheduler.Escalator)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.approvals import flow
from bot.backups import run as backups
from bot.digests import run as digests
from bot.escalation import reminders
from bot.escalation.scheduler import Duty
from bot.evidence import depth_history, lag_history
from bot.incidents import flows, released
from bot.paging import pager
from bot.silences import maintenance

if TYPE_CHECKING:
    from bot.app.context import BotContext


def prune_samples(ctx: BotContext) -> None:
    """The lag and depth samples are kept a week (their modules' KEEP_SECONDS)."""
    now = time.time()
    lag_history.prune(ctx.engine, now)
    depth_history.prune(ctx.engine, now)


DUTIES: tuple[Duty, ...] = (
    # Approvals a stopped process left half-done: approved ones run, interrupted ones (their
    # executor's claim ran out) fail or resume: at taking the lease, then every 30 s.
    Duty("resume-approvals", 30.0, flow.resume),
    # Requests nobody decided in time expire, and their cards say so: every tick (a second).
    Duty("expire-approvals", 0.0, flow.expire_due),
    Duty("prune-samples", 3600.0, prune_samples),
    # Incidents whose announcement nobody holds any more (its replica died, or its post
    # failed and the claim ran out) are claimed and announced here: every two seconds.
    Duty("announce-unclaimed", 2.0, flows.sweep),
    # Watch rounds (watch.enabled) at watch.interval_s, in a thread of their own, never two at once.
    Duty("watch", 0.0, lambda ctx: ctx.watcher.tick(ctx)),
    # Status reminders and stale-update DMs to incident commanders, each claimed once: every second.
    Duty("incident-reminders", 1.0, reminders.run),
    # A backup when the newest is older than backups.every_hours (taken in a thread of its own).
    Duty("backup", 300.0, backups.scheduled),
    # Pages whose sender died are sent, and acknowledging or resolving an incident is
    # passed on to the pagers that paged for it: every tick.
    Duty("paging", 0.0, pager.duty),
    # Silences that ended: what they held back and still fires opens now.
    Duty("release-silences", 2.0, released.release_ended),
    # Maintenance windows: poll the due ones (each at its own interval), finish the ended ones.
    Duty("maintenance-windows", 0.0, maintenance.watch_windows),
    # Digests due in the ops channel (each due time claimed once in the database), and the
    # sampling round they are computed from (digests.sample_every_s; the first at taking the lease).
    Duty("post-digests", 30.0, digests.due_digests),
    Duty("digest-samples", 60.0, digests.sample),
)
