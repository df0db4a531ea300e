"""What a maintenance window follows: the brokers answering, under-replicated and
offline partitions, and the total lag of the cluster's consumer groups; read with the
existing probes, and compared with the last reading posted (pure), so that the thread
hears of changes, not of every poll."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import KafkaException

from bot.config import MaintenanceSettings
from bot.probes import kafka_lag
from bot.probes.clients import Clients
from bot.probes.kafka_cluster import KafkaClusterSnapshot, kafka_cluster_snapshot
from bot.text import plural

log = logging.getLogger(__name__)


@dataclass
class Reading:
    at: float
    reachable: bool
    brokers: list[int] = field(default_factory=list)
    partitions: int = 0
    urp: int = 0
    offline: int = 0
    lag: int | None = None  # None: the groups could not be read
    groups: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reading:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def summary(self) -> str:
        if not self.reachable:
            return f"Kafka unreachable ({self.error or 'no answer'})"
        lag = "unreadable" if self.lag is None else f"{plural(self.lag, 'message')} in {plural(self.groups, 'group')}"
        ids = ", ".join(str(b) for b in self.brokers) or "none"
        return (f"{plural(len(self.brokers), 'broker')} answering ({ids}); {self.urp} of "
                f"{plural(self.partitions, 'partition')} under-replicated, {self.offline} offline; total lag {lag}")


def read(clients: Clients, cluster: str, settings: MaintenanceSettings) -> tuple[Reading, KafkaClusterSnapshot]:
    """One reading; never raises for an unreachable cluster (the reading says so)."""
    snap = kafka_cluster_snapshot(clients, cluster)
    now = time.time()
    if not snap.reachable:
        return Reading(at=now, reachable=False, error=snap.error), snap
    reading = Reading(at=now, reachable=True, brokers=snap.broker_ids, partitions=snap.partition_count,
                      urp=len(snap.under_replicated), offline=len(snap.offline))
    timeout = clients.settings.kafka[cluster].request_timeout_s
    admin = clients.kafka_admin(cluster)
    try:
        ids = sorted(kafka_lag.group_states(admin, timeout))
        if settings.lag_groups:
            wanted = re.compile(settings.lag_groups)
            ids = [g for g in ids if wanted.fullmatch(g)]
        groups = kafka_lag.snapshot(admin, cluster, ids, timeout).groups if ids else []
    except (KafkaException, kafka_lag.KafkaUnavailable) as exc:
        log.warning("maintenance: the lag of %s could not be read: %s", cluster, type(exc).__name__)
        return reading, snap
    reading.lag, reading.groups = sum(g.total_lag for g in groups), len(groups)
    return reading, snap


def lag_moved(before: int, after: int, settings: MaintenanceSettings) -> bool:
    return abs(after - before) >= max(settings.lag_change_messages, settings.lag_change_ratio * before)


def changes(last: Reading, now: Reading, settings: MaintenanceSettings) -> list[str]:
    """What changed since the last reading posted, in words; empty when nothing did
    (lag counts only when it moved by the configured amount)."""
    if last.reachable != now.reachable:
        return ["Kafka answers again" if now.reachable else f"Kafka is unreachable ({now.error or 'no answer'})"]
    if not now.reachable:
        return []
    found = []
    gone = sorted(set(last.brokers) - set(now.brokers))
    back = sorted(set(now.brokers) - set(last.brokers))
    if gone:
        found.append(f"broker{'s' if len(gone) > 1 else ''} {', '.join(map(str, gone))} stopped answering")
    if back:
        found.append(f"broker{'s' if len(back) > 1 else ''} {', '.join(map(str, back))} answer{'' if len(back) > 1 else 's'}")
    if now.urp != last.urp:
        found.append(f"under-replicated partitions {last.urp:,} → {now.urp:,} (of {now.partitions:,})")
    if now.offline != last.offline:
        found.append(f"offline partitions {last.offline:,} → {now.offline:,}")
    if now.lag is not None and last.lag is None:
        found.append(f"total lag readable again: {plural(now.lag, 'message')}")
    elif now.lag is not None and last.lag is not None and lag_moved(last.lag, now.lag, settings):
        found.append(f"total lag {last.lag:,} → {now.lag:,} messages ({now.lag - last.lag:+,})")
    return found
