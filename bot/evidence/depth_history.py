"""Stored depth observations of DLQs and queues, so that every look can say how
fast a DLQ grows and what share of the source's traffic fails."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Engine, Float, Index, Integer, String, Table, delete, insert, select

from bot import db
from bot.db import metadata

depth_samples = Table(
    "depth_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # kafka-dlq, rabbit-queue
    Column("cluster", String(100), nullable=False),
    Column("name", String(255), nullable=False),
    Column("taken_at", Float, nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_depth_samples_lookup", "kind", "cluster", "name", "taken_at"),
)

WINDOW_SECONDS = 15 * 60
KEEP_SECONDS = 7 * 24 * 3600


def record(engine: Engine, kind: str, cluster: str, name: str, taken_at: float, data: dict[str, Any]) -> None:
    record_many(engine, kind, cluster, [(name, taken_at, data)])


def record_many(engine: Engine, kind: str, cluster: str, rows: list[tuple[str, float, dict[str, Any]]]) -> None:
    """Several observations in one write (a watch round looks at every DLQ at once)."""
    if not rows:
        return
    with db.write(engine) as conn:
        conn.execute(insert(depth_samples), [dict(kind=kind, cluster=cluster, name=name, taken_at=taken_at, data=data)
                                             for name, taken_at, data in rows])


def baseline(engine: Engine, kind: str, cluster: str, names: list[str], now: float,
             window: float = WINDOW_SECONDS) -> dict[str, dict[str, Any]]:
    """Per name, the oldest observation of the last `window` seconds (at least a
    second old): growth is measured across the whole window, not between two clicks."""
    query = (select(depth_samples.c.name, depth_samples.c.data)
             .where(depth_samples.c.kind == kind, depth_samples.c.cluster == cluster,
                    depth_samples.c.name.in_(names), depth_samples.c.taken_at >= now - window,
                    depth_samples.c.taken_at <= now - 1)
             .order_by(depth_samples.c.taken_at))
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for name, data in conn.execute(query):
            found.setdefault(name, data)
    return found


def prune(engine: Engine, now: float, keep_seconds: float = KEEP_SECONDS) -> int:
    with db.write(engine) as conn:
        return conn.execute(delete(depth_samples).where(depth_samples.c.taken_at < now - keep_seconds)).rowcount
