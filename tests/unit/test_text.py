"""The one plural helper every sentence of the bot counts with."""

from __future__ import annotations

import pytest

from bot.text import plural


@pytest.mark.parametrize(("n", "word", "many", "said"), [
    (1, "message", None, "1 message"),
    (0, "message", None, "0 messages"),
    (2, "partition", None, "2 partitions"),
    (1_234, "message", None, "1,234 messages"),
    (1, "ready message", None, "1 ready message"),
    (2, "entry", "entries", "2 entries"),
    (None, "connection", None, "? connections"),
])
def test_plural(n: int | None, word: str, many: str | None, said: str) -> None:
    assert plural(n, word, many) == said
