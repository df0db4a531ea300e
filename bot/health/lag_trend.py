"""Lag over time, from stored samples: Burrow-style partition status, growth per
minute, seconds behind (interpolated from log-end samples, as kafka-lag-exporter
does) and when the group will catch up. Pure functions; no clock, no database."""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import NamedTuple


class Sample(NamedTuple):
    """Immutable; a tuple because a look at every group reads tens of thousands of
    them, and a frozen dataclass costs several times more to build."""

    taken_at: float  # unix seconds
    committed: int | None
    log_end: int

    @property
    def lag(self) -> int | None:
        committed = self.committed
        if committed is None:
            return None
        lag = self.log_end - committed
        return lag if lag > 0 else 0  # not max(): read for every sample of every look


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"  # lag grew at every sample of the window
    STALL = "STALL"  # members are there but the committed offset does not move while lag > 0
    STOP = "STOP"  # nobody commits any more (no active member) while lag > 0
    REWIND = "REWIND"  # the committed offset went backwards: a reset or a replay


MIN_SPAN_SECONDS = 60.0


def status(samples: list[Sample], has_members: bool, min_span: float = MIN_SPAN_SECONDS) -> Status | None:
    """Burrow's evaluation of one partition over its window (oldest first); None
    until there are two samples with a committed offset to compare. Standing still
    or growing only counts over at least `min_span` seconds: two looks a moment
    apart say nothing about a consumer's progress."""
    if len(samples) < 2:  # the first look at a group: no trend, and the common case at scale
        return None
    last = samples[-1]
    if last.committed is not None and last.log_end <= last.committed and samples[0].committed is not None:
        # Caught up, the common case at scale: a rewind would have left lag behind it.
        return Status.OK
    points = [s for s in samples if s.committed is not None]
    if len(points) < 2:
        return None
    committed = [s.committed for s in points]
    if any(map(operator.lt, committed[1:], committed)):  # an offset below its predecessor
        return Status.REWIND
    # The usual answers first, before the window's lags are worked out (this runs for
    # every partition of every group at each look).
    if (points[-1].lag or 0) == 0 or points[-1].taken_at - points[0].taken_at < min_span:
        return Status.OK
    lags = [s.lag or 0 for s in points]
    if len(set(committed)) == 1 and all(lag > 0 for lag in lags):
        return Status.STALL if has_members else Status.STOP
    if len(lags) >= 3 and all(b > a for a, b in zip(lags, lags[1:])):
        return Status.WARN
    return Status.OK


def growth_per_minute(first: list[Sample], last: list[Sample]) -> float | None:
    """How fast total lag changed between two moments, from the group's partitions'
    oldest and newest samples (each list: one sample per partition)."""
    if not first or not last:
        return None
    t0 = min(s.taken_at for s in first)
    t1 = max(s.taken_at for s in last)
    if t1 - t0 < 1:
        return None
    lag0 = sum(s.lag or 0 for s in first)
    lag1 = sum(s.lag or 0 for s in last)
    return (lag1 - lag0) / ((t1 - t0) / 60)


def seconds_behind(samples: list[Sample], committed: int | None, now: float) -> float | None:
    """How old the next message the group will read is, estimated from when the log
    end passed the committed offset (samples oldest first, as stored). None when
    the samples cannot tell."""
    if committed is None or not samples:
        return None
    t_last, _, e_last = samples[-1]
    if committed >= e_last:
        return 0.0
    t0, _, e0 = samples[0]
    t_first, e_first = t0, e0
    for t1, _, e1 in samples[1:]:
        if e0 <= committed < e1:
            at = t0 + (committed - e0) / (e1 - e0) * (t1 - t0)
            return max(0.0, now - at)
        t0, e0 = t1, e1
    if committed < e_first and t_last > t_first and e_last > e_first:
        rate = (e_last - e_first) / (t_last - t_first)  # messages/s over the window
        return max(0.0, now - (t_first - (e_first - committed) / rate))
    return None


def catch_up_seconds(samples: list[Sample]) -> float | None:
    """Seconds until lag reaches zero at the recent consume and produce rates;
    None when the group is not catching up (or there is no history)."""
    points = [s for s in samples if s.committed is not None]
    if len(points) < 2:
        return None
    return catch_up_between(points[0], points[-1])


def catch_up_between(first: Sample, last: Sample) -> float | None:
    """catch_up_seconds of a window given by its first and last samples with a
    committed offset."""
    lag = last.lag or 0
    if lag == 0:
        return 0.0
    dt = last.taken_at - first.taken_at
    if dt <= 0:
        return None
    net = ((last.committed - first.committed) - (last.log_end - first.log_end)) / dt  # type: ignore[operator]
    return lag / net if net > 0 else None
