"""Migration step of the digests: frozen DDL of their tables as they shipped."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection


def digests(conn: Connection) -> None:
    m = MetaData()
    Table(
        "digest_runs", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String(16), nullable=False),
        Column("due_at", Float, nullable=False),
        Column("claimed_by", String(64), nullable=False),
        Column("claimed_at", Float, nullable=False),
        Column("posted_at", Float),
        Column("error", String(500)),
        UniqueConstraint("kind", "due_at", name="uq_digest_runs_due"),
    )
    Table(
        "topic_samples", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("cluster", String(100), nullable=False),
        Column("topic", String(255), nullable=False),
        Column("partitions", Integer, nullable=False),
        Column("end_total", BigInteger, nullable=False),
        Column("ends", JSON, nullable=False),
        Column("taken_at", Float, nullable=False),
        Index("ix_topic_samples_lookup", "cluster", "taken_at"),
    )
    Table(
        "group_samples", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("cluster", String(100), nullable=False),
        Column("group_id", String(255), nullable=False),
        Column("topic", String(255), nullable=False),
        Column("committed_total", BigInteger, nullable=False),
        Column("members", Integer, nullable=False),
        Column("taken_at", Float, nullable=False),
        Index("ix_group_samples_lookup", "cluster", "taken_at"),
    )
    Table(
        "schema_seen", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("registry", String(100), nullable=False),
        Column("subject", String(255), nullable=False),
        Column("version", Integer, nullable=False),
        Column("schema_id", Integer),
        Column("first_seen", Float, nullable=False),
        Column("baseline", Boolean, nullable=False),
        UniqueConstraint("registry", "subject", "version", name="uq_schema_seen_version"),
    )
    for name in ("digest_runs", "topic_samples", "group_samples", "schema_seen"):
        m.tables[name].create(conn, checkfirst=True)
