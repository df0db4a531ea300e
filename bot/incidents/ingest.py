"""Alerts into incidents, exactly once per alert group while its incident is open.

Alertmanager delivers at least once (every group interval, twice from an HA pair),
so the same group must land in the same incident: the `alert_dedup` primary key
decides between concurrent deliveries, inside one transaction per webhook.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import Engine, bindparam, exists, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.alerts import routing
from bot.alerts.models import Alert, AlertBatch
from bot.config import Settings
from bot.incidents import ladder, linking, store
from bot.incidents.model import Incident, Severity, Status
from bot.incidents.tables import alert_dedup, incident_alerts, incidents
from bot.runbooks import Runbook
from bot.silences import alerts as silencing
from bot.text import plural


@dataclass
class Outcome:
    incident: Incident | None
    created: bool = False
    new_alerts: list[Alert] = field(default_factory=list)  # alerts this incident had not seen
    refired: list[Alert] = field(default_factory=list)  # resolved before, firing again
    resolved: list[Alert] = field(default_factory=list)  # firing before, resolved now
    severity_raised: bool = False
    all_resolved: bool = False  # every alert of the incident is resolved now
    duplicate: bool = False  # nothing new: a repeated delivery
    silenced: list[int] = field(default_factory=list)  # the silences that held some of its alerts back
    joined: str | None = None  # it joined an open incident of the same problem (bot.incidents.linking)
    attached: list[str] = field(default_factory=list)  # subjects it attached to a cluster-level incident


def dedup_key(batch: AlertBatch) -> str:
    return f"{batch.source}:{batch.group_key}"


def receive(engine: Engine, settings: Settings, runbooks: dict[str, Runbook], batch: AlertBatch,
            now: float, seen: SeenGroups) -> Outcome:
    """`seen`: what this process remembers of open groups (the running bot's
    ctx.caches.alert_groups), so that a repeated delivery costs one short write.
    Alerts an active silence covers are recorded on it and go no further."""
    rest, silenced = silencing.split(engine, settings, runbooks, batch, now)
    if rest is None:
        return Outcome(incident=None, silenced=silenced)
    outcome = _deliver(engine, settings, runbooks, rest, now, seen)
    outcome.silenced = silenced
    return outcome


def _deliver(engine: Engine, settings: Settings, runbooks: dict[str, Runbook], batch: AlertBatch,
             now: float, seen: SeenGroups) -> Outcome:
    repeat = _repeat(engine, seen, batch, now)
    if repeat is not None:
        return repeat
    for attempt in range(3):
        try:
            with db.write(engine) as conn:
                outcome = _receive(conn, settings, runbooks, batch, now)
            _remember(seen, batch, outcome)
            return outcome
        except IntegrityError:
            # Another delivery of the same new group committed first; read its incident.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- repeated deliveries
#
# Resends are most of Alertmanager's traffic. This process remembers what each
# open group looked like after its last delivery; a delivery that matches is
# counted with one conditional UPDATE per alert that also checks the database
# still agrees (the group still open and mapped to that incident, each alert's
# status and severity unchanged, whoever changed them: a person, another group,
# another replica). Any disagreement rolls back and takes the full path.

AlertStates = dict[str, tuple[str, str]]  # fingerprint -> (status, severity)


class SeenGroups:
    """What each open alert group looked like after its last delivery: the incident
    and its alerts' states, for the most recently delivered `limit` groups. The web
    server's threads share it, hence the lock. Losing it costs one full delivery."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._groups: OrderedDict[str, tuple[Incident, AlertStates]] = OrderedDict()

    def get(self, key: str) -> tuple[Incident, AlertStates] | None:
        with self._lock:
            return self._groups.get(key)

    def put(self, key: str, incident: Incident, states: AlertStates) -> None:
        with self._lock:
            self._groups[key] = (incident, states)
            self._groups.move_to_end(key)
            while len(self._groups) > self._limit:
                self._groups.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._groups.pop(key, None)


