"""What the watch remembers between rounds (so a new timer owner carries on), the
pauses people set, and the last round's figures for /watch status."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Integer, String, Table, Text

from bot.db import metadata

# One row per watched key that is breaching now or feeds an open incident.
watch_breaches = Table(
    "watch_breaches", metadata,
    Column("key", String(600), primary_key=True),  # kind:cluster:name
    Column("kind", String(32), nullable=False),
    Column("runbook", String(100), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("streak", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("first_at", Float, nullable=False),
    Column("last_text", Text, nullable=False),
    Column("incident_id", Integer),
    Column("opened_level", Integer, nullable=False),
    Column("ok_since", Float),
)

# `/watch pause`: a subject (a key's cluster:name, or a cluster) not opened until `until`.
watch_pauses = Table(
    "watch_pauses", metadata,
    Column("target", String(600), primary_key=True),
    Column("until", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

# The last round per cluster: when, how long, what it could not see.
watch_rounds = Table(
    "watch_rounds", metadata,
    Column("cluster", String(200), primary_key=True),  # "kafka:local", "rabbit:local", "schema:main"
    Column("started_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("watched", Integer, nullable=False),
    Column("error", Text),
)

# A recovery the round decided, in the same write that forgot its breach: "Recovered"
# goes out from here, claimed by one process with a lease (a process killed before
# posting it leaves the row to the next round), and posted_at is set the moment Slack
# took it, so a take-over resolves the watch's alert without posting it again.
watch_recoveries = Table(
    "watch_recoveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(600), nullable=False),
    Column("incident_id", Integer),  # the incident the breach fed when it was decided
    Column("state", JSON, nullable=False),  # what the resolved alert is built from
    Column("text", Text, nullable=False),
    Column("decided_at", Float, nullable=False),
    Column("owner", String(64)),
    Column("lease_until", Float),
    Column("posted_at", Float),
)
