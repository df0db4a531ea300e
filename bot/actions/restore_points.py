"""Restore points: a consumer group's committed offsets (all its topic-partitions),
saved in the database before every offset reset and on demand, and written as CSV
exactly as ``kafka-consumer-groups --reset-offsets --export`` writes it for one group:
one ``topic,partition,offset`` line per partition, each ending in a newline, no header
(Kafka's tool prints that string with println, so its stdout has one more newline).
The same CSV is what ``kafka-consumer-groups --reset-offsets --from-file`` reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Column, Engine, Float, Index, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from bot.actions.base import ActionContext, ActionError, short_id
from bot.actions.kafka_util import committed_offsets
from bot.backups import archive
from bot.backups import offsets as backup_offsets
from bot.backups.model import BackupError
from bot.db import metadata

restore_points = Table(
    "restore_points", metadata,
    Column("id", String(16), primary_key=True),  # RP-7F3K2
    Column("cluster", String(100), nullable=False),
    Column("group_id", String(255), nullable=False),
    Column("created_at", Float, nullable=False),  # unix seconds
    Column("created_by", String(100), nullable=False),
    Column("incident_id", String(100), nullable=True),
    Column("reason", String(255), nullable=False),
    Column("offsets", Text, nullable=False),  # JSON [[topic, partition, offset], ...]
    Index("ix_restore_points_group", "cluster", "group_id", "created_at"),
)


class SavedOffset(BaseModel):
    topic: str
    partition: int
    offset: int


class RestorePoint(BaseModel):
    id: str
    cluster: str
    group: str
    created_at: datetime
    created_by: str
    incident_id: str | None = None
    reason: str
    offsets: list[SavedOffset]

    @property
    def csv(self) -> str:
        return to_csv(self.offsets)

    @property
    def filename(self) -> str:
        return f"{self.id}-{self.group}.csv"


def to_csv(offsets: list[SavedOffset]) -> str:
    """Kafka's --export format for one group (bot.backups.offsets writes it, for one
    group or all of them)."""
    return backup_offsets.group_csv({(o.topic, o.partition): o.offset for o in offsets})


def save(engine: Engine, cluster: str, group: str, offsets: dict[tuple[str, int], int], *, created_by: str,
         incident_id: str | None, reason: str) -> RestorePoint:
    rows = [SavedOffset(topic=t, partition=p, offset=o) for (t, p), o in sorted(offsets.items())]
    created = datetime.now(UTC)
    for _ in range(5):  # a clash of random ids is rare; a few tries make it vanishingly so
        point = RestorePoint(id=short_id("RP"), cluster=cluster, group=group, created_at=created,
                             created_by=created_by, incident_id=incident_id, reason=reason, offsets=rows)
        try:
            with engine.begin() as conn:
                conn.execute(insert(restore_points).values(
                    id=point.id, cluster=cluster, group_id=group, created_at=created.timestamp(),
                    created_by=created_by, incident_id=incident_id, reason=reason[:255],
                    offsets=json.dumps([[o.topic, o.partition, o.offset] for o in rows])))
            return point
        except IntegrityError:
            continue
    raise ActionError("Could not find a free restore point id; try again.")


def _point(row: object) -> RestorePoint:
    m = row._mapping  # type: ignore[attr-defined]
    return RestorePoint(
        id=m["id"], cluster=m["cluster"], group=m["group_id"],
        created_at=datetime.fromtimestamp(m["created_at"], UTC), created_by=m["created_by"],
        incident_id=m["incident_id"], reason=m["reason"],
        offsets=[SavedOffset(topic=t, partition=p, offset=o) for t, p, o in json.loads(m["offsets"])])


def get(engine: Engine, point_id: str) -> RestorePoint | None:
    with engine.connect() as conn:
        row = conn.execute(select(restore_points).where(restore_points.c.id == point_id.strip().upper())).first()
    return _point(row) if row is not None else None


def export_offsets(ctx: ActionContext, cluster: str, group: str) -> RestorePoint:
    """/export-offsets: save a restore point on demand. Refuses a group with no
    committed offsets, since restoring it would do nothing."""
    if cluster not in ctx.clients.settings.kafka:
        raise ActionError(f"No Kafka cluster named {cluster} is configured.")
    timeout = ctx.clients.settings.kafka[cluster].request_timeout_s
    offsets = committed_offsets(ctx.clients.kafka_admin(cluster), group, timeout)
    if not offsets:
        raise ActionError(f"Group {group} has no committed offsets on {cluster}: there is nothing to export.")
    return save(ctx.engine, cluster, group, offsets, created_by=ctx.actor, incident_id=ctx.incident_id,
                reason="on demand (/export-offsets)")


def from_backup(ctx: ActionContext, cluster: str, backup_ref: str, group: str, into: str | None = None) -> RestorePoint:
    """A restore point made of a backup's offsets CSV for one group (restored as `into`
    when given, e.g. a new group): the backup's offsets then go through /restore-offsets
    like any restore point, with its plan, approval and verification."""
    try:
        backup = archive.open_backup(ctx.clients.settings.backups.directory, backup_ref)
        entry = next((f for f in backup.entries("offsets") if f.cluster == cluster), None)
        if entry is None:
            raise ActionError(f"Backup {backup.id} holds no offsets of Kafka cluster {cluster}.")
        saved = backup_offsets.parse_csv(backup.text(entry))
    except BackupError as exc:
        raise ActionError(str(exc)) from None
    if group not in saved:
        raise ActionError(f"Backup {backup.id} holds no committed offsets of group {group} on {cluster}.")
    return save(ctx.engine, cluster, into or group, saved[group], created_by=ctx.actor, incident_id=ctx.incident_id,
                reason=f"from backup {backup.id} (group {group})")
