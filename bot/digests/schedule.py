"""When each digest is due: the latest scheduled time at or before now, in the
configured time zone (so 08:00 stays 08:00 across a daylight-saving change)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config.digests import DigestTimes

KINDS = ("daily", "weekly", "monthly", "quarterly")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUARTER_MONTHS = (1, 4, 7, 10)


def _hm(text: str) -> tuple[int, int]:
    h, m = text.split(":")
    return int(h), int(m)


def last_due(kind: str, times: DigestTimes, zone: str, now: float) -> float:
    """Unix seconds of the most recent due time of `kind` at or before `now`."""
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(now, tz)
    spec = getattr(times, kind)
    if kind == "daily":
        h, m = _hm(spec)
        candidates = [_at(local.date() - timedelta(days=d), h, m, tz) for d in (0, 1)]
    elif kind == "weekly":
        day, hm = spec.split()
        h, m = _hm(hm)
        back = (local.weekday() - _DAYS.index(day)) % 7
        candidates = [_at(local.date() - timedelta(days=back + d), h, m, tz) for d in (0, 7)]
    else:
        day_text, hm = spec.split()
        h, m = _hm(hm)
        months = range(1, 13) if kind == "monthly" else QUARTER_MONTHS
        candidates = []
        for year in (local.year, local.year - 1):
            candidates += [_at(datetime(year, mo, int(day_text)).date(), h, m, tz) for mo in months]
    return max(c.timestamp() for c in candidates if c.timestamp() <= now)


def _at(day: object, h: int, m: int, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=tz)  # type: ignore[attr-defined]
