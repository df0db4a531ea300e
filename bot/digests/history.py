"""Reading back the stored samples the digests compare with: lag totals per group
over time, a DLQ's depth observation nearest a time, and the incidents of a day."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, or_, select

from bot.digests.stats import Point, totals_by_time
from bot.evidence.depth_history import depth_samples
from bot.evidence.lag_history import lag_samples
from bot.incidents.tables import incidents


def lag_totals(engine: Engine, cluster: str, since: float, covers: Any) -> dict[str, list[Point]]:
    """Per group: its total lag at each sample time since `since`, oldest first (a
    partition never committed counts nothing, as /lag counts it)."""
    query = (select(lag_samples.c.group_id, lag_samples.c.taken_at, lag_samples.c.committed, lag_samples.c.log_end)
             .where(lag_samples.c.cluster == cluster, lag_samples.c.taken_at >= since))
    rows: dict[str, list[tuple[float, float]]] = {}
    with engine.connect() as conn:
        for group, at, committed, log_end in conn.execute(query):
            if covers(group):
                rows.setdefault(group, []).append((at, max(0, log_end - committed) if committed is not None else 0))
    return {g: totals_by_time(r) for g, r in rows.items()}


def oldest_lag_sample(engine: Engine, cluster: str) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(func.min(lag_samples.c.taken_at)).where(lag_samples.c.cluster == cluster)).scalar()


def depth_near(engine: Engine, kind: str, cluster: str, ts: float, tolerance: float) -> dict[str, dict[str, Any]]:
    """Per DLQ: the stored observation taken closest to `ts`, within `tolerance` seconds."""
    query = (select(depth_samples.c.name, depth_samples.c.taken_at, depth_samples.c.data)
             .where(depth_samples.c.kind == kind, depth_samples.c.cluster == cluster,
                    depth_samples.c.taken_at >= ts - tolerance, depth_samples.c.taken_at <= ts + tolerance))
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name, at, data in conn.execute(query):
            if name not in best or abs(at - ts) < best[name][0]:
                best[name] = (abs(at - ts), data)
    return {name: data for name, (_, data) in best.items()}


def oldest_depth_sample(engine: Engine, kind: str, cluster: str) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(func.min(depth_samples.c.taken_at)).where(
            depth_samples.c.kind == kind, depth_samples.c.cluster == cluster)).scalar()


def incidents_between(engine: Engine, since: float, until: float) -> list[dict[str, Any]]:
    """Incidents opened or resolved in [since, until), oldest first."""
    query = (select(incidents.c.ref, incidents.c.title, incidents.c.severity, incidents.c.status,
                    incidents.c.created_at, incidents.c.resolved_at)
             .where(or_(incidents.c.created_at.between(since, until), incidents.c.resolved_at.between(since, until)))
             .order_by(incidents.c.created_at))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
