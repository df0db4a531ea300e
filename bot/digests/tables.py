"""What the digests keep: a claim per due digest (posted once even with two replicas),
and the sampling round's long-lived samples: topic end offsets, group commits and
members, schema versions as first seen. The lag and depth samples of bot.evidence
live a week; a quarter's trend needs these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.db import metadata

digest_runs = Table(
    "digest_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # daily, weekly, monthly, quarterly
    Column("due_at", Float, nullable=False),  # unix seconds of the scheduled time
    Column("claimed_by", String(64), nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("posted_at", Float),
    Column("error", String(500)),
    UniqueConstraint("kind", "due_at", name="uq_digest_runs_due"),
)

topic_samples = Table(
    "topic_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster", String(100), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partitions", Integer, nullable=False),
    Column("end_total", BigInteger, nullable=False),  # sum of the partitions' end offsets
    Column("ends", JSON, nullable=False),  # end offset per partition, by partition number
    Column("taken_at", Float, nullable=False),
    Index("ix_topic_samples_lookup", "cluster", "taken_at"),
)

group_samples = Table(
    "group_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster", String(100), nullable=False),
    Column("group_id", String(255), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("committed_total", BigInteger, nullable=False),  # sum of its committed offsets on the topic
    Column("members", Integer, nullable=False),  # members assigned a partition of the topic
    Column("taken_at", Float, nullable=False),
    Index("ix_group_samples_lookup", "cluster", "taken_at"),
)

schema_seen = Table(
    "schema_seen", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry", String(100), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("schema_id", Integer),
    Column("first_seen", Float, nullable=False),
    # Seen on the registry's first round: already there, registered at an unknown time.
    Column("baseline", Boolean, nullable=False),
    UniqueConstraint("registry", "subject", "version", name="uq_schema_seen_version"),
)

TopicRow = tuple[str, int, list[int]]  # topic, partitions, end offset per partition
GroupRow = tuple[str, str, int, int]  # group, topic, committed total, members


def claim(engine: Engine, kind: str, due_at: float, owner: str, now: float) -> bool:
    """True for exactly one caller per (kind, due time), whichever replica asks first."""
    try:
        with db.write(engine) as conn:
            conn.execute(insert(digest_runs).values(kind=kind, due_at=due_at, claimed_by=owner, claimed_at=now))
        return True
    except IntegrityError:
        return False


def finish(engine: Engine, kind: str, due_at: float, now: float, error: str | None = None) -> None:
    with db.write(engine) as conn:
        conn.execute(update(digest_runs).where(digest_runs.c.kind == kind, digest_runs.c.due_at == due_at)
                     .values(posted_at=None if error else now, error=error[:500] if error else None))


def runs(engine: Engine, kind: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(digest_runs).where(digest_runs.c.kind == kind).order_by(digest_runs.c.due_at))]


def record_topics(engine: Engine, cluster: str, taken_at: float, rows: list[TopicRow]) -> None:
    if rows:
        with db.write(engine) as conn:
            conn.execute(insert(topic_samples), [
                {"cluster": cluster, "topic": t, "partitions": n, "end_total": sum(ends), "ends": ends,
                 "taken_at": taken_at} for t, n, ends in rows])


def record_groups(engine: Engine, cluster: str, taken_at: float, rows: list[GroupRow]) -> None:
    if rows:
        with db.write(engine) as conn:
            conn.execute(insert(group_samples), [
                {"cluster": cluster, "group_id": g, "topic": t, "committed_total": c, "members": m,
                 "taken_at": taken_at} for g, t, c, m in rows])


def topic_history(engine: Engine, cluster: str, since: float, *,
                  with_ends: bool = True) -> dict[str, list[tuple[float, int, list[int]]]]:
    """Per topic: (taken_at, end_total, ends) oldest first. Without `with_ends` the
    per-partition offsets are not read (a quarter of them is a lot of JSON): ends is
    then a list of zeros as long as the topic's partitions."""
    ends_column = topic_samples.c.ends if with_ends else topic_samples.c.partitions
    query = (select(topic_samples.c.topic, topic_samples.c.taken_at, topic_samples.c.end_total, ends_column)
             .where(topic_samples.c.cluster == cluster, topic_samples.c.taken_at >= since)
             .order_by(topic_samples.c.taken_at))
    out: dict[str, list[tuple[float, int, list[int]]]] = {}
    with engine.connect() as conn:
        for topic, at, total, ends in conn.execute(query).all():  # one fetch: rows one by one cost more
            out.setdefault(topic, []).append((at, int(total), list(ends) if with_ends else [0] * int(ends)))
    return out


