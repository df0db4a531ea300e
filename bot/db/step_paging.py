"""Migration step: the paging outbox (bot.paging.tables), frozen as it shipped."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.engine import Connection


def paging_outbox(conn: Connection) -> None:
    m = MetaData()
    Table("incidents", m, Column("id", Integer, primary_key=True, autoincrement=True))  # for the foreign key only
    Table(
        "pages", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("step", String(32), nullable=False),
        Column("pager", String(64), nullable=False),
        Column("action", String(16), nullable=False),
        Column("status", String(16), nullable=False),
        Column("owner", String(64)),
        Column("lease_until", Float),
        Column("attempts", Integer, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("sent_at", Float),
        Column("last_error", Text),
        Column("detail", JSON),
        Column("settled", Integer, nullable=False),
        UniqueConstraint("incident_id", "step", "pager", "action", name="uq_page"),
        Index("ix_pages_status", "status"),
        Index("ix_pages_unsettled", "settled", "action", "status"),
    )
    m.tables["pages"].create(conn, checkfirst=True)
