"""Migration step: the watch's breaches, pauses and last rounds (frozen DDL)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Connection


def watch_tables(conn: Connection) -> None:
    m = MetaData()
    Table(
        "watch_breaches", m,
        Column("key", String(600), primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("runbook", String(100), nullable=False),
        Column("labels", JSON, nullable=False),
        Column("streak", Integer, nullable=False),
        Column("level", Integer, nullable=False),
        Column("first_at", Float, nullable=False),
        Column("last_text", Text, nullable=False),
        Column("incident_id", Integer),
        Column("opened_level", Integer, nullable=False),
        Column("ok_since", Float),
    )
    Table(
        "watch_pauses", m,
        Column("target", String(600), primary_key=True),
        Column("until", Float, nullable=False),
        Column("reason", Text, nullable=False),
        Column("actor", String(64), nullable=False),
        Column("created_at", Float, nullable=False),
    )
    Table(
        "watch_rounds", m,
        Column("cluster", String(200), primary_key=True),
        Column("started_at", Float, nullable=False),
        Column("duration_ms", Float, nullable=False),
        Column("watched", Integer, nullable=False),
        Column("error", Text),
    )
    for name in ("watch_breaches", "watch_pauses", "watch_rounds"):
        m.tables[name].create(conn, checkfirst=True)
