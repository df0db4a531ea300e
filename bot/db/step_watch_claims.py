"""Migration steps: the watch's recoveries, and the end of a maintenance window, posted
once under a claim (frozen DDL; see bot.db.migrations)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Connection


def watch_recoveries(conn: Connection) -> None:
    m = MetaData()
    Table(
        "watch_recoveries", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(600), nullable=False),
        Column("incident_id", Integer),
        Column("state", JSON, nullable=False),
        Column("text", Text, nullable=False),
        Column("decided_at", Float, nullable=False),
        Column("owner", String(64)),
        Column("lease_until", Float),
        Column("posted_at", Float),
    )
    m.create_all(conn, checkfirst=True)


def maintenance_finish_claims(conn: Connection) -> None:
    for column in ("finish_owner VARCHAR(64)", "finish_until FLOAT", "finish_step INTEGER"):
        conn.exec_driver_sql(f"ALTER TABLE maintenance_windows ADD COLUMN {column}")
