"""Lag of consumer groups, judged: probe the cluster, store the samples, read the
window back and assess every group. The one entry point for /lag, the escalation
ladder's lag step and (later) watch mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from bot.config import Thresholds
from bot.evidence import lag_history
from bot.evidence.lag_memory import LagMemory
from bot.health.lag import GroupAssessment, assess
from bot.health.verdict import Level, Verdict, combine
from bot.probes import kafka_lag
from bot.probes.clients import Clients, kafka_config
from bot.probes.lag_models import LagSnapshot
from bot.text import plural

WINDOW_SECONDS = 15 * 60
MAX_REASONS = 25  # in the all-groups headline


@dataclass
class LagReport:
    snapshot: LagSnapshot
    groups: list[GroupAssessment]  # worst first
    verdict: Verdict


def record_and_assess(clients: Clients, engine: Engine, thresholds: Thresholds, *, cluster: str,
                      groups: list[str] | None = None, topic: str | None = None,
                      window_seconds: float = WINDOW_SECONDS, oldest_unread: bool | None = None,
                      keep: Callable[[str], bool] | None = None, memory: LagMemory | None = None) -> LagReport:
    """Probes the groups' lag, stores it as a sample, and assesses each group against
    the samples of the last `window_seconds`. With `memory` (the process's), the window
    comes from it; without, it is read back from the database.

    `oldest_unread` reads the first unconsumed record of the worst lagging partitions
    for an exact "behind" on the first look; by default only for named groups (the
    detail views): the all-groups look stays a few admin round trips."""
    settings = clients.settings.kafka[cluster]
    timeout = settings.request_timeout_s
    snap = kafka_lag.snapshot(clients.kafka_admin(cluster), cluster, groups, timeout, topic=topic, keep=keep,
                              offsets=lambda: clients.offsets_log(cluster))
    if oldest_unread if oldest_unread is not None else groups is not None:
        kafka_lag.read_oldest_unread(kafka_config(settings), snap, timeout)
    now = snap.taken_at.timestamp()
    if memory is None:
        lag_history.record(engine, snap)
        history = lag_history.window(engine, cluster, [g.group for g in snap.groups], now - window_seconds)
    else:
        added = memory.add_seeded(engine, snap, forget_missing=False)
        # A look at named groups stores every sample (a person following a group charts
        # each look); a look at every group stores those a minute apart, or a few
        # looks would write hundreds of thousands of rows.
        lag_history.record(engine, snap, only=None if groups is not None else added.kept)
        history = added.history
    assessed = [assess(g, history, snap.partitions_per_topic, thresholds, now) for g in snap.groups]
    assessed.sort(key=lambda a: (a.verdict.level, a.total_lag), reverse=True)
    overall = combine(*(a.verdict for a in assessed))
    if len(overall.reasons) > MAX_REASONS:
        # Hundreds of groups give thousands of reasons; the table below lists every
        # group's verdict, the headline keeps the worst few readable (and under Slack's limits).
        more = len(overall.reasons) - MAX_REASONS
        overall.reasons = [*overall.reasons[:MAX_REASONS],
                           f"… and {plural(more, 'more reason')}: each group's verdict is in the table"]
    if overall.level is Level.OK and len(assessed) != 1:
        total = sum(a.total_lag for a in assessed)
        overall = Verdict(reasons=[f"{plural(len(assessed), 'group')}, "
                                   f"{plural(total, 'message')} of lag in all; none above the thresholds"])
    return LagReport(snapshot=snap, groups=assessed, verdict=overall)
