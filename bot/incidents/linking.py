"""One incident per problem, in the database: the claims of open problems, the
subjects attached or merged into an incident, and where a new alert batch goes
(bot.incidents.correlation decides; this module reads what is open and writes
the answer, inside the alert's own transaction).

Two replicas receiving the same problem from two sources at once both find no
claim and both try to open; the claim's primary key refuses the second, whose
transaction is retried by bot.incidents.ingest and then joins the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from bot.alerts import routing
from bot.alerts.models import Alert, AlertBatch
from bot.config import Settings
from bot.incidents import store
from bot.incidents.correlation import (
    Affected,
    Problem,
    Root,
    attached_sentence,
    broker_of,
    claim_key,
    decide,
    value_of,
    what,
)
from bot.incidents.model import Incident, Status, Subject
from bot.incidents.tables import alert_dedup, incident_alerts, incident_subjects, incidents, subject_claims
from bot.reports.markup import escape
from bot.runbooks import Broker, Runbook

ACTIVE = "active"


@dataclass
class Placement:
    """Where a batch went instead of a new incident, and what its thread should say."""

    incident_id: int
    joined: str | None = None
    attached: list[str] = field(default_factory=list)


def with_cluster(settings: Settings, subject: Subject, scoped: bool = False) -> Subject:
    """An alert about a group, topic or queue (or, `scoped`, about a whole cluster) that
    names no cluster is about the default one (the one its checks use,
    bot.subject.pick_cluster): so it meets the watch's breaches and the incidents of
    alerts that do name that cluster. An alert about nothing named stays so."""
    if subject.cluster is not None or not (scoped or subject.group or subject.topic or subject.queue):
        return subject
    clusters = settings.rabbitmq if subject.broker is Broker.RABBITMQ else settings.kafka
    return replace(subject, cluster=next(iter(clusters), None))


def problem(book: Runbook, subject: Subject, labels: dict[str, str]) -> Problem:
    return Problem(book.id, subject, book.scope == "cluster", book.attach_to_cluster, broker_of(subject, labels))


def claimed(conn: Connection, key: str) -> int | None:
    """The open incident holding `key`. A claim left by a resolved incident is removed
    here (resolving does not know about claims), so the problem can open anew."""
    row = conn.execute(select(subject_claims.c.incident_id, incidents.c.status)
                       .join(incidents, incidents.c.id == subject_claims.c.incident_id)
                       .where(subject_claims.c.key == key)).first()
    if row is None:
        return None
    if row.status == Status.RESOLVED.value:
        conn.execute(subject_claims.delete().where(subject_claims.c.key == key))
        return None
    return int(row.incident_id)


def claim(conn: Connection, incident: Incident, book: Runbook) -> None:
    """Hold a new incident's problem (IntegrityError when another holds it: retry)."""
    key = claim_key(problem(book, incident.subject, incident.labels))
    if key is not None:
        conn.execute(insert(subject_claims), {"key": key, "incident_id": incident.id})


def _roots(conn: Connection, runbooks: dict[str, Runbook], cluster: str | None, since: float) -> list[Root]:
    scoped = [b.id for b in runbooks.values() if b.scope == "cluster"]
    where = ((incidents.c.status != Status.RESOLVED.value) & incidents.c.runbook_id.in_(scoped)
             & (incidents.c.created_at >= since)
             & (incidents.c.cluster == cluster if cluster is not None else incidents.c.cluster.is_(None)))
    rows = conn.execute(select(incidents.c.id, incidents.c.ref, incidents.c.cluster, incidents.c.created_at,
                               incidents.c.labels, incidents.c.group_id, incidents.c.topic, incidents.c.queue)
                        .where(where).order_by(incidents.c.created_at).limit(10))
    return [Root(r.id, r.ref, r.cluster, r.created_at,
                 broker_of(Subject(r.cluster, r.group_id, r.topic, r.queue), r.labels or {})) for r in rows]


