"""What people do to incidents: open, acknowledge, resolve, look up. Each call is
one transaction; repeating an action is harmless and says so."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bot import db
from bot.config import Settings
from bot.incidents import ladder, store
from bot.incidents.model import Event, Incident, Severity, Status, Subject
from bot.runbooks import Runbook


@dataclass
class Change:
    incident: Incident
    changed: bool  # False: it was already so (or resolved), nothing happened
    message: str


def open_manual(engine: Engine, *, title: str, severity: Severity, runbook: Runbook, subject: Subject,
                actor: str, now: float, settings: Settings) -> Incident:
    labels = {k: v for k, v in (("cluster", subject.cluster), ("consumergroup", subject.group),
                                ("topic", subject.topic), ("queue", subject.queue)) if v}
    with db.write(engine) as conn:
        incident = store.create(conn, title=title, severity=severity, runbook_id=runbook.id, subject=subject,
                                labels=labels, source="slack", opened_by=actor, now=now)
        ladder.plan(conn, incident_id=incident.id, opened_at=now, settings=settings, runbook=runbook)
        return incident


def get(engine: Engine, ref: str) -> Incident | None:
    with engine.connect() as conn:
        return store.get(conn, ref=ref)


def in_thread(engine: Engine, channel: str, thread_ts: str | None) -> Incident | None:
    """The incident whose thread (or dedicated channel) this is, if any."""
    with engine.connect() as conn:
        return store.by_thread(conn, channel=channel, thread_ts=thread_ts)


def list_open(engine: Engine, limit: int = 100) -> list[Incident]:
    with engine.connect() as conn:
        return store.list_open(conn, limit)


def timeline(engine: Engine, incident: Incident) -> list[Event]:
    with engine.connect() as conn:
        return store.timeline(conn, incident_id=incident.id)


def acknowledge(engine: Engine, incident: Incident, *, actor: str, now: float) -> Change:
    with db.write(engine) as conn:
        moved = store.transition(conn, incident=incident, to=Status.ACKNOWLEDGED, actor=actor, now=now)
        fresh = store.get(conn, pk=incident.id)
    assert fresh is not None
    if moved:
        return Change(fresh, True, f"{fresh.ref} acknowledged by <@{actor}>; they are the incident commander.")
    if fresh.status is Status.RESOLVED:
        return Change(fresh, False, f"{fresh.ref} is already resolved; nothing to acknowledge.")
    who = f"<@{fresh.commander}>" if fresh.commander else "someone"
    return Change(fresh, False, f"{fresh.ref} was already acknowledged by {who}.")


def resolve(engine: Engine, incident: Incident, *, actor: str, now: float, note: str | None = None) -> Change:
    with db.write(engine) as conn:
        moved = store.transition(conn, incident=incident, to=Status.RESOLVED, actor=actor, now=now, note=note)
        fresh = store.get(conn, pk=incident.id)
    assert fresh is not None
    if moved:
        return Change(fresh, True, f"{fresh.ref} resolved by <@{actor}>{': ' + note if note else ''}.")
    who = f"<@{fresh.resolved_by}>" if fresh.resolved_by else "someone"
    return Change(fresh, False, f"{fresh.ref} was already resolved by {who}.")


def record(engine: Engine, incident: Incident, *, actor: str, kind: str, text: str, now: float,
           data: dict[str, object] | None = None) -> None:
    with db.write(engine) as conn:
        store.add_event(conn, incident_id=incident.id, actor=actor, kind=kind, text=text, now=now, data=data)
