"""Words for the sentences the bot writes, whichever room writes them: health
verdicts, reports, actions and commands all count things."""

from __future__ import annotations


def plural(n: int | None, word: str, many: str | None = None) -> str:
    """"1 message", "1,234 messages", "? messages" when the count is unknown; `many`
    where adding an s is wrong ("1 entry", "2 entries")."""
    if n is None:
        return f"? {many or word + 's'}"
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