_COUNT_REPEAT = update(incident_alerts).where(
    (incident_alerts.c.incident_id == bindparam("iid")) & (incident_alerts.c.fingerprint == bindparam("fp"))
    & (incident_alerts.c.status == bindparam("st")) & (incident_alerts.c.severity == bindparam("sev"))
    & exists().where((alert_dedup.c.key == bindparam("key")) & (alert_dedup.c.incident_id == bindparam("iid")))
).values(last_seen=bindparam("now"), ends_at=bindparam("ends"), deliveries=incident_alerts.c.deliveries + 1)
_INSERT_DEDUP = insert(alert_dedup)
_INSERT_ALERT = insert(incident_alerts)
_GROUP_INCIDENT = select(alert_dedup.c.incident_id).where(alert_dedup.c.key == bindparam("key"))
_ALERT_INCIDENT = (select(incident_alerts.c.incident_id)
                   .join(incidents, incidents.c.id == incident_alerts.c.incident_id)
                   .where(incident_alerts.c.fingerprint.in_(bindparam("fps", expanding=True)),
                          incidents.c.status != Status.RESOLVED.value)
                   .limit(1))


def _record_repeat(conn: Connection, incident_id: int, batch: AlertBatch, now: float) -> None:
    store.add_event(conn, incident_id=incident_id, actor=batch.source, kind="alert.repeat", now=now,
                    text=f"{batch.source} delivered group {batch.group_key[:80]} again; nothing changed")


class _Changed(Exception):
    """The database no longer matches what this process remembered."""


def _alert_states(incident: Incident, batch: AlertBatch) -> AlertStates:
    return {a.fingerprint: (a.status, Severity.parse(a.severity, incident.severity).value) for a in batch.alerts}


def _remember(seen: SeenGroups, batch: AlertBatch, outcome: Outcome) -> None:
    incident = outcome.incident
    if incident is None or not incident.is_open:
        return
    seen.put(dedup_key(batch), incident, _alert_states(incident, batch))


def _repeat(engine: Engine, seen: SeenGroups, batch: AlertBatch, now: float) -> Outcome | None:
    key = dedup_key(batch)
    found = seen.get(key)
    if found is None:
        return None
    incident, states = found
    if _alert_states(incident, batch) != states:
        return None
    ends = {a.fingerprint: a.ends_at for a in batch.alerts}
    try:
        with db.write(engine) as conn:
            for fingerprint, (status, severity) in states.items():
                counted = conn.execute(_COUNT_REPEAT, {"iid": incident.id, "fp": fingerprint, "st": status,
                                                       "sev": severity, "key": key, "now": now,
                                                       "ends": ends[fingerprint]}).rowcount
                if counted < 1:
                    raise _Changed
            _record_repeat(conn, incident.id, batch, now)
    except _Changed:
        seen.forget(key)
        return None
    return Outcome(incident=incident, duplicate=True)


def _open_incident_for(conn: Connection, batch: AlertBatch) -> int | None:
    row = conn.execute(_GROUP_INCIDENT, {"key": dedup_key(batch)}).first()
    if row:
        return int(row[0])
    # A known alert arriving in another group still belongs to its open incident.
    row = conn.execute(_ALERT_INCIDENT, {"fps": [a.fingerprint for a in batch.alerts]}).first()
    if row:
        conn.execute(_INSERT_DEDUP, {"key": dedup_key(batch), "incident_id": row[0]})
        return int(row[0])
    return None


