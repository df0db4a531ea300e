"""Silences and maintenance windows: what keeps the bot quiet while people work.

A silence is a set of Alertmanager-style label matchers (or subject shorthands), a
time span and a reason. Alerts and watch breaches it covers are recorded on it and
open no incident; when it ends, what still fires opens as usual. A maintenance
window (bot.silences.maintenance) makes the silences its work is expected to need,
posts the guide's rolling-upgrade checklist, follows under-replicated partitions and
lag in its thread, and posts a health verdict at its end.

The watch asks `active_silence_for(engine, labels_for(...), now)` before it opens an
incident for a breach, and calls `record_suppressed` when a silence holds it back.
A round with many breaches reads the silences once (`active(engine, now)`) and asks
`first_match(found, labels)` for each.
"""

from __future__ import annotations

from bot.silences.model import Silence, match
from bot.silences.store import active, active_silence_for, first_match, record_suppressed
from bot.subject import Subject

__all__ = ["Silence", "active", "active_silence_for", "first_match", "labels_for", "match", "record_suppressed"]


def labels_for(subject: Subject, kind: str, severity: str, *, broker: str | int | None = None,
               runbook: str | None = None, **extra: str) -> dict[str, str]:
    """The labels a watch breach is matched with, named as an alert's would be:
    `alertname` (the breach's kind, e.g. WatchLagHigh), `severity`, `cluster`, `group`,
    `topic`, `queue`, `broker`, and `runbook` (the runbook its incident follows, so
    that a maintenance window's `runbook=…` silences cover it as they cover alerts)."""
    labels = {"alertname": kind, "severity": severity, "cluster": subject.cluster, "group": subject.group,
              "topic": subject.topic, "queue": subject.queue,
              "broker": None if broker is None else str(broker), "runbook": runbook, **extra}
    return {k: v for k, v in labels.items() if v}
