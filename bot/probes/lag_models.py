"""Typed snapshots of consumer-group lag, as the probe returns them.

Plain dataclasses, not pydantic models: the probe builds one row per group
partition from values the Kafka client already typed, tens of thousands per look
at every group, where validation (or pydantic's model_construct, slower still)
cost more than the rest of the probe's Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True, kw_only=True)
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: list[tuple[str, int]] = field(default_factory=list)  # (topic, partition) assigned


@dataclass(slots=True, kw_only=True)
class PartitionLag:
    """One row of `kafka-consumer-groups --describe`, plus what the bot adds."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed here ("-" in Kafka's tool)
    log_start: int
    log_end: int
    member_id: str | None = None  # None: no active member is assigned this partition
    client_id: str | None = None
    host: str | None = None
    # Retention deleted messages the group had not read yet: Kafka's tool counts them as
    # lag, but they can never be consumed; `lag` then counts from the log start instead.
    retention_skipped: int = 0
    # The first unconsumed record (at the committed offset), when it was read: its
    # timestamp in ms and the timestamp's type. Kafka's own answer to "since when".
    oldest_unread_ms: int | None = None
    oldest_unread_type: str | None = None  # "CreateTime" or "LogAppendTime"

    @property
    def cli_lag(self) -> int | None:
        """The LAG column exactly as Kafka's consumer-groups command prints it."""
        return None if self.committed is None else self.log_end - self.committed

    @property
    def lag(self) -> int | None:
        committed = self.committed
        if committed is None:
            return None
        return self.log_end - (committed if committed > self.log_start else self.log_start)


@dataclass(slots=True, kw_only=True)
class GroupLag:
    cluster: str
    group: str
    state: str  # Stable, Empty, PreparingRebalance, CompletingRebalance, Dead, Unknown
    coordinator: int | None = None
    assignor: str | None = None
    members: list[Member] = field(default_factory=list)
    partitions: list[PartitionLag] = field(default_factory=list)
    error: str | None = None  # the group could not be described; its rows may be missing

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    def topic_lag(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in self.partitions:
            totals[p.topic] = totals.get(p.topic, 0) + (p.lag or 0)
        return totals

    def worst(self, n: int = 5) -> list[PartitionLag]:
        return sorted(self.partitions, key=lambda p: p.lag or 0, reverse=True)[:n]


@dataclass(slots=True, kw_only=True)
class LagSnapshot:
    cluster: str
    taken_at: datetime
    groups: list[GroupLag]
    partitions_per_topic: dict[str, int] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    # Lagging partitions whose oldest unread record was wanted but not read (bounded
    # count, deadline, or no record there); None when no record was looked for.
    oldest_unread_missed: int | None = None
