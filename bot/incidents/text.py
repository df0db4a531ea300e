"""Incidents in words: the lines that lists, timelines and cards share, in the
core's markup (bot.reports.markup)."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.incidents.model import REPEATS, Event, Incident, collapsed
from bot.reports.lag import duration
from bot.reports.markup import escape, user

SEVERITY_MARK = {"critical": ":red_circle:", "warning": ":large_yellow_circle:", "info": ":large_blue_circle:"}
STATUS_MARK = {"open": ":rotating_light: Open", "acknowledged": ":eyes: Acknowledged",
               "resolved": ":white_check_mark: Resolved"}


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def headline(i: Incident) -> str:
    """One line that names the incident, for notifications and screen readers."""
    return f"[{i.severity.value.upper()}] {i.ref}: {i.title} ({i.status.value})"


def incident_line(i: Incident, now: float, next_step: str | None = None) -> str:
    line = (f"{SEVERITY_MARK[i.severity.value]} *{i.ref}* {escape(i.title)} — {i.status.value}, "
            f"open {duration(now - i.created_at)}")
    if next_step:
        line += f"; next: {next_step}"
    return line


def timeline_lines(events: list[Event]) -> list[str]:
    """One line per event; repeated alert deliveries collapse into one line."""
    return [f"{'':>12}  {REPEATS.format(n=e)}" if isinstance(e, int) else f"{clock(e.at)}  {user(e.actor)}: {e.text}"
            for e in collapsed(events)]
