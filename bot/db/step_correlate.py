"""Migration step: subject claims and the subjects attached or merged into an incident
(bot.incidents.linking). Frozen DDL, as the step shipped."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection


def subjects(conn: Connection) -> None:
    m = MetaData()
    Table("incidents", m, Column("id", Integer, primary_key=True, autoincrement=True))  # for the foreign keys
    Table(
        "subject_claims", m,
        Column("key", String(64), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Index("ix_subject_claims_incident", "incident_id"),
    )
    Table(
        "incident_subjects", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("state", String(16), nullable=False),
        Column("runbook_id", String(100), nullable=False),
        Column("cluster", String(100)),
        Column("group_id", String(255)),
        Column("topic", String(255)),
        Column("queue", String(255)),
        Column("title", String(300), nullable=False),
        Column("source", String(32), nullable=False),
        Column("detail", String(100)),
        Column("from_ref", String(32)),
        Column("claim_key", String(64)),
        Column("dedup_keys", JSON, nullable=False),
        Column("split_to", Integer),
        Column("created_at", Float, nullable=False),
        Index("ix_incident_subjects_incident", "incident_id"),
    )
    for name in ("subject_claims", "incident_subjects"):
        m.tables[name].create(conn, checkfirst=True)
