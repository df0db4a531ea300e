"""People regrouping incidents: split an attached subject off into an incident of its
own, or merge one incident into another. Each is one transaction whose first write
is a compare-and-set, so a double click or two people at once do it once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from bot.alerts import routing
from bot.config import Settings
from bot.incidents import ladder, linking, store
from bot.incidents.correlation import claim_key, what
from bot.incidents.model import Incident, Severity, Status, Subject
from bot.incidents.tables import alert_dedup, incident_alerts, incident_subjects, subject_claims
from bot.reports.markup import user
from bot.runbooks import Runbook


class Refused(Exception):
    """Why it cannot be done now, for the person who asked."""


@dataclass(frozen=True)
class Split:
    root: Incident
    new: Incident
    what: str  # the subject, in the core's markup


def split(conn: Connection, *, settings: Settings, runbooks: dict[str, Runbook], root: Incident, subject_id: int,
          actor: str, now: float) -> Split:
    """Make the attached (or merged) subject `subject_id` of `root` an incident of its
    own: its alerts, alert groups and claim move there, routed as its alerts are, with
    a ladder of its own from now."""
    moved = conn.execute(update(incident_subjects).where(
        (incident_subjects.c.id == subject_id) & (incident_subjects.c.incident_id == root.id)
        & (incident_subjects.c.state == linking.ACTIVE)).values(state="split")).rowcount
    if not moved:
        raise Refused(f"That subject is no longer attached to {root.ref} (split meanwhile?).")
    row = conn.execute(select(incident_subjects).where(incident_subjects.c.id == subject_id)).one()
    subject = Subject(row.cluster, row.group_id, row.topic, row.queue)
    alerts = [a for a in conn.execute(select(incident_alerts).where(incident_alerts.c.incident_id == root.id))
              if linking.alert_subject(a.labels or {}) == subject]
    firing = [a for a in alerts if a.status == "firing"]
    labels: dict[str, str] = {}
    for a in firing or alerts:
        labels = {**a.labels, **labels}
    labels = labels or {k: v for k, v in (("cluster", subject.cluster), ("consumergroup", subject.group),
                                         ("topic", subject.topic), ("queue", subject.queue)) if v}
    route = routing.route(runbooks, labels, None, settings.dlq)
    if route.runbook_id != row.runbook_id and row.runbook_id in runbooks:
        # Its alerts asked for their runbook (as the watch's do): as they would be routed.
        route = routing.route(runbooks, labels, row.runbook_id, settings.dlq)
    book = runbooks[route.runbook_id]
    severity = max((Severity(a.severity) for a in firing), key=lambda s: s.rank, default=Severity(book.severity))
    new = store.create(conn, title=row.title, severity=severity, runbook_id=book.id, subject=subject, labels=labels,
                       source=row.source, opened_by=None, now=now)
    store.add_event(conn, incident_id=new.id, actor=actor, kind="split", now=now,
                    text=f"Split from {root.ref} by {user(actor)}: {what(subject)} is an incident of its own")
    store.add_event(conn, incident_id=new.id, actor=row.source, kind="routed", text=route.sentence, now=now,
                    data={"rule": route.rule, "labels": route.labels})
    if alerts:
        conn.execute(update(incident_alerts).where(incident_alerts.c.id.in_([a.id for a in alerts]))
                     .values(incident_id=new.id))
    if row.dedup_keys:
        conn.execute(update(alert_dedup).where(alert_dedup.c.key.in_(row.dedup_keys)
                                               & (alert_dedup.c.incident_id == root.id)).values(incident_id=new.id))
    key = row.claim_key or claim_key(linking.problem(book, subject, labels))
    if key is not None:
        held = conn.execute(update(subject_claims).where((subject_claims.c.key == key)
                                                         & (subject_claims.c.incident_id == root.id))
                            .values(incident_id=new.id)).rowcount
        if not held and linking.claimed(conn, key) is None:
            conn.execute(insert(subject_claims), {"key": key, "incident_id": new.id})
    conn.execute(update(incident_subjects).where(incident_subjects.c.id == subject_id).values(split_to=new.id))
    ladder.plan(conn, incident_id=new.id, opened_at=now, settings=settings, runbook=book)
    if alerts and not firing:
        store.set_fields(conn, incident_id=new.id, now=now, alerts_resolved=True)
    _settle(conn, root, now)
    store.add_event(conn, incident_id=root.id, actor=actor, kind="split", now=now,
                    text=f"Split by {user(actor)}: {what(subject)} is now its own incident, {new.ref}",
                    data={"incident": new.ref})
    fresh = store.get(conn, pk=new.id)
    assert fresh is not None
    return Split(root=root, new=fresh, what=what(subject))


def merge(conn: Connection, *, source: Incident, target: Incident, actor: str, now: float) -> Incident:
    """Fold `source` into `target`: its alerts, alert groups, claims and attached
    subjects move; it is listed on the target's card and resolved ("merged into …"),
    which cancels its pending ladder steps. Returns the target as stored now."""
    if source.id == target.id:
        raise Refused(f"{source.ref} cannot be merged into itself.")
    fresh_target, fresh = store.get(conn, pk=target.id), store.get(conn, pk=source.id)
    if fresh_target is None or not fresh_target.is_open:
        raise Refused(f"{target.ref} is resolved; merge into an open incident (`/incident list`).")
    if fresh is None or not fresh.is_open:
        raise Refused(f"{source.ref} is resolved already; there is nothing to merge.")
    source = fresh
    own_keys = [r.key for r in conn.execute(select(alert_dedup.c.key).where(alert_dedup.c.incident_id == source.id))]
    attached_keys = {k for r in conn.execute(select(incident_subjects.c.dedup_keys).where(
        (incident_subjects.c.incident_id == source.id) & (incident_subjects.c.state == linking.ACTIVE)))
        for k in r.dedup_keys}
    own_claim = next((r.key for r in conn.execute(select(subject_claims.c.key).where(
        subject_claims.c.incident_id == source.id)) if r.key not in _row_claims(conn, source.id)), None)
    # Its alert groups and problems move before it is resolved (resolving frees what
    # it still holds); the resolution is the compare-and-set: if someone resolved it
    # meanwhile, Refused rolls the whole merge back.
    conn.execute(update(alert_dedup).where(alert_dedup.c.incident_id == source.id).values(incident_id=target.id))
    conn.execute(update(subject_claims).where(subject_claims.c.incident_id == source.id)
                 .values(incident_id=target.id))
    if not store.transition(conn, incident=source, to=Status.RESOLVED, actor=actor, now=now,
                            note=f"merged into {target.ref}"):
        raise Refused(f"{source.ref} was resolved meanwhile; nothing to merge.")
    known = {r.fingerprint for r in conn.execute(select(incident_alerts.c.fingerprint).where(
        incident_alerts.c.incident_id == target.id))}
    conn.execute(update(incident_alerts).where((incident_alerts.c.incident_id == source.id)
                                               & incident_alerts.c.fingerprint.not_in(known or {""}))
                 .values(incident_id=target.id))
    conn.execute(update(incident_subjects).where((incident_subjects.c.incident_id == source.id)
                                                 & (incident_subjects.c.state == linking.ACTIVE))
                 .values(incident_id=target.id))
    s = source.subject
    conn.execute(insert(incident_subjects), dict(
        incident_id=target.id, kind="merged", state=linking.ACTIVE, runbook_id=source.runbook_id, cluster=s.cluster,
        group_id=s.group, topic=s.topic, queue=s.queue, title=source.title[:300], source=source.source, detail=None,
        from_ref=source.ref, claim_key=own_claim, dedup_keys=[k for k in own_keys if k not in attached_keys],
        split_to=None, created_at=now))
    _settle(conn, fresh_target, now, at_least=None if source.alerts_resolved else source.severity)
    store.add_event(conn, incident_id=target.id, actor=actor, kind="merged", now=now,
                    text=f"{source.ref} ({source.title}; {s.describe()}) merged into this incident by {user(actor)}",
                    data={"incident": source.ref})
    merged = store.get(conn, pk=target.id)
    assert merged is not None
    return merged


def _row_claims(conn: Connection, incident_id: int) -> set[str]:
    return {r.claim_key for r in conn.execute(select(incident_subjects.c.claim_key).where(
        (incident_subjects.c.incident_id == incident_id) & (incident_subjects.c.state == linking.ACTIVE)))
        if r.claim_key}


def _settle(conn: Connection, incident: Incident, now: float, at_least: Severity | None = None) -> None:
    """Severity and "every alert resolved" after alerts came or went: severity only rises."""
    rows = conn.execute(select(incident_alerts.c.status, incident_alerts.c.severity).where(
        incident_alerts.c.incident_id == incident.id)).all()
    firing = [Severity(r.severity) for r in rows if r.status == "firing"]
    values: dict[str, object] = {"alerts_resolved": not firing} if rows else {}
    worst = max([*firing, *([at_least] if at_least else [])], key=lambda s: s.rank, default=None)
    if worst is not None and worst.rank > incident.severity.rank:
        values["severity"] = worst.value
    if values:
        store.set_fields(conn, incident_id=incident.id, now=now, **values)
