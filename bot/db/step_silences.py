"""Migration step: silences, what they held back, and maintenance windows (frozen DDL;
see bot.db.migrations)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.engine import Connection


def silences_and_maintenance(conn: Connection) -> None:
    m = MetaData()
    Table(
        "silences", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("matchers", JSON, nullable=False),
        Column("reason", Text, nullable=False),
        Column("created_by", String(64), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("starts_at", Float, nullable=False),
        Column("ends_at", Float, nullable=False),
        Column("expired_at", Float),
        Column("expired_by", String(64)),
        Column("maintenance_id", Integer),
        Column("release_owner", String(64)),
        Column("release_until", Float),
        Column("released_at", Float),
        Index("ix_silences_active", "released_at", "ends_at"),
    )
    Table(
        "silenced_alerts", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("silence_id", Integer, nullable=False),
        Column("source", String(32), nullable=False),
        Column("group_key", String(400), nullable=False),
        Column("fingerprint", String(128), nullable=False),
        Column("name", String(255), nullable=False),
        Column("status", String(16), nullable=False),
        Column("severity", String(16)),
        Column("labels", JSON, nullable=False),
        Column("annotations", JSON, nullable=False),
        Column("starts_at", String(40)),
        Column("ends_at", String(40)),
        Column("generator_url", Text),
        Column("batch", JSON),
        Column("first_seen", Float, nullable=False),
        Column("last_seen", Float, nullable=False),
        Column("resolved_seen", Float),
        Column("deliveries", Integer, nullable=False),
        UniqueConstraint("silence_id", "source", "group_key", "fingerprint", name="uq_silenced_alert"),
    )
    Table(
        "maintenance_windows", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("scope", String(16), nullable=False),
        Column("cluster", String(100), nullable=False),
        Column("broker", String(32)),
        Column("reason", Text, nullable=False),
        Column("created_by", String(64), nullable=False),
        Column("starts_at", Float, nullable=False),
        Column("ends_at", Float, nullable=False),
        Column("ended_by", String(64)),
        Column("channel", String(64)),
        Column("thread_ts", String(32)),
        Column("baseline", JSON),
        Column("last", JSON),
        Column("next_poll_at", Float),
        Column("finished_at", Float),
        Index("ix_maintenance_open", "finished_at"),
    )
    for name in ("silences", "silenced_alerts", "maintenance_windows"):
        m.tables[name].create(conn, checkfirst=True)
