"""The schema's history, in order. Append; never reorder or edit a step that shipped.

Each step spells out its DDL with tables of its own, frozen as they were when the
step shipped, and never imports the features' tables: those describe today's
schema, and a step that created today's table would give a fresh database columns
that a migrated one never received. A new column is a new step (an ALTER TABLE),
and tests/test_schema.py fails until the migrated schema matches the features'
tables again.

Defaults such as `status = 'open'` are applied by SQLAlchemy when a row is
inserted (Python-side), so none of these tables has a server default.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection

from bot.db import step_correlate, step_paging, step_watch, step_watch_claims
from bot.db.step_approval_policy import approval_executors, approval_policy
from bot.db.step_digests import digests as _8_digests
from bot.db.step_oncall import step_oncall
from bot.db.step_silences import silences_and_maintenance

Migration = Callable[[Connection], None]


def _create(conn: Connection, metadata: MetaData, *names: str) -> None:
    # checkfirst: the shipped steps always did, so a table created before the
    # version table existed is kept as it is.
    for name in names:
        metadata.tables[name].create(conn, checkfirst=True)


def _incidents_key(metadata: MetaData) -> None:
    """incidents.id as step 2 created it, for the foreign keys of later steps to name
    (SQLAlchemy resolves a ForeignKey within its MetaData; this table is not created)."""
    Table("incidents", metadata, Column("id", Integer, primary_key=True, autoincrement=True))


def _1_lag_samples(conn: Connection) -> None:
    m = MetaData()
    Table(
        "lag_samples", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("cluster", String(100), nullable=False),
        Column("group_id", String(255), nullable=False),
        Column("topic", String(255), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("committed", BigInteger, nullable=True),
        Column("log_end", BigInteger, nullable=False),
        Column("taken_at", Float, nullable=False),
        Index("ix_lag_samples_lookup", "cluster", "group_id", "taken_at"),
    )
    _create(conn, m, "lag_samples")


def _2_incidents(conn: Connection) -> None:
    m = MetaData()
    Table(
        "incidents", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ref", String(32), unique=True),
        Column("title", String(300), nullable=False),
        Column("severity", String(16), nullable=False),
        Column("status", String(16), nullable=False),
        Column("alerts_resolved", Boolean, nullable=False),
        Column("runbook_id", String(100), nullable=False),
        Column("cluster", String(100)),
        Column("group_id", String(255)),
        Column("topic", String(255)),
        Column("queue", String(255)),
        Column("labels", JSON, nullable=False),
        Column("source", String(32), nullable=False),
        Column("opened_by", String(64)),
        Column("commander", String(64)),
        Column("channel", String(64)),
        Column("thread_ts", String(32)),
        Column("checklist_ts", String(32)),
        Column("dedicated_channel", String(64)),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
        Column("acknowledged_at", Float),
        Column("resolved_at", Float),
        Column("resolved_by", String(64)),
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_thread", "channel", "thread_ts"),
    )
    Table(
        "incident_events", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("at", Float, nullable=False),
        Column("actor", String(64), nullable=False),
        Column("kind", String(48), nullable=False),
        Column("text", Text, nullable=False),
        Column("data", JSON),
        Index("ix_incident_events_incident", "incident_id", "at"),
    )
    Table(
        "incident_alerts", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("fingerprint", String(128), nullable=False),
        Column("name", String(255), nullable=False),
        Column("status", String(16), nullable=False),
        Column("severity", String(16), nullable=False),
        Column("labels", JSON, nullable=False),
        Column("annotations", JSON, nullable=False),
        Column("starts_at", String(40)),
        Column("ends_at", String(40)),
        Column("generator_url", Text),
        Column("first_seen", Float, nullable=False),
        Column("last_seen", Float, nullable=False),
        Column("deliveries", Integer, nullable=False),
        UniqueConstraint("incident_id", "fingerprint", name="uq_incident_alert"),
        Index("ix_incident_alerts_fingerprint", "fingerprint"),
    )
    Table(
        "alert_dedup", m,
        Column("key", String(400), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    )
    Table(
        "incident_checklist", m,
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        Column("step_id", String(100), primary_key=True),
        Column("done_by", String(64), nullable=False),
        Column("done_at", Float, nullable=False),
    )
    _create(conn, m, "incidents", "incident_events", "incident_alerts", "alert_dedup", "incident_checklist")


def _3_depth_samples(conn: Connection) -> None:
    m = MetaData()
    Table(
        "depth_samples", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String(16), nullable=False),
        Column("cluster", String(100), nullable=False),
        Column("name", String(255), nullable=False),
        Column("taken_at", Float, nullable=False),
        Column("data", JSON, nullable=False),
        Index("ix_depth_samples_lookup", "kind", "cluster", "name", "taken_at"),
    )
    _create(conn, m, "depth_samples")


def _4_action_tables(conn: Connection) -> None:
    m = MetaData()
    Table(
        "restore_points", m,
        Column("id", String(16), primary_key=True),
        Column("cluster", String(100), nullable=False),
        Column("group_id", String(255), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("created_by", String(100), nullable=False),
        Column("incident_id", String(100), nullable=True),
        Column("reason", String(255), nullable=False),
        Column("offsets", Text, nullable=False),
        Index("ix_restore_points_group", "cluster", "group_id", "created_at"),
    )
    Table(
        "replays", m,
        Column("id", String(16), primary_key=True),
        Column("cluster", String(100), nullable=False),
        Column("broker", String(20), nullable=False),
        Column("dlq", String(255), nullable=False),
        Column("plan_hash", String(64), nullable=False),
        Column("plan", Text, nullable=False),
        Column("state", String(20), nullable=False),
        Column("planned", Integer, nullable=False),
        Column("moved", Integer, nullable=False),
        Column("progress", Text, nullable=False),
        Column("message", Text, nullable=True),
        Column("owner", String(255), nullable=True),
        Column("heartbeat_at", Float, nullable=True),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
        Column("created_by", String(100), nullable=False),
        Column("incident_id", String(100), nullable=True),
        Index("ix_replays_plan_hash", "plan_hash"),
        Index("ix_replays_state", "state"),
    )
    _create(conn, m, "restore_points", "replays")


def _5_escalation(conn: Connection) -> None:
    m = MetaData()
    _incidents_key(m)
    Table(
        "escalation_steps", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("minute", Float, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("due_at", Float, nullable=False),
        Column("status", String(16), nullable=False),
        Column("claimed_at", Float),
        Column("claimed_by", String(64)),
        Column("scheduled", Integer, nullable=False),
        Column("fired_at", Float),
        Column("late_by", Float),
        Column("attempts", Integer, nullable=False),
        Column("last_error", Text),
        UniqueConstraint("incident_id", "minute", name="uq_escalation_step"),
    )
    Table(
        "leases", m,
        Column("name", String(64), primary_key=True),
        Column("owner", String(64), nullable=False),
        Column("expires_at", Float, nullable=False),
    )
    _create(conn, m, "escalation_steps", "leases")


def _6_approvals(conn: Connection) -> None:
    m = MetaData()
    Table(
        "approval_requests", m,
        Column("id", String(16), primary_key=True),
        Column("incident_id", Integer),
        Column("kind", String(32), nullable=False),
        Column("cluster", String(100), nullable=False),
        Column("target", String(255), nullable=False),
        Column("plan", JSON, nullable=False),
        Column("plan_hash", String(32), nullable=False),
        Column("requester", String(64), nullable=False),
        Column("requested_at", Float, nullable=False),
        Column("expires_at", Float, nullable=False),
        Column("state", String(16), nullable=False),
        Column("decided_by", String(64)),
        Column("decided_at", Float),
        Column("reason", Text),
        Column("channel", String(64)),
        Column("card_ts", String(32)),
        Column("thread_ts", String(32)),
        Column("result", JSON),
        Column("verification", JSON),
    )
    Table(
        "approval_audit", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(16), nullable=False),
        Column("at", Float, nullable=False),
        Column("actor", String(64), nullable=False),
        Column("transition", String(16), nullable=False),
        Column("plan_hash", String(32), nullable=False),
        Column("detail", Text),
        Index("ix_approval_audit_request_id", "request_id"),
    )
    _create(conn, m, "approval_requests", "approval_audit")


def _7_announce_claims(conn: Connection) -> None:
    """Who is announcing an incident (a replica and its lease), and when that was done.
    Incidents that already have their parent message count as announced."""
    for column in ("announce_owner VARCHAR(64)", "announce_until FLOAT", "announced_at FLOAT"):
        conn.exec_driver_sql(f"ALTER TABLE incidents ADD COLUMN {column}")  # FLOAT: as step 2's columns
    conn.exec_driver_sql("UPDATE incidents SET announced_at = created_at WHERE thread_ts IS NOT NULL")


STEPS: list[Migration] = [_1_lag_samples, _2_incidents, _3_depth_samples, _4_action_tables, _5_escalation,
                          _6_approvals, _7_announce_claims, step_watch.watch_tables, step_oncall,
                          step_paging.paging_outbox, approval_policy,
                          silences_and_maintenance, _8_digests, step_correlate.subjects,
                          step_watch_claims.watch_recoveries, step_watch_claims.maintenance_finish_claims,
                          approval_executors]
