"""The ``replays`` table: one row per DLQ replay, so a restarted bot knows what was
running, can resume it, and two processes never run the same replay at once.

The row is bookkeeping and display, not the source of truth for what was moved:
that is kept on the broker, atomically with the moves themselves (the replay
group's committed offsets on Kafka, the progress marker on RabbitMQ; see
bot.actions.replay). A crash between a broker commit and the row's update only
leaves ``moved`` one batch behind until the resume reads the broker.

Ownership is a lease: ``owner`` (host:pid) and ``heartbeat_at``, refreshed every
batch. Another process may take a running replay over when the heartbeat is older
than the lease, or at once when the owner ran on this host and its pid is gone.
Taking over is a compare-and-set on (owner, heartbeat_at), so two resumers cannot
both win.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Column, Engine, Float, Index, Integer, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.actions.base import ActionContext, ActionError, Plan, short_id
from bot.db import metadata

State = Literal["running", "completed", "aborted", "failed"]
LEASE_S = 60.0

replays = Table(
    "replays", metadata,
    Column("id", String(16), primary_key=True),  # RPL-7F3K2
    Column("cluster", String(100), nullable=False),
    Column("broker", String(20), nullable=False),
    Column("dlq", String(255), nullable=False),
    Column("plan_hash", String(64), nullable=False),
    Column("plan", Text, nullable=False),  # the approved Plan as JSON: what a resume executes
    Column("state", String(20), nullable=False),
    Column("planned", Integer, nullable=False),
    Column("moved", Integer, nullable=False, default=0),
    Column("progress", Text, nullable=False, default="{}"),  # broker-specific JSON (target start offsets, ...)
    Column("message", Text, nullable=True),  # the last sentence about it
    Column("owner", String(255), nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("incident_id", String(100), nullable=True),
    Index("ix_replays_plan_hash", "plan_hash"),
    Index("ix_replays_state", "state"),
)


class ReplayRecord(BaseModel):
    id: str
    cluster: str
    broker: str
    dlq: str
    plan_hash: str
    plan: Plan
    state: State
    planned: int
    moved: int
    progress: dict[str, Any]
    message: str | None
    owner: str | None
    heartbeat_at: float | None
    created_at: datetime
    created_by: str
    incident_id: str | None

    def live_elsewhere(self, me: str, lease_s: float = LEASE_S) -> bool:
        """Another process holds this replay and may still be working on it."""
        if self.state != "running" or self.owner in (None, me) or self.heartbeat_at is None:
            return False
        if time.time() - self.heartbeat_at > lease_s:
            return False
        host, _, pid = (self.owner or "").rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return _pid_alive(int(pid))
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _record(row: Any) -> ReplayRecord:
    m = row._mapping
    return ReplayRecord(
        id=m["id"], cluster=m["cluster"], broker=m["broker"], dlq=m["dlq"], plan_hash=m["plan_hash"],
        plan=Plan.model_validate_json(m["plan"]), state=m["state"], planned=m["planned"], moved=m["moved"],
        progress=json.loads(m["progress"] or "{}"), message=m["message"], owner=m["owner"],
        heartbeat_at=m["heartbeat_at"], created_at=datetime.fromtimestamp(m["created_at"], UTC),
        created_by=m["created_by"], incident_id=m["incident_id"])


def create(engine: Engine, plan: Plan, ctx: ActionContext, planned: int) -> ReplayRecord:
    stamp = time.time()
    for _ in range(5):
        replay_id = short_id("RPL")
        try:
            with engine.begin() as conn:
                conn.execute(insert(replays).values(
                    id=replay_id, cluster=plan.cluster, broker=plan.broker, dlq=plan.target,
                    plan_hash=plan.plan_hash, plan=plan.model_dump_json(), state="running", planned=planned,
                    moved=0, progress="{}", owner=me(), heartbeat_at=stamp, created_at=stamp, updated_at=stamp,
                    created_by=ctx.actor, incident_id=ctx.incident_id))
        except IntegrityError:
            continue
        found = get(engine, replay_id)
        assert found is not None
        return found
    raise ActionError("Could not find a free replay id; try again.")


def get(engine: Engine, replay_id: str) -> ReplayRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(replays).where(replays.c.id == replay_id.strip().upper())).first()
    return _record(row) if row is not None else None


def for_plan(engine: Engine, plan_hash: str) -> ReplayRecord | None:
    """The newest replay of exactly this plan, if one was started."""
    with engine.connect() as conn:
        row = conn.execute(select(replays).where(replays.c.plan_hash == plan_hash)
                           .order_by(replays.c.created_at.desc()).limit(1)).first()
    return _record(row) if row is not None else None


def unfinished(engine: Engine) -> list[ReplayRecord]:
    """Replays a restarted bot should resume or report: running (possibly orphaned) or
    aborted part-way, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(replays).where(replays.c.state.in_(("running", "aborted")))
                            .order_by(replays.c.created_at))
        return [_record(r) for r in rows]


def claim(engine: Engine, record: ReplayRecord) -> ReplayRecord:
    """Make this process the owner; ActionError when another live process holds it."""
    mine = me()
    if record.live_elsewhere(mine):
        raise ActionError(f"Replay {record.id} is being run by {record.owner} (heartbeat "
                          f"{time.time() - (record.heartbeat_at or 0):.0f} s ago); it was not started twice.")
    stamp = time.time()
    owner_match = replays.c.owner.is_(None) if record.owner is None else replays.c.owner == record.owner
    beat_match = (replays.c.heartbeat_at.is_(None) if record.heartbeat_at is None
                  else replays.c.heartbeat_at == record.heartbeat_at)
    with engine.begin() as conn:
        won = conn.execute(update(replays).where(replays.c.id == record.id, owner_match, beat_match)
                           .values(owner=mine, heartbeat_at=stamp, state="running", updated_at=stamp)).rowcount
    if won != 1:
        raise ActionError(f"Replay {record.id} was taken over by another process just now; it was not started twice.")
    found = get(engine, record.id)
    assert found is not None
    return found


def beat(engine: Engine, replay_id: str, *, moved: int, progress: dict[str, Any] | None = None,
         message: str | None = None, state: State | None = None) -> bool:
    """Refresh the lease and record progress; only the owner writes. False when this
    process no longer owns the replay (another one took it over)."""
    stamp = time.time()
    values: dict[str, Any] = {"moved": moved, "heartbeat_at": stamp, "updated_at": stamp}
    if progress is not None:
        values["progress"] = json.dumps(progress)
    if message is not None:
        values["message"] = message
    if state is not None:
        values["state"] = state
    with engine.begin() as conn:
        return bool(conn.execute(update(replays).where(replays.c.id == replay_id, replays.c.owner == me())
                                 .values(**values)).rowcount)
