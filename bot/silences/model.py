"""Silences, what they held back, and maintenance windows as the core sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.silences.matchers import Matcher, describe
from bot.silences.matchers import match as match_all


@dataclass
class Silence:
    id: int
    matchers: list[Matcher]
    reason: str
    created_by: str
    created_at: float
    starts_at: float
    ends_at: float
    expired_at: float | None = None
    expired_by: str | None = None
    maintenance_id: int | None = None
    released_at: float | None = None

    @property
    def ref(self) -> str:
        return f"S-{self.id}"

    @property
    def until(self) -> float:
        """When it ends (or ended): its end, or its early expiry."""
        return min(self.ends_at, self.expired_at) if self.expired_at is not None else self.ends_at

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.until

    def text(self) -> str:
        return describe(self.matchers)

    @classmethod
    def from_row(cls, row: Any) -> Silence:
        return cls(id=row.id, matchers=[Matcher.model_validate(m) for m in row.matchers], reason=row.reason,
                   created_by=row.created_by, created_at=row.created_at, starts_at=row.starts_at,
                   ends_at=row.ends_at, expired_at=row.expired_at, expired_by=row.expired_by,
                   maintenance_id=row.maintenance_id, released_at=row.released_at)


def match(silence: Silence, labels: dict[str, str]) -> bool:
    """Whether the silence covers an alert (or a watch breach) with these labels. It
    says nothing of time: `active_silence_for` asks the store for the active ones."""
    return match_all(silence.matchers, labels)


@dataclass
class Held:
    """An alert or a watch breach a silence held back."""

    silence_id: int
    source: str
    group_key: str
    fingerprint: str
    name: str
    status: str
    severity: str | None
    labels: dict[str, str]
    first_seen: float
    last_seen: float
    deliveries: int
    resolved_seen: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None
    generator_url: str | None = None
    batch: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> Held:
        return cls(silence_id=row.silence_id, source=row.source, group_key=row.group_key,
                   fingerprint=row.fingerprint, name=row.name, status=row.status, severity=row.severity,
                   labels=dict(row.labels or {}), first_seen=row.first_seen, last_seen=row.last_seen,
                   deliveries=row.deliveries, resolved_seen=row.resolved_seen,
                   annotations=dict(row.annotations or {}), starts_at=row.starts_at, ends_at=row.ends_at,
                   generator_url=row.generator_url, batch=row.batch)


@dataclass
class Window:
    """A maintenance window: a broker or a whole cluster, its silences, its thread."""

    id: int
    scope: str  # broker, cluster
    cluster: str
    broker: str | None
    reason: str
    created_by: str
    starts_at: float
    ends_at: float
    ended_by: str | None
    channel: str | None
    thread_ts: str | None
    baseline: dict[str, Any] | None
    last: dict[str, Any] | None
    finished_at: float | None
    finish_step: int = 0  # the end's posts done (bot.silences.maintenance.finish)

    @property
    def ref(self) -> str:
        return f"M-{self.id}"

    def what(self) -> str:
        return (f"broker {self.broker} of cluster `{self.cluster}`" if self.scope == "broker"
                else f"cluster `{self.cluster}`")

    @classmethod
    def from_row(cls, row: Any) -> Window:
        return cls(id=row.id, scope=row.scope, cluster=row.cluster, broker=row.broker, reason=row.reason,
                   created_by=row.created_by, starts_at=row.starts_at, ends_at=row.ends_at, ended_by=row.ended_by,
                   channel=row.channel, thread_ts=row.thread_ts, baseline=row.baseline, last=row.last,
                   finished_at=row.finished_at, finish_step=row.finish_step or 0)
