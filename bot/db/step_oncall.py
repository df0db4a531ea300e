"""Migration step of the on-call feature: overrides of local rotations and their
audit trail, the incident roles besides the commander, and the reminder claims.
Frozen DDL (see bot.db.migrations): never edit once shipped."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Connection


def step_oncall(conn: Connection) -> None:
    m = MetaData()
    Table("incidents", m, Column("id", Integer, primary_key=True, autoincrement=True))
    Table(
        "oncall_overrides", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("schedule", String(100), nullable=False),
        Column("team", String(100)),
        Column("user_id", String(64), nullable=False),
        Column("starts_at", Float, nullable=False),
        Column("ends_at", Float, nullable=False),
        Column("added_by", String(64), nullable=False),
        Column("added_at", Float, nullable=False),
        Index("ix_oncall_overrides_schedule", "schedule", "ends_at"),
    )
    Table(
        "oncall_audit", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", Float, nullable=False),
        Column("actor", String(64), nullable=False),
        Column("action", String(32), nullable=False),
        Column("schedule", String(100), nullable=False),
        Column("detail", Text, nullable=False),
    )
    Table(
        "incident_reminders", m,
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        Column("kind", String(16), primary_key=True),
        Column("due_at", Float, primary_key=True),
        Column("sent_by", String(64), nullable=False),
        Column("sent_at", Float, nullable=False),
    )
    for name in ("oncall_overrides", "oncall_audit", "incident_reminders"):
        m.tables[name].create(conn, checkfirst=True)
    for column in ("comms VARCHAR(64)", "scribe VARCHAR(64)"):
        conn.exec_driver_sql(f"ALTER TABLE incidents ADD COLUMN {column}")
