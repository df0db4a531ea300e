"""Lag samples kept in memory between looks, for trends without reading the stored
window back each time.

Reading the stored window back at every look would cost more than the probe (2,000
groups of 12 partitions at a 10 s interval: 2 million rows per 15-minute window), and
storing every look would fill the database as fast. So a process keeps one sample per
partition per `spacing_s` (plus the newest) in memory, seeds each group from the
database the first time it is looked at, and says which samples are newly kept: those
are the ones worth storing (for other replicas, the digests, a restart).

Two users: the watch (each round sees every watched group, so partitions missing from
a round are gone and forgotten) and `/lag` (each look sees some groups, so the others
are kept until their newest sample leaves the window)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bot.evidence import lag_history
from bot.evidence.lag_history import PartitionKey
from bot.health.lag_trend import MIN_SPAN_SECONDS, Sample
from bot.probes.lag_models import LagSnapshot


@dataclass
class _Partition:
    kept: list[Sample] = field(default_factory=list)  # spaced at least spacing_s apart, oldest first
    latest: Sample | None = None  # newer than the last kept one, not yet spaced enough


@dataclass
class Added:
    history: dict[PartitionKey, list[Sample]]  # each partition of the look: its window, newest last
    kept: set[PartitionKey]  # partitions whose sample of this look was kept (spaced enough): store those


@dataclass
class LagMemory:
    window_s: float = 15 * 60.0
    spacing_s: float = MIN_SPAN_SECONDS
    _clusters: dict[str, dict[PartitionKey, _Partition]] = field(default_factory=dict)
    _seeded: dict[str, set[str]] = field(default_factory=dict)  # cluster -> groups read from the database
    _swept_at: dict[str, float] = field(default_factory=dict)
    # Looks run in several threads at once (commands, the ladder's checks).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def unseeded(self, cluster: str, groups: list[str]) -> list[str]:
        """Those of `groups` not yet read from the database."""
        with self._lock:
            seen = self._seeded.get(cluster, set())
            return [g for g in groups if g not in seen]

    def seed(self, cluster: str, groups: list[str], stored: dict[PartitionKey, list[Sample]]) -> None:
        with self._lock:
            self._seeded.setdefault(cluster, set()).update(groups)
            found = self._clusters.setdefault(cluster, {})
            for key, samples in stored.items():
                part = found.setdefault(key, _Partition())
                for sample in samples:
                    if not part.kept or sample.taken_at > part.kept[-1].taken_at:
                        self._keep(part, sample)

    def add_seeded(self, engine: Engine, snap: LagSnapshot, *, forget_missing: bool = True) -> Added:
        """`add`, after reading the window of the groups not looked at before from the database."""
        fresh = self.unseeded(snap.cluster, [g.group for g in snap.groups])
        if fresh:
            since = snap.taken_at.timestamp() - self.window_s
            self.seed(snap.cluster, fresh, lag_history.window(engine, snap.cluster, fresh, since))
        return self.add(snap, forget_missing=forget_missing)

    def _keep(self, part: _Partition, sample: Sample) -> bool:
        if not part.kept or sample.taken_at - part.kept[-1].taken_at >= self.spacing_s:
            part.kept.append(sample)
            part.latest = None
            return True
        part.latest = sample
        return False

    def add(self, snap: LagSnapshot, *, forget_missing: bool = True) -> Added:
        """Takes this look's samples. With `forget_missing` (a look at every group that
        is watched), partitions not in the look are forgotten."""
        now = snap.taken_at.timestamp()
        since = now - self.window_s
        history: dict[PartitionKey, list[Sample]] = {}
        kept: set[PartitionKey] = set()
        with self._lock:
            before = self._clusters.get(snap.cluster, {})
            after: dict[PartitionKey, _Partition] = {} if forget_missing else before
            for g in snap.groups:
                for p in g.partitions:
                    key = (g.group, p.topic, p.partition)
                    part = before.get(key) or _Partition()
                    while part.kept and part.kept[0].taken_at < since:
                        part.kept.pop(0)
                    if self._keep(part, Sample(now, p.committed, p.log_end)):
                        kept.add(key)
                    after[key] = part
                    history[key] = part.kept + ([part.latest] if part.latest else [])
            self._clusters[snap.cluster] = after
            if forget_missing:
                self._seeded[snap.cluster] = {g.group for g in snap.groups}
            elif now - self._swept_at.get(snap.cluster, 0.0) >= self.window_s:
                self._sweep(snap.cluster, since)
                self._swept_at[snap.cluster] = now
        return Added(history=history, kept=kept)

    def _sweep(self, cluster: str, since: float) -> None:
        """Forgets partitions with nothing in the window (their group is read from the
        database again at its next look, which may hold what others stored meanwhile)."""
        parts = self._clusters.get(cluster, {})
        gone = [key for key, part in parts.items()
                if (newest := part.latest or (part.kept[-1] if part.kept else None)) is None or newest.taken_at < since]
        for key in gone:
            del parts[key]
        left = {key[0] for key in parts}
        self._seeded[cluster] = {g for g in self._seeded.get(cluster, set()) if g in left}
