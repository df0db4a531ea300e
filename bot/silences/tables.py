"""The tables of silences, of what they held back, and of maintenance windows. Times
are unix seconds (float), as the incidents'."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from bot.db import metadata

silences = Table(
    "silences", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matchers", JSON, nullable=False),  # [Matcher.model_dump()]
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),  # a Slack user id, or "bot" for a maintenance window
    Column("created_at", Float, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("expired_at", Float),  # ended early by a person (or its window's end)
    Column("expired_by", String(64)),
    Column("maintenance_id", Integer),  # the maintenance window that made it
    # Its end is handled once: what it held back and still fires is handed to ingestion
    # again, by the timer owner, under a claim with a lease (bot.silences.store.claim_release).
    Column("release_owner", String(64)),
    Column("release_until", Float),
    Column("released_at", Float),
    Index("ix_silences_active", "released_at", "ends_at"),
)

# One row per alert (or watch breach) a silence held back, updated by later deliveries:
# what arrived last, when it first and last arrived, and how often.
silenced_alerts = Table(
    "silenced_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("silence_id", Integer, nullable=False),
    Column("source", String(32), nullable=False),  # alertmanager, grafana, generic, watch
    Column("group_key", String(400), nullable=False),  # the sender's group; what, for the watch
    Column("fingerprint", String(128), nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # firing, resolved: as it arrived last
    Column("severity", String(16)),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("starts_at", String(40)),
    Column("ends_at", String(40)),
    Column("generator_url", Text),
    Column("batch", JSON),  # the delivery's title, common labels and asked runbook, to deliver it again
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("resolved_seen", Float),  # when it arrived resolved
    Column("deliveries", Integer, nullable=False, default=1),
    UniqueConstraint("silence_id", "source", "group_key", "fingerprint", name="uq_silenced_alert"),
)

maintenance_windows = Table(
    "maintenance_windows", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),  # broker, cluster
    Column("cluster", String(100), nullable=False),
    Column("broker", String(32)),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("ended_by", String(64)),  # who ended it early
    Column("channel", String(64)),
    Column("thread_ts", String(32)),
    Column("baseline", JSON),  # the first reading
    Column("last", JSON),  # the last reading posted
    Column("next_poll_at", Float),  # claimed by moving it forward
    Column("finished_at", Float),  # when its end was first claimed
    # The end's posts (verdict, what fired, the parent's edit) are claimed like an
    # announcement: a process and a lease, taken over when it dies; finish_step counts
    # the posts done, so a take-over posts only what is missing.
    Column("finish_owner", String(64)),
    Column("finish_until", Float),
    Column("finish_step", Integer),
    Index("ix_maintenance_open", "finished_at"),
)
