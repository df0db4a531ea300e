"""The pure arithmetic of the digests: percentiles, rates from offset deltas, change
since a time, straight-line projections, pattern ranking. Plain data in, numbers out."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAY = 86400.0
Point = tuple[float, float]  # (unix seconds, value)


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile by nearest rank (the smallest value with at least 95% of
    the values at or below it): always a value that was observed. None for no values."""
    return percentile(values, 95.0)


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def counter_rate(points: Sequence[Point]) -> float | None:
    """Messages a second of an ever-growing counter (an end offset or a committed
    offset summed over partitions) across the points, oldest first. A drop (topic
    recreated, offsets reset) counts as no progress for that step rather than negative
    traffic. None with fewer than two points or no time between them."""
    if len(points) < 2:
        return None
    span = points[-1][0] - points[0][0]
    if span <= 0:
        return None
    grown = sum(max(0.0, b[1] - a[1]) for a, b in zip(points, points[1:]))
    return grown / span


def nearest(points: Sequence[Point], ts: float, tolerance: float) -> Point | None:
    """The point taken closest to `ts`, if one is within `tolerance` seconds."""
    best = min(points, key=lambda p: abs(p[0] - ts), default=None)
    return best if best is not None and abs(best[0] - ts) <= tolerance else None


def change(now: float, then: float | None) -> str:
    """"+1,200", "-30", "0", or "unknown"."""
    if then is None:
        return "unknown"
    delta = now - then
    return f"{delta:+,.0f}" if delta else "0"


def per_day_rates(points: Sequence[Point]) -> list[Point]:
    """The counter's rate (per second) for each UTC day its samples cover: the growth
    between consecutive samples is credited to the day the later one was taken, over the
    time between them. Days with a single sample and nothing before it are left out."""
    grown: dict[float, float] = defaultdict(float)
    spent: dict[float, float] = defaultdict(float)
    for a, b in zip(points, points[1:]):
        day = math.floor(b[0] / DAY) * DAY
        grown[day] += max(0.0, b[1] - a[1])
        spent[day] += max(0.0, b[0] - a[0])
    return [(day, grown[day] / spent[day]) for day in sorted(grown) if spent[day] > 0]


@dataclass(frozen=True)
class Fit:
    slope: float  # value units per second
    intercept: float  # value at t = 0

    def at(self, ts: float) -> float:
        return self.intercept + self.slope * ts


def linear_fit(points: Sequence[Point]) -> Fit | None:
    """Least-squares straight line through the points; None with fewer than two distinct times."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / sxx
    return Fit(slope=slope, intercept=my - slope * mx)


def days_until(fit: Fit, now: float, limit: float) -> float | None:
    """Days from `now` until the fitted line reaches `limit`: 0 when it is there
    already, None when it never will (flat or falling)."""
    current = fit.at(now)
    if current >= limit:
        return 0.0
    if fit.slope <= 0:
        return None
    return (limit - current) / fit.slope / DAY


def totals_by_time(rows: Iterable[tuple[float, float]]) -> list[Point]:
    """Values summed per sample time (one probe writes every partition's row with the
    same time), oldest first."""
    summed: dict[float, float] = defaultdict(float)
    for ts, value in rows:
        summed[ts] += value
    return sorted(summed.items())


def rank_patterns(counts: Iterable[tuple[str, int]], top: int) -> list[tuple[str, int, float]]:
    """(pattern, count, percent of all) for the `top` most frequent patterns, ties by
    name; the same pattern given twice (several DLQs) is added up."""
    merged: dict[str, int] = defaultdict(int)
    for pattern, n in counts:
        merged[pattern] += n
    total = sum(merged.values())
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [(p, n, n * 100.0 / total if total else 0.0) for p, n in ordered]


def idle_partitions(first: Sequence[int], last: Sequence[int]) -> list[int]:
    """Partitions whose end offset did not move between two samples of a topic, when
    some other partition of it did (a skewed key, or a partitioner that never picks them)."""
    moved = [p for p in range(min(len(first), len(last))) if last[p] > first[p]]
    if not moved:
        return []
    return [p for p in range(min(len(first), len(last))) if last[p] <= first[p]]


def duration(seconds: float) -> str:
    """3 d 4 h, 5 h 12 min, 42 min, 17 s."""
    s = max(0, int(round(seconds)))
    if s >= DAY:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"


def rate_text(per_s: float | None) -> str:
    if per_s is None:
        return "unknown"
    return f"{per_s:,.2f}/s" if per_s < 10 else f"{per_s:,.0f}/s"
