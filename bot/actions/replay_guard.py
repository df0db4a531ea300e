"""The replay loop guard, shared by both brokers' replays: each replay stamps a
message with how many times it has been replayed (``dlq_hygiene.replay_count_header``),
and a dead letter that comes back carrying ``dlq_hygiene.max_replays`` of them is
parked (a topic or queue of its own) instead of going round again. Pure functions of
the headers, so both brokers' plans and executions decide the same way."""

from __future__ import annotations

from collections.abc import Iterable

from bot.probes.dlq_models import replay_count

__all__ = ["guard_totals", "kafka_headers", "parks", "replay_count"]


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