def _receive(conn: Connection, settings: Settings, runbooks: dict[str, Runbook], batch: AlertBatch,
             now: float) -> Outcome:
    pk = _open_incident_for(conn, batch)
    created, placed = False, None
    if pk is None:
        if not batch.firing:
            return Outcome(incident=None)  # resolved alerts of no open incident: nothing to do
        labels = {**batch.common_labels}
        for alert in batch.firing:
            labels = {**alert.labels, **labels}
        route = routing.route(runbooks, labels, batch.runbook, settings.dlq)
        book = runbooks[route.runbook_id]
        # The same problem already open, or a symptom of a cluster-level one: no new incident.
        placed = linking.place(conn, settings, runbooks, batch, labels, book, dedup_key(batch), now)
        pk = placed.incident_id if placed else None
    if pk is None:
        severity = max((Severity.parse(a.severity, Severity(book.severity)) for a in batch.firing),
                       key=lambda s: s.rank)
        subject = linking.with_cluster(settings, routing.subject(labels), book.scope == "cluster")
        incident = store.create(conn, title=batch.title, severity=severity, runbook_id=book.id, subject=subject,
                                labels=labels, source=batch.source, opened_by=None, now=now)
        conn.execute(_INSERT_DEDUP, {"key": dedup_key(batch), "incident_id": incident.id})
        store.add_event(conn, incident_id=incident.id, actor=batch.source, kind="routed", text=route.sentence,
                        now=now, data={"rule": route.rule, "labels": route.labels})
        ladder.plan(conn, incident_id=incident.id, opened_at=now, settings=settings, runbook=book)
        linking.claim(conn, incident, book)
        pk, created = incident.id, True
    else:
        found = store.get(conn, pk=pk)
        assert found is not None
        incident = found
    outcome = Outcome(incident=incident, created=created, joined=placed.joined if placed else None,
                      attached=placed.attached if placed else [])
    _merge_alerts(conn, incident, batch, now, outcome)
    if placed is None and not created and outcome.new_alerts:  # an alert group that attached subjects, grown
        outcome.attached = linking.extend(conn, settings, runbooks, incident, batch, dedup_key(batch),
                                          outcome.new_alerts, now)
    if created:
        # Its severity is already the worst of its firing alerts, and some are firing:
        # nothing for _after_merge to change, and `incident` is as stored.
        return outcome
    _after_merge(conn, incident, batch, now, outcome)
    outcome.incident = store.get(conn, pk=pk)
    return outcome


def _merge_alerts(conn: Connection, incident: Incident, batch: AlertBatch, now: float, outcome: Outcome) -> None:
    known = {} if outcome.created else {r.fingerprint: r for r in conn.execute(
        select(incident_alerts).where(incident_alerts.c.incident_id == incident.id))}
    for alert in batch.alerts:
        severity = Severity.parse(alert.severity, incident.severity).value
        row = known.get(alert.fingerprint)
        if row is None:
            conn.execute(_INSERT_ALERT, dict(
                incident_id=incident.id, fingerprint=alert.fingerprint, name=alert.name, status=alert.status,
                severity=severity, labels=alert.labels, annotations=alert.annotations, starts_at=alert.starts_at,
                ends_at=alert.ends_at, generator_url=alert.generator_url, first_seen=now, last_seen=now, deliveries=1,
            ))
            (outcome.new_alerts if alert.status == "firing" else outcome.resolved).append(alert)
            continue
        conn.execute(update(incident_alerts).where(incident_alerts.c.id == row.id).values(
            status=alert.status, severity=severity, ends_at=alert.ends_at, last_seen=now,
            deliveries=incident_alerts.c.deliveries + 1,
        ))
        if row.status != alert.status:
            (outcome.refired if alert.status == "firing" else outcome.resolved).append(alert)


def _after_merge(conn: Connection, incident: Incident, batch: AlertBatch, now: float, outcome: Outcome) -> None:
    firing = conn.execute(select(incident_alerts.c.severity).where(
        (incident_alerts.c.incident_id == incident.id) & (incident_alerts.c.status == "firing"))).all()
    worst = max((Severity(s[0]) for s in firing), key=lambda s: s.rank, default=None)
    updates: dict[str, object] = {}
    if worst is not None and worst.rank > incident.severity.rank:
        updates["severity"] = worst.value
        outcome.severity_raised = True
    all_resolved = not firing
    if all_resolved != incident.alerts_resolved:
        updates["alerts_resolved"] = all_resolved
        outcome.all_resolved = all_resolved
    if updates:
        store.set_fields(conn, incident_id=incident.id, now=now, **updates)
    parts = []
    if outcome.new_alerts:
        names = ", ".join(sorted({a.name for a in outcome.new_alerts}))
        parts.append(f"{plural(len(outcome.new_alerts), 'new alert')}: {names}")
    if outcome.refired:
        parts.append(f"{len(outcome.refired)} firing again")
    if outcome.resolved:
        parts.append(f"{len(outcome.resolved)} resolved")
    if outcome.severity_raised:
        parts.append(f"severity raised to {updates['severity']}")
    if parts:
        store.add_event(conn, incident_id=incident.id, actor=batch.source, kind="alert.update",
                        text="; ".join(parts), now=now)
    else:
        outcome.duplicate = True
        _record_repeat(conn, incident.id, batch, now)
