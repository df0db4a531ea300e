"""Reading and changing incidents in the database. Every state change is a
compare-and-set UPDATE, so two replicas (or a double click) cannot both win."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.db import owners
from bot.incidents import claims
from bot.incidents.ladder import escalation_steps
from bot.incidents.model import Event, Incident, Severity, Status, Subject
from bot.incidents.tables import alert_dedup, checklist, incident_events, incidents, subject_claims

# Built once: the statements every new incident and every timeline entry run
# (building a statement costs more than running it on SQLite).
_INSERT_INCIDENT = insert(incidents)
_SET_REF = update(incidents).where(incidents.c.id == bindparam("pk")).values(ref=bindparam("new_ref"))
_INSERT_EVENT = insert(incident_events)


def format_ref(pk: int, created_at: float) -> str:
    year = datetime.fromtimestamp(created_at, tz=timezone.utc).year
    return f"INC-{year}-{pk:04d}"


def create(conn: Connection, *, title: str, severity: Severity, runbook_id: str, subject: Subject,
           labels: dict[str, str], source: str, opened_by: str | None, now: float) -> Incident:
    values = dict(
        title=title[:300], severity=severity.value, status=Status.OPEN.value, alerts_resolved=False,
        runbook_id=runbook_id, cluster=subject.cluster, group_id=subject.group, topic=subject.topic,
        queue=subject.queue, labels=labels, source=source, opened_by=opened_by, created_at=now, updated_at=now,
        # The process that stores it announces it, unless it dies first (bot.incidents.claims).
        announce_owner=owners.this_process(), announce_until=now + claims.TTL,
    )
    pk = conn.execute(_INSERT_INCIDENT, values).inserted_primary_key[0]
    ref = format_ref(pk, now)
    conn.execute(_SET_REF, {"pk": pk, "new_ref": ref})
    add_event(conn, incident_id=pk, actor=opened_by or source, kind="opened",
              text=f"Opened ({severity.value}) from {source}: {title}", now=now)
    # The row as just written (every other column is still NULL): no need to read it back.
    row = {column.name: None for column in incidents.c} | values | {"id": pk, "ref": ref}
    return Incident.from_row(SimpleNamespace(_mapping=row))


def get(conn: Connection, *, pk: int | None = None, ref: str | None = None) -> Incident | None:
    query = select(incidents)
    if pk is not None:
        query = query.where(incidents.c.id == pk)
    elif ref is not None:
        query = query.where(incidents.c.ref == ref.upper())
    else:
        raise ValueError("get needs pk or ref")
    row = conn.execute(query).first()
    return Incident.from_row(row) if row else None


def get_many(conn: Connection, pks: set[int]) -> dict[int, Incident]:
    if not pks:
        return {}
    return {row.id: Incident.from_row(row) for row in conn.execute(select(incidents).where(incidents.c.id.in_(pks)))}


def by_thread(conn: Connection, *, channel: str, thread_ts: str | None) -> Incident | None:
    """The incident of a thread, or of a dedicated incident channel."""
    where = incidents.c.dedicated_channel == channel
    if thread_ts:
        where = where | ((incidents.c.channel == channel) & (incidents.c.thread_ts == thread_ts))
    row = conn.execute(select(incidents).where(where).order_by(incidents.c.id.desc())).first()
    return Incident.from_row(row) if row else None


def list_open(conn: Connection, limit: int = 100) -> list[Incident]:
    rows = conn.execute(select(incidents).where(incidents.c.status != Status.RESOLVED.value)
                        .order_by(incidents.c.id.desc()).limit(limit))
    return [Incident.from_row(r) for r in rows]


def add_event(conn: Connection, *, incident_id: int, actor: str, kind: str, text: str, now: float | None = None,
              data: dict[str, Any] | None = None) -> None:
    conn.execute(_INSERT_EVENT, {"incident_id": incident_id, "at": now or time.time(), "actor": actor, "kind": kind,
                                 "text": text, "data": data})


def timeline(conn: Connection, *, incident_id: int, kinds: str | None = None) -> list[Event]:
    """The incident's events in order; `kinds`: only those whose kind starts so ("page.")."""
    where = incident_events.c.incident_id == incident_id
    if kinds:
        where = where & incident_events.c.kind.startswith(kinds, autoescape=True)
    rows = conn.execute(select(incident_events).where(where).order_by(incident_events.c.at, incident_events.c.id))
    return [Event(at=r.at, actor=r.actor, kind=r.kind, text=r.text, data=r.data) for r in rows]


def transition(conn: Connection, *, incident: Incident, to: Status, actor: str, now: float,
               note: str | None = None) -> bool:
    """Move to `to` if the incident is still where it was read; False if someone
    else moved it first (or it is already there)."""
    if incident.status is to or incident.status is Status.RESOLVED:
        return False
    values: dict[str, Any] = {"status": to.value, "updated_at": now}
    if to is Status.ACKNOWLEDGED:
        values.update(acknowledged_at=now, commander=incident.commander or actor)
    if to is Status.RESOLVED:
        values.update(resolved_at=now, resolved_by=actor)
        if incident.status is Status.OPEN:
            values.update(acknowledged_at=incident.acknowledged_at or now, commander=incident.commander or actor)
    changed = conn.execute(update(incidents).where(
        (incidents.c.id == incident.id) & (incidents.c.status == incident.status.value)).values(**values)).rowcount
    if not changed:
        return False
    text = {Status.ACKNOWLEDGED: "Acknowledged", Status.RESOLVED: "Resolved"}.get(to, to.value)
    add_event(conn, incident_id=incident.id, actor=actor, kind=to.value,
              text=f"{text}{': ' + note if note else ''}", now=now)
    if to is Status.RESOLVED:
        # Free the alert groups: the same group firing later is a new incident.
        conn.execute(alert_dedup.delete().where(alert_dedup.c.incident_id == incident.id))
        conn.execute(subject_claims.delete().where(subject_claims.c.incident_id == incident.id))  # its problems too
        # Only resolution stops the ladder, at once and with the resolution itself.
        conn.execute(update(escalation_steps).where(
            (escalation_steps.c.incident_id == incident.id) & (escalation_steps.c.status == "pending")
        ).values(status="cancelled"))
    return True


def set_fields(conn: Connection, *, incident_id: int, now: float, **values: Any) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(updated_at=now, **values))


def claim_thread(conn: Connection, *, incident_id: int, channel: str, thread_ts: str) -> bool:
    """Record the parent message, once; False if another poster got there first."""
    return bool(conn.execute(update(incidents).where(
        (incidents.c.id == incident_id) & incidents.c.thread_ts.is_(None)
    ).values(channel=channel, thread_ts=thread_ts)).rowcount)


def mark_step_done(conn: Connection, *, incident_id: int, step_id: str, actor: str, now: float) -> bool:
    """True for the first person to mark the step done; the primary key refuses a second."""
    try:
        with conn.begin_nested():  # a savepoint: PostgreSQL aborts the whole transaction otherwise
            conn.execute(insert(checklist).values(incident_id=incident_id, step_id=step_id, done_by=actor,
                                                  done_at=now))
    except IntegrityError:
        return False
    return True


def steps_done(conn: Connection, *, incident_id: int) -> dict[str, tuple[str, float]]:
    rows = conn.execute(select(checklist).where(checklist.c.incident_id == incident_id))
    return {r.step_id: (r.done_by, r.done_at) for r in rows}

