"""Silences in words, in the core's markup (bot.reports.markup)."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.reports.markup import escape, user
from bot.silences.matchers import duration_text
from bot.silences.model import Silence


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def until(ts: float, now: float) -> str:
    """`14:30:00 UTC (in 25m)`, with the day when it is not today's."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    day = "" if moment.date() == datetime.fromtimestamp(now, tz=timezone.utc).date() else moment.strftime("%Y-%m-%d ")
    return f"{day}{clock(ts)} (in {duration_text(max(0.0, ts - now))})"


def code(text: str) -> str:
    """Text from a person in a code span: escaped, and no backtick to end it early."""
    return f"`{escape(text).replace('`', chr(39))}`"


def silence_line(s: Silence, held: tuple[int, int], now: float) -> str:
    alerts, deliveries = held
    kept = "nothing held back yet" if not alerts else (
        f"{alerts} alert{'s' if alerts != 1 else ''} held back ({deliveries} deliver{'ies' if deliveries != 1 else 'y'})")
    window = f", maintenance M-{s.maintenance_id}" if s.maintenance_id else ""
    return (f":mute: *{s.ref}* {code(s.text())} by {user(s.created_by)}{window}, until {until(s.until, now)}; "
            f"{kept}. Reason: {escape(s.reason)}")
