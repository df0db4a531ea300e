"""A watch breach as an alert: the incidents take it exactly as they take
Alertmanager's (bot.incidents.flows.take_alerts), grouped by its key."""

from __future__ import annotations

from bot.alerts.models import Alert, AlertBatch, fingerprint
from bot.watch.judge import Observation, State

SOURCE = "watch"


def batch(state: State, seen: Observation | None, *, firing: bool) -> AlertBatch:
    labels = dict(state.labels)
    text = seen.text if seen else state.last_text
    annotations = {"summary": text}
    if seen is not None and seen.value is not None:
        annotations["value"] = seen.value
    alert = Alert(fingerprint=fingerprint(labels), status="firing" if firing else "resolved",
                  name=labels.get("alertname", "Watch"), severity=state.level.name.lower(),
                  labels={**labels, "severity": state.level.name.lower()}, annotations=annotations)
    return AlertBatch(source=SOURCE, group_key=state.key, status=alert.status, title=text[:300], alerts=[alert],
                      common_labels=labels, runbook=state.runbook)
