"""The on-call tables: overrides of local rotations, and the audit trail of who
changed them. Times are unix seconds (float), as everywhere else."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from bot.db import metadata

overrides = Table(
    "oncall_overrides", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", String(100), nullable=False),  # a name under oncall.schedules
    Column("team", String(100)),  # the team it was asked for, if any
    Column("user_id", String(64), nullable=False),  # who covers
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_at", Float, nullable=False),
    Index("ix_oncall_overrides_schedule", "schedule", "ends_at"),
)

audit = Table(
    "oncall_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),  # override.added
    Column("schedule", String(100), nullable=False),
    Column("detail", Text, nullable=False),
)
