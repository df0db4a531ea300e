"""Words for the sentences the bot writes, whichever room writes them: health
verdicts, reports, actions and commands all count things."""

from __future__ import annotations

import re


def plural(n: int | None, word: str, many: str | None = None) -> str:
    """"1 message", "1,234 messages", "? messages" when the count is unknown; `many`
    where adding an s is wrong ("1 entry", "2 entries")."""
    if n is None:
        return f"? {many or word + 's'}"
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?(?:(\d+)s)?$")
_UNITS = (7 * 86400, 86400, 3600, 60, 1)


def parse_duration(word: str) -> float | None:
    """`30m`, `2h`, `1d`, `1h30m`, `45s`, `1w` in seconds (every command that takes a
    duration reads it here); None if `word` is not one."""
    found = _DURATION.match(word.strip().lower())
    if not found or not any(found.groups()):
        return None
    return float(sum(int(n) * unit for n, unit in zip(found.groups(), _UNITS) if n))


def duration_text(seconds: float) -> str:
    """`1d 2h`, `30m`, `45s`: the two largest units (days at most)."""
    left, parts = int(round(seconds)), []
    for unit, name in zip(_UNITS[1:], "dhms"):
        if left >= unit:
            parts.append(f"{left // unit}{name}")
            left %= unit
    return " ".join(parts[:2]) or "0s"