def place(conn: Connection, settings: Settings, runbooks: dict[str, Runbook], batch: AlertBatch,
          labels: dict[str, str], book: Runbook, dedup: str, now: float) -> Placement | None:
    """Join or attach a batch that would open an incident (mapping its alert group
    `dedup` to the incident it goes to); None: it opens its own."""
    subject = with_cluster(settings, routing.subject(labels), book.scope == "cluster")
    wanted = problem(book, subject, labels)
    key = claim_key(wanted)
    holder = claimed(conn, key) if key is not None else None
    window = settings.incidents.correlation_window_minutes * 60
    roots = (_roots(conn, runbooks, subject.cluster, now - window)
             if holder is None and wanted.attaches and window else [])
    decision = decide(wanted, holder, roots, now, window)
    if decision.incident_id is None:
        return None
    target = store.get(conn, pk=decision.incident_id)
    assert target is not None
    conn.execute(insert(alert_dedup), {"key": dedup, "incident_id": target.id})
    if decision.kind == "join":
        return _join(conn, target, batch, subject, book, key, dedup, now)
    return _attach(conn, settings, runbooks, target, batch, labels, dedup, now)


def _rows(conn: Connection, incident_id: int, lock: bool = False) -> list[Any]:
    query = select(incident_subjects).where((incident_subjects.c.incident_id == incident_id)
                                            & (incident_subjects.c.state == ACTIVE)).order_by(incident_subjects.c.id)
    return list(conn.execute(query.with_for_update() if lock else query))


def _join(conn: Connection, target: Incident, batch: AlertBatch, subject: Subject, book: Runbook, key: str | None,
          dedup: str, now: float) -> Placement:
    # The subject may be one attached to (or merged into) the target: its alert
    # groups are remembered there, to go with it if it is split off.
    row = next((r for r in _rows(conn, target.id, lock=True) if key and r.claim_key == key), None)
    if row is not None and dedup not in row.dedup_keys:
        conn.execute(update(incident_subjects).where(incident_subjects.c.id == row.id)
                     .values(dedup_keys=[*row.dedup_keys, dedup]))
    store.add_event(conn, incident_id=target.id, actor=batch.source, kind="joined", now=now,
                    text=f"Alert group {batch.group_key[:80]} from {batch.source} joined: same subject as "
                         f"{target.ref} ({subject.describe()}, {book.id})",
                    data={"source": batch.source, "group_key": batch.group_key[:300]})
    return Placement(target.id, joined=f":link: Joined: {escape(batch.source)} reports the same problem "
                                       f"({what(subject)}, {escape(book.id)}); its alerts are followed here.")


def _alert_subjects(runbooks: dict[str, Runbook], settings: Settings, batch: AlertBatch, alerts: list[Alert],
                    labels: dict[str, str] | None) -> dict[tuple[Subject, str], Alert | None]:
    """Each distinct problem of these firing alerts (an Alertmanager group may hold
    several consumer groups), routed alone; with `labels`, the batch's own when none
    names a group, topic or queue."""
    found: dict[tuple[Subject, str], Alert | None] = {}
    for alert in alerts:
        mine = {**batch.common_labels, **alert.labels}
        subject = with_cluster(settings, routing.subject(mine))
        if subject.group or subject.topic or subject.queue:
            found.setdefault((subject, routing.route(runbooks, mine, batch.runbook, settings.dlq).runbook_id), alert)
    if not found and labels is not None:
        runbook_id = routing.route(runbooks, labels, batch.runbook, settings.dlq).runbook_id
        found[(with_cluster(settings, routing.subject(labels)), runbook_id)] = (
            alerts[0] if alerts else None)
    return found


