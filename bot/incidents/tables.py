"""The incident tables. Times are unix seconds (float): the same on SQLite and
PostgreSQL, and trivially ordered."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from bot.db import metadata

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(32), unique=True),  # INC-2026-0042, set right after the insert
    Column("title", String(300), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open, acknowledged, resolved
    Column("alerts_resolved", Boolean, nullable=False, default=False),
    Column("runbook_id", String(100), nullable=False),
    Column("cluster", String(100)),
    Column("group_id", String(255)),
    Column("topic", String(255)),
    Column("queue", String(255)),
    Column("labels", JSON, nullable=False, default=dict),
    Column("source", String(32), nullable=False),  # slack, alertmanager, grafana, generic
    Column("opened_by", String(64)),
    Column("commander", String(64)),
    Column("channel", String(64)),  # where the parent message is
    Column("thread_ts", String(32)),  # the parent message; NULL until posted
    Column("checklist_ts", String(32)),  # the runbook checklist reply, edited in place
    Column("dedicated_channel", String(64)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("acknowledged_at", Float),
    Column("resolved_at", Float),
    Column("resolved_by", String(64)),
    # The announcement (parent, checklist, first checks) is claimed like a ladder step:
    # a replica's name and a lease; announced_at once it is out (bot.incidents.announcing).
    Column("announce_owner", String(64)),
    Column("announce_until", Float),
    Column("announced_at", Float),
    # Roles besides the commander (`/incident role comms|scribe`).
    Column("comms", String(64)),
    Column("scribe", String(64)),
    Index("ix_incidents_status", "status"),
    Index("ix_incidents_thread", "channel", "thread_ts"),
)

incident_events = Table(
    "incident_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),  # a Slack user id, "alertmanager", "bot"
    Column("kind", String(48), nullable=False),  # opened, acknowledged, alert.firing, check, ...
    Column("text", Text, nullable=False),
    Column("data", JSON),
    Index("ix_incident_events_incident", "incident_id", "at"),
)

incident_alerts = Table(
    "incident_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # firing, resolved
    Column("severity", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("starts_at", String(40)),
    Column("ends_at", String(40)),
    Column("generator_url", Text),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("deliveries", Integer, nullable=False, default=1),
    UniqueConstraint("incident_id", "fingerprint", name="uq_incident_alert"),
    Index("ix_incident_alerts_fingerprint", "fingerprint"),
)

# One row per alert group (or lone fingerprint) while its incident is open: the
# primary key makes two concurrent deliveries of a new group open one incident.
alert_dedup = Table(
    "alert_dedup", metadata,
    Column("key", String(400), primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
)

# Runbook checklist progress: which manual steps someone marked done.
checklist = Table(
    "incident_checklist", metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("step_id", String(100), primary_key=True),
    Column("done_by", String(64), nullable=False),
    Column("done_at", Float, nullable=False),
)

# One incident per problem (bot.incidents.linking). While an incident from alerts is
# open, its runbook and subject (cluster + group/topic/queue) are claimed here: the
# key is a hash of both, so two deliveries of the same problem from different
# sources, racing on two replicas, meet on this primary key and land in one incident.
subject_claims = Table(
    "subject_claims", metadata,
    Column("key", String(64), primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Index("ix_subject_claims_incident", "incident_id"),
)

# The subjects an incident stands for besides its own: lag and DLQ problems attached
# to a cluster-level incident, and incidents merged into it. Kept after a split
# (state "split", split_to the new incident) for the record.
incident_subjects = Table(
    "incident_subjects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # attached, merged
    Column("state", String(16), nullable=False),  # active, split
    Column("runbook_id", String(100), nullable=False),
    Column("cluster", String(100)),
    Column("group_id", String(255)),
    Column("topic", String(255)),
    Column("queue", String(255)),
    Column("title", String(300), nullable=False),
    Column("source", String(32), nullable=False),
    Column("detail", String(100)),  # the alert's value, when it says one (12,400)
    Column("from_ref", String(32)),  # merged: the incident that was folded in
    Column("claim_key", String(64)),  # its key in subject_claims, when it has one
    Column("dedup_keys", JSON, nullable=False),  # the alert groups that brought it: they move with a split
    Column("split_to", Integer),
    Column("created_at", Float, nullable=False),
    Index("ix_incident_subjects_incident", "incident_id"),
)

# One row per reminder sent (status reminder, stale re-notification) and due time: the
# primary key makes two replicas (or a restarted timer owner) send each one once.
reminders = Table(
    "incident_reminders", metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # status, stale
    Column("due_at", Float, primary_key=True),
    Column("sent_by", String(64), nullable=False),
    Column("sent_at", Float, nullable=False),
)
