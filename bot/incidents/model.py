"""Incidents as the core sees them: plain data read from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.subject import Subject

__all__ = ["Event", "Incident", "Severity", "Status", "Subject"]


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]

    @classmethod
    def parse(cls, value: str | None, default: "Severity") -> "Severity":
        """Alert labels spell severity many ways; map the common ones."""
        if not value:
            return default
        v = value.strip().lower()
        aliases = {"page": "critical", "error": "critical", "high": "critical", "crit": "critical", "p1": "critical",
                   "warn": "warning", "medium": "warning", "p2": "warning", "low": "info", "none": "info",
                   "informational": "info", "p3": "info"}
        try:
            return cls(aliases.get(v, v))
        except ValueError:
            return default



@dataclass
class Incident:
    id: int
    ref: str
    title: str
    severity: Severity
    status: Status
    alerts_resolved: bool
    runbook_id: str
    subject: Subject
    labels: dict[str, str]
    source: str
    opened_by: str | None
    commander: str | None
    channel: str | None
    thread_ts: str | None
    checklist_ts: str | None
    dedicated_channel: str | None
    created_at: float
    updated_at: float
    acknowledged_at: float | None
    resolved_at: float | None
    resolved_by: str | None
    comms: str | None = None
    scribe: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED

    @classmethod
    def from_row(cls, row: Any) -> "Incident":
        m = row._mapping
        return cls(
            id=m["id"], ref=m["ref"], title=m["title"], severity=Severity(m["severity"]), status=Status(m["status"]),
            alerts_resolved=bool(m["alerts_resolved"]), runbook_id=m["runbook_id"],
            subject=Subject(cluster=m["cluster"], group=m["group_id"], topic=m["topic"], queue=m["queue"]),
            labels=dict(m["labels"] or {}), source=m["source"], opened_by=m["opened_by"], commander=m["commander"],
            channel=m["channel"], thread_ts=m["thread_ts"], checklist_ts=m["checklist_ts"],
            dedicated_channel=m["dedicated_channel"], created_at=m["created_at"], updated_at=m["updated_at"],
            acknowledged_at=m["acknowledged_at"], resolved_at=m["resolved_at"], resolved_by=m["resolved_by"],
            comms=m.get("comms"), scribe=m.get("scribe"),
        )


@dataclass(frozen=True)
class Event:
    at: float
    actor: str
    kind: str
    text: str
    data: dict[str, Any] | None = field(default=None)


def collapsed(events: list[Event]) -> list[Event | int]:
    """The timeline as people read it: each run of repeated alert deliveries (which
    Alertmanager sends every group interval) becomes the number of repeats."""
    out: list[Event | int] = []
    for e in events:
        if e.kind == "alert.repeat":
            if out and isinstance(out[-1], int):
                out[-1] += 1
            else:
                out.append(1)
        else:
            out.append(e)
    return out


REPEATS = "(alert group delivered again ×{n}, nothing changed)"