def daily_history(engine: Engine, cluster: str, since: float) -> dict[str, list[tuple[float, int, int]]]:
    """Per topic and UTC day: (time of the day's last sample, its end offsets summed,
    partitions), oldest first. End offsets only grow, so the day's largest sum is its
    last; a quarter of hourly samples comes back as one row a day (the trend's input)."""
    day = cast(topic_samples.c.taken_at, BigInteger) // 86400
    last = func.max(topic_samples.c.taken_at)
    query = (select(topic_samples.c.topic, last, func.max(topic_samples.c.end_total),
                    func.max(topic_samples.c.partitions))
             .where(topic_samples.c.cluster == cluster, topic_samples.c.taken_at >= since)
             .group_by(topic_samples.c.topic, day).order_by(topic_samples.c.topic, last))
    out: dict[str, list[tuple[float, int, int]]] = {}
    with engine.connect() as conn:
        for topic, at, total, partitions in conn.execute(query).all():
            out.setdefault(topic, []).append((float(at), int(total), int(partitions)))
    return out


def latest_sample(engine: Engine, cluster: str) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(topic_samples.c.taken_at))
                            .where(topic_samples.c.cluster == cluster)).scalar()


def group_history(engine: Engine, cluster: str, since: float) -> dict[tuple[str, str], list[tuple[float, int, int]]]:
    """Per (group, topic): (taken_at, committed_total, members) oldest first."""
    query = (select(group_samples.c.group_id, group_samples.c.topic, group_samples.c.taken_at,
                    group_samples.c.committed_total, group_samples.c.members)
             .where(group_samples.c.cluster == cluster, group_samples.c.taken_at >= since)
             .order_by(group_samples.c.taken_at))
    out: dict[tuple[str, str], list[tuple[float, int, int]]] = {}
    with engine.connect() as conn:
        for g, t, at, committed, members in conn.execute(query):
            out.setdefault((g, t), []).append((at, int(committed), int(members)))
    return out


def oldest_sample(engine: Engine, cluster: str) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(topic_samples.c.taken_at).where(topic_samples.c.cluster == cluster)
                            .order_by(topic_samples.c.taken_at).limit(1)).scalar()


def record_schemas(engine: Engine, registry: str, now: float, seen: dict[str, list[tuple[int, int | None]]]) -> int:
    """Stores the versions not seen before; a registry's first round is its baseline.
    Returns how many were new."""
    with engine.connect() as conn:
        known = {(s, v) for s, v in conn.execute(select(schema_seen.c.subject, schema_seen.c.version)
                                                 .where(schema_seen.c.registry == registry))}
    baseline = not known
    rows = [{"registry": registry, "subject": s, "version": v, "schema_id": sid, "first_seen": now,
             "baseline": baseline} for s, versions in seen.items() for v, sid in versions if (s, v) not in known]
    if rows:
        with db.write(engine) as conn:
            conn.execute(insert(schema_seen), rows)
    return len(rows)


def schema_changes(engine: Engine, registry: str, since: float) -> list[tuple[str, int, float]]:
    """(subject, version, first seen) of versions first seen since `since`, outside the baseline."""
    query = (select(schema_seen.c.subject, schema_seen.c.version, schema_seen.c.first_seen)
             .where(schema_seen.c.registry == registry, schema_seen.c.first_seen >= since,
                    schema_seen.c.baseline.is_(False))
             .order_by(schema_seen.c.subject, schema_seen.c.version))
    with engine.connect() as conn:
        return [(s, int(v), float(t)) for s, v, t in conn.execute(query)]


def schema_watch_start(engine: Engine, registry: str) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(schema_seen.c.first_seen).where(schema_seen.c.registry == registry)
                            .order_by(schema_seen.c.first_seen).limit(1)).scalar()


def prune(engine: Engine, now: float, keep_days: int) -> None:
    cutoff = now - keep_days * 86400
    with db.write(engine) as conn:
        conn.execute(delete(topic_samples).where(topic_samples.c.taken_at < cutoff))
        conn.execute(delete(group_samples).where(group_samples.c.taken_at < cutoff))
        conn.execute(delete(digest_runs).where(digest_runs.c.due_at < cutoff))
