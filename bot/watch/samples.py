"""The lag samples a watch round judges trends by, kept in memory between rounds.

Reading the stored window back every round would cost more than the probe (2,000
groups of 12 partitions at a 10 s interval: 2 million rows per 15-minute window), and
storing every round would fill the database as fast. So the watch keeps one sample
per partition per `spacing_s` (plus the newest) in memory, seeds it from the database
when it starts, and stores a round's samples every `store_every_s` for /lag, the
digests and a watcher taking over."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.evidence.lag_history import PartitionKey
from bot.health.lag_trend import MIN_SPAN_SECONDS, Sample
from bot.probes.lag_models import LagSnapshot


@dataclass
class _Partition:
    kept: list[Sample] = field(default_factory=list)  # spaced at least spacing_s apart, oldest first
    latest: Sample | None = None  # newer than the last kept one, not yet spaced enough


@dataclass
class LagMemory:
    window_s: float = 15 * 60.0
    spacing_s: float = MIN_SPAN_SECONDS
    _clusters: dict[str, dict[PartitionKey, _Partition]] = field(default_factory=dict)

    def seeded(self, cluster: str) -> bool:
        return cluster in self._clusters

    def seed(self, cluster: str, stored: dict[PartitionKey, list[Sample]]) -> None:
        found = self._clusters.setdefault(cluster, {})
        for key, samples in stored.items():
            part = found.setdefault(key, _Partition())
            for sample in samples:
                self._keep(part, sample)

    def _keep(self, part: _Partition, sample: Sample) -> None:
        if not part.kept or sample.taken_at - part.kept[-1].taken_at >= self.spacing_s:
            part.kept.append(sample)
            part.latest = None
        else:
            part.latest = sample

    def add(self, snap: LagSnapshot) -> dict[PartitionKey, list[Sample]]:
        """Takes this round's samples; returns each partition's window, newest last.
        Partitions no longer in the snapshot are forgotten."""
        now = snap.taken_at.timestamp()
        before = self._clusters.get(snap.cluster, {})
        after: dict[PartitionKey, _Partition] = {}
        history: dict[PartitionKey, list[Sample]] = {}
        since = now - self.window_s
        for g in snap.groups:
            for p in g.partitions:
                key = (g.group, p.topic, p.partition)
                part = before.get(key) or _Partition()
                while part.kept and part.kept[0].taken_at < since:
                    part.kept.pop(0)
                self._keep(part, Sample(now, p.committed, p.log_end))
                after[key] = part
                history[key] = part.kept + ([part.latest] if part.latest else [])
        self._clusters[snap.cluster] = after
        return history
