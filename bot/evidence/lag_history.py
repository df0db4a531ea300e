"""Stored samples of committed and log-end offsets, one row per group partition per
probe: what the lag trend, lag in seconds and the catch-up estimate are read from."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine, Float, Index, Integer, String, Table, delete, insert, select

from bot import db
from bot.db import metadata
from bot.health.lag_trend import Sample
from bot.probes.lag_models import LagSnapshot

lag_samples = Table(
    "lag_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster", String(100), nullable=False),
    Column("group_id", String(255), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("committed", BigInteger, nullable=True),
    Column("log_end", BigInteger, nullable=False),
    Column("taken_at", Float, nullable=False),  # unix seconds
    Index("ix_lag_samples_lookup", "cluster", "group_id", "taken_at"),
)

PartitionKey = tuple[str, str, int]  # group, topic, partition
KEEP_SECONDS = 7 * 24 * 3600


COLUMNS = ("cluster", "group_id", "topic", "partition", "committed", "log_end", "taken_at")
# Placeholders of the DB-API paramstyles that take positional parameters.
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def record(engine: Engine, snap: LagSnapshot, only: set[PartitionKey] | None = None) -> None:
    """Stores the snapshot's rows (those of the partitions in `only`, when given)."""
    taken = snap.taken_at.timestamp()
    cluster = snap.cluster
    rows = [(cluster, g.group, p.topic, p.partition, p.committed, p.log_end, taken)
            for g in snap.groups for p in g.partitions
            if only is None or (g.group, p.topic, p.partition) in only]
    if not rows:
        return
    with db.write(engine) as conn:
        mark = _MARKS.get(conn.dialect.paramstyle)
        if mark is None:  # a driver with named parameters only: SQLAlchemy's own insert
            conn.execute(insert(lag_samples), [dict(zip(COLUMNS, row)) for row in rows])
            return
        # One executemany of plain tuples: a look at every group stores a row per group
        # partition (tens of thousands), and SQLAlchemy's per-row parameter processing
        # costs several times the insert itself.
        quote = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"INSERT INTO {quote(lag_samples.name)} ({', '.join(quote(c) for c in COLUMNS)}) "
                             f"VALUES ({', '.join([mark] * len(COLUMNS))})", rows)


def window(engine: Engine, cluster: str, groups: list[str], since: float) -> dict[PartitionKey, list[Sample]]:
    """Samples per group partition taken at or after `since`, oldest first."""
    query = (
        select(lag_samples.c.group_id, lag_samples.c.topic, lag_samples.c.partition,
               lag_samples.c.committed, lag_samples.c.log_end, lag_samples.c.taken_at)
        .where(lag_samples.c.cluster == cluster, lag_samples.c.taken_at >= since)
        .order_by(lag_samples.c.taken_at)
    )
    if len(groups) <= 500:  # beyond that one scan of the window is cheaper than a huge IN list
        query = query.where(lag_samples.c.group_id.in_(groups))
    wanted = set(groups)
    found: dict[PartitionKey, list[Sample]] = {}
    with engine.connect() as conn:
        rows = conn.execute(query).all()  # one fetch: row-by-row iteration costs more than the query
    for g, t, p, committed, log_end, taken_at in rows:
        if g in wanted:
            key = (g, t, p)
            sample = Sample(taken_at, committed, log_end)
            samples = found.get(key)
            if samples is None:
                found[key] = [sample]
            else:
                samples.append(sample)
    return found


def prune(engine: Engine, now: float, keep_seconds: float = KEEP_SECONDS) -> int:
    with db.write(engine) as conn:
        return conn.execute(delete(lag_samples).where(lag_samples.c.taken_at < now - keep_seconds)).rowcount


def total_at(engine: Engine, cluster: str, group: str, ts: float) -> int | None:
    """The group's total lag as sampled nearest to `ts` (each partition's closest sample)."""
    query = (select(lag_samples.c.topic, lag_samples.c.partition, lag_samples.c.committed, lag_samples.c.log_end,
                    lag_samples.c.taken_at)
             .where(lag_samples.c.cluster == cluster, lag_samples.c.group_id == group,
                    lag_samples.c.taken_at >= ts - 3600, lag_samples.c.taken_at <= ts + 3600))
    best: dict[tuple[str, int], tuple[float, int]] = {}
    with engine.connect() as conn:
        for topic, partition, committed, log_end, taken_at in conn.execute(query):
            if committed is None:
                continue
            distance = abs(taken_at - ts)
            key = (topic, partition)
            if key not in best or distance < best[key][0]:
                best[key] = (distance, max(0, log_end - committed))
    return sum(lag for _, lag in best.values()) if best else None