def extend(conn: Connection, settings: Settings, runbooks: dict[str, Runbook], incident: Incident,
           batch: AlertBatch, dedup: str, new_alerts: list[Alert], now: float) -> list[str]:
    """New alerts in an alert group that attached subjects to `incident` (an
    Alertmanager group of every lagging group of a cluster grows as they start to
    lag) attach their subjects too. Returns what the thread should say."""
    firing = [a for a in new_alerts if a.status == "firing"]
    rows = _rows(conn, incident.id, lock=True) if firing else []
    if not any(r.kind == "attached" and dedup in r.dedup_keys for r in rows):
        return []
    return _attach(conn, settings, runbooks, incident, batch, None, dedup, now, firing).attached


def _attach(conn: Connection, settings: Settings, runbooks: dict[str, Runbook], root: Incident, batch: AlertBatch,
            labels: dict[str, str] | None, dedup: str, now: float, alerts: list[Alert] | None = None) -> Placement:
    existing = {(Subject(r.cluster, r.group_id, r.topic, r.queue), r.runbook_id): r for r in _rows(conn, root.id, True)}
    sentences = []
    found = _alert_subjects(runbooks, settings, batch, batch.firing if alerts is None else alerts, labels)
    for (subject, runbook_id), alert in found.items():
        row = existing.get((subject, runbook_id))
        if row is not None:  # attached before, by another alert group
            if dedup not in row.dedup_keys:
                conn.execute(update(incident_subjects).where(incident_subjects.c.id == row.id)
                             .values(dedup_keys=[*row.dedup_keys, dedup]))
            continue
        book = runbooks[runbook_id]
        key = claim_key(problem(book, subject, alert.labels if alert else {}))
        if key is not None and claimed(conn, key) is None:
            conn.execute(insert(subject_claims), {"key": key, "incident_id": root.id})
        else:
            key = None  # held by another open incident: it stays there
        detail = value_of(alert.labels, alert.annotations) if alert else None
        conn.execute(insert(incident_subjects), dict(
            incident_id=root.id, kind="attached", state=ACTIVE, runbook_id=runbook_id, cluster=subject.cluster,
            group_id=subject.group, topic=subject.topic, queue=subject.queue, title=batch.title[:300],
            source=batch.source, detail=detail, from_ref=None, claim_key=key, dedup_keys=[dedup], split_to=None,
            created_at=now))
        sentence = attached_sentence(runbook_id, subject, detail)
        sentences.append(sentence)
        store.add_event(conn, incident_id=root.id, actor=batch.source, kind="attached", now=now,
                        text=sentence.removeprefix(":link: "),
                        data={"runbook": runbook_id, "group_key": batch.group_key[:300]})
    return Placement(root.id, attached=sentences)


# ---------------------------------------------------------------- what the card lists

def alert_subject(labels: dict[str, str]) -> Subject:
    return routing.subject(labels)


def affected(engine: Engine, incident: Incident) -> list[Affected]:
    with engine.connect() as conn:
        return affected_in(conn, incident)


def affected_in(conn: Connection, incident: Incident) -> list[Affected]:
    """The subjects the incident stands for besides its own, each with the state of
    its alerts (alerts are told apart by the subject their labels name)."""
    rows = _rows(conn, incident.id)
    if not rows:
        return []
    alerts = conn.execute(select(incident_alerts.c.status, incident_alerts.c.labels)
                          .where(incident_alerts.c.incident_id == incident.id)).all()
    states: dict[Subject, list[str]] = {}
    for status, labels in alerts:
        states.setdefault(alert_subject(labels or {}), []).append(status)
    out = []
    for r in rows:
        subject = Subject(r.cluster, r.group_id, r.topic, r.queue)
        seen = states.get(subject, [])
        out.append(Affected(kind=r.kind, runbook_id=r.runbook_id, subject=subject, detail=r.detail,
                            from_ref=r.from_ref, title=r.title, firing=seen.count("firing"),
                            resolved=seen.count("resolved")))
    return out


def active(engine: Engine, incident: Incident) -> list[tuple[int, Subject]]:
    """The ids and subjects of what is attached to or merged into the incident now."""
    with engine.connect() as conn:
        return [(r.id, Subject(r.cluster, r.group_id, r.topic, r.queue)) for r in _rows(conn, incident.id)]
