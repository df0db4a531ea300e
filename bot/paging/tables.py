"""The paging outbox: one row per (incident, step, pager, action). A row is
written after the ladder step's claim and before anything is sent, then claimed
by one process (an owner and a lease, like an incident's announcement) to send
it; whoever finds a row whose owner died sends it instead."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from bot.db import metadata

pages = Table(
    "pages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    # The ladder step kind (platform, lead), "manual:<kind>", or "*" for an
    # acknowledge or resolve, which concerns the pager's alert as a whole.
    Column("step", String(32), nullable=False),
    Column("pager", String(64), nullable=False),  # its name under paging.pagers
    Column("action", String(16), nullable=False),  # trigger, acknowledge, resolve
    # pending -> sent | failed | cancelled (resolved before it went out) | skipped
    Column("status", String(16), nullable=False, default="pending"),
    Column("owner", String(64)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("last_error", Text),
    Column("detail", JSON),  # why the page went out (the step's reason), the vendor's answer
    # 1 on a trigger once its pager was told of the resolution (or told the bot): the
    # paging duty, every second, looks only at the unsettled ones.
    Column("settled", Integer, nullable=False, default=0),
    UniqueConstraint("incident_id", "step", "pager", "action", name="uq_page"),
    Index("ix_pages_status", "status"),
    Index("ix_pages_unsettled", "settled", "action", "status"),
)
