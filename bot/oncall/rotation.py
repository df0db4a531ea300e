"""Who a local rotation puts on call at an instant, and who comes next: plain
functions of the configuration, the overrides and a unix time.

Shifts are counted in local wall-clock time: the k-th shift of a layer starts at
its first handoff plus k shift lengths in calendar days, at the handoff time of the
rotation's zone. A weekly handoff on Monday at 09:00 Europe/Berlin therefore stays
at 09:00 Berlin time across the March and October clock changes (the UTC instant
moves by an hour; a shift that spans the change lasts 167 or 169 hours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config.oncall import WEEKDAYS, Layer, LocalRotation

# How far ahead "next" is looked for before giving up (a one-member rotation never changes).
HORIZON_DAYS = 62


@dataclass(frozen=True)
class Override:
    """Someone covers a schedule from `start` until `end` (unix seconds)."""

    user: str
    start: float
    end: float
    added_by: str = ""
    added_at: float = 0.0
    id: int = 0


def _zone(rotation: LocalRotation) -> ZoneInfo:
    return ZoneInfo(rotation.timezone)


def _first_handoff(layer: Layer) -> datetime:
    """The first shift's start as a naive local time (weekly: on the handoff day)."""
    day: date = layer.start
    if layer.shift == "weekly":
        day += timedelta(days=(WEEKDAYS.index(layer.handoff_day) - day.weekday()) % 7)
    return datetime.combine(day, layer.handoff)


def _instant(local: datetime, zone: ZoneInfo) -> float:
    """A naive local time as unix seconds; a time the clocks skip (a spring-forward
    gap) lands an hour later, as zoneinfo resolves it."""
    return local.replace(tzinfo=zone).timestamp()


def _local(t: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, zone).replace(tzinfo=None)


def shift_start(layer: Layer, zone: ZoneInfo, k: int) -> float:
    return _instant(_first_handoff(layer) + timedelta(days=k * layer.shift_days), zone)


def shift_index(layer: Layer, zone: ZoneInfo, t: float) -> int:
    """The shift running at `t` (negative before the first one)."""
    elapsed = _local(t, zone) - _first_handoff(layer)
    k = math.floor(elapsed / timedelta(days=layer.shift_days))
    # Wall time is not monotonic in the hour the clocks go back: settle on the instants.
    while shift_start(layer, zone, k + 1) <= t:
        k += 1
    while shift_start(layer, zone, k) > t:
        k -= 1
    return k


def _restricted_in(layer: Layer, local: datetime) -> bool:
    """True when the layer covers at this local time (always, without restrictions)."""
    if not layer.restrictions:
        return True
    minute = local.hour * 60 + local.minute
    for r in layer.restrictions:
        start, end = r.minutes
        if end > start:
            if local.weekday() in r.weekdays and start <= minute < end:
                return True
        else:  # overnight: from start on a listed day until end the next morning
            if (local.weekday() in r.weekdays and minute >= start) or \
                    ((local.weekday() - 1) % 7 in r.weekdays and minute < end):
                return True
    return False


def layer_user(layer: Layer, zone: ZoneInfo, t: float) -> str | None:
    """Whom the layer puts on call at `t`, or None (before its start, or outside its restrictions)."""
    k = shift_index(layer, zone, t)
    if k < 0 or not _restricted_in(layer, _local(t, zone)):
        return None
    return layer.members[k % len(layer.members)]


def _layer_changes(layer: Layer, zone: ZoneInfo, t: float) -> float:
    """The first instant after `t` at which the layer may name someone else."""
    k = max(shift_index(layer, zone, t), -1)
    found = shift_start(layer, zone, k + 1)
    if layer.restrictions:
        today = _local(t, zone).date()
        for offset in range(0, 9):
            day = today + timedelta(days=offset)
            for r in layer.restrictions:
                for minute in r.minutes:
                    at = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
                    instant = _instant(at, zone)
                    if t < instant < found:
                        found = instant
    return found


def on_call(rotation: LocalRotation, overrides: list[Override], t: float) -> list[str]:
    """Who is on call at `t`: the override added last among those running, else the
    last layer that has someone, else nobody."""
    running = [o for o in overrides if o.start <= t < o.end]
    if running:
        return [max(running, key=lambda o: (o.added_at, o.id)).user]
    zone = _zone(rotation)
    for layer in reversed(rotation.layers):
        found = layer_user(layer, zone, t)
        if found:
            return [found]
    return []


def next_change(rotation: LocalRotation, overrides: list[Override], t: float) -> tuple[float, list[str]] | None:
    """When the on-call changes after `t` and to whom; None if nobody changes within
    HORIZON_DAYS (a rotation of one member, say)."""
    zone = _zone(rotation)
    current = on_call(rotation, overrides, t)
    edges = sorted({x for o in overrides for x in (o.start, o.end) if x > t})
    x = t
    limit = t + HORIZON_DAYS * 86400
    while x < limit:
        candidates = [_layer_changes(layer, zone, x) for layer in rotation.layers]
        candidates += [e for e in edges if e > x]
        x = min(candidates)
        who = on_call(rotation, overrides, x)
        if who != current:
            return x, who
    return None


def local_time(t: float, timezone: str) -> str:
    """A handoff as people of that zone read it: `Mon 30 Nov 09:00 CET`."""
    return datetime.fromtimestamp(t, ZoneInfo(timezone)).strftime("%a %d %b %H:%M %Z")
