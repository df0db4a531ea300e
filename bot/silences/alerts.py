"""Silences at the door of alert ingestion: the alerts of a delivery that an active
silence covers are recorded on it (what arrived and when; never dropped) and taken
out of the delivery, which goes on with the others, or not at all.

An alert is matched on its labels (the delivery's common labels under its own), its
`alertname`, and `runbook`: the runbook routing picks for it, so that a silence (or a
maintenance window) can name "broker-health alerts" whatever rule set sent them.
"""

from __future__ import annotations

from sqlalchemy import Engine

from bot import db
from bot.alerts import routing
from bot.alerts.models import Alert, AlertBatch
from bot.config import Settings
from bot.runbooks import Runbook
from bot.silences import store


def labels_of(batch: AlertBatch, alert: Alert, runbooks: dict[str, Runbook], settings: Settings) -> dict[str, str]:
    labels = {**batch.common_labels, **alert.labels}
    labels.setdefault("alertname", alert.name)
    labels["runbook"] = routing.route(runbooks, labels, batch.runbook, settings.dlq).runbook_id
    return labels


def split(engine: Engine, settings: Settings, runbooks: dict[str, Runbook], batch: AlertBatch,
          now: float) -> tuple[AlertBatch | None, list[int]]:
    """The delivery without its silenced alerts (None when every one is), and the ids
    of the silences that held some back. Costs one read when no silence is in force."""
    found = store.active(engine, now)
    if not found:
        return batch, []
    kept: list[Alert] = []
    held = []
    for alert in batch.alerts:
        silence = store.first_match(found, labels_of(batch, alert, runbooks, settings))
        if silence is None:
            kept.append(alert)
        else:
            held.append((alert, silence.id))
    if not held:
        return batch, []
    meta = {"title": batch.title, "common_labels": batch.common_labels, "runbook": batch.runbook}
    with db.write(engine) as conn:
        for alert, silence_id in held:
            store.hold(conn, silence_id=silence_id, source=batch.source, group_key=batch.group_key,
                       fingerprint=alert.fingerprint, name=alert.name, status=alert.status, severity=alert.severity,
                       labels=alert.labels, annotations=alert.annotations, starts_at=alert.starts_at,
                       ends_at=alert.ends_at, generator_url=alert.generator_url, batch=meta, now=now)
    ids = sorted({silence_id for _, silence_id in held})
    if not kept:
        return None, ids
    status = "firing" if any(a.status == "firing" for a in kept) else "resolved"
    return batch.model_copy(update={"alerts": kept, "status": status}), ids
