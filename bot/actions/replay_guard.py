"""The replay loop guard, shared by both brokers' replays: each replay stamps a
message with how many times it has been replayed (``dlq_hygiene.replay_count_header``),
and a dead letter that comes back carrying ``dlq_hygiene.max_replays`` of them is
parked (a topic or queue of its own) instead of going round again. Pure functions of
the headers, so both brokers' plans and executions decide the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Kafka headers come as (name, bytes) pairs, RabbitMQ's as a table of typed values.
Headers = Iterable[tuple[str, Any]] | Mapping[str, Any] | None


def _value(headers: Headers, name: str) -> Any:
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found = None
    for key, value in pairs:
        if key.lower() == name.lower():
            found = value  # Kafka allows repeats: the last one is the newest
    return found


def replay_count(headers: Headers, name: str) -> int:
    """How many replays the message carries; 0 without the header or with garbage in it."""
    value = _value(headers, name)
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return max(value, 0)
    try:
        text = value.decode("ascii") if isinstance(value, (bytes, bytearray)) else str(value)
        return max(int(text.strip()), 0)
    except (UnicodeDecodeError, ValueError):
        return 0


def parks(count: int, max_replays: int) -> bool:
    """A message replayed `max_replays` times that is back in the DLQ is parked."""
    return count >= max_replays


def kafka_headers(headers: Iterable[tuple[str, bytes | None]] | None, name: str,
                  count: int) -> list[tuple[str, bytes | None]]:
    """The message's Kafka headers with the replay count set to `count` (older copies dropped)."""
    kept = [(k, v) for k, v in (headers or []) if k.lower() != name.lower()]
    return [*kept, (name, str(count).encode())]


def guard_totals(parked: int, came_back: int) -> dict[str, int]:
    """The plan's totals of the guard, shown only when there is something to say:
    messages back after an earlier replay, and those of them that are parked."""
    return {k: v for k, v in (("came_back_after_replay", came_back), ("parked", parked)) if v}
