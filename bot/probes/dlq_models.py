"""Snapshots of dead-letter queues (Kafka topics and RabbitMQ queues), and the pure
functions over them: payload previews, error-pattern grouping, growth and error
rate (both brokers), and RabbitMQ's x-death header.

Everything here is plain data in, plain data out: no broker is contacted, so the
Slack renderer, the health verdicts and the sample store can all use it freely.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.text import plural

# ---------------------------------------------------------------- Kafka models


class PartitionDepth(BaseModel):
    partition: int
    start: int  # earliest offset still held (moves forward with retention / delete_records)
    end: int  # the offset the next message will get (high watermark)

    @property
    def depth(self) -> int:
        return max(0, self.end - self.start)


class DepthObservation(BaseModel):
    """What growth and error rate need from an earlier look; store it, pass it back."""

    taken_at: datetime
    depth: int
    dlq_end_total: int  # sum of the DLQ's end offsets: every message ever written to it
    source_end_total: int | None = None  # the same for the source topic, when it exists


class DlqMessage(BaseModel):
    """One sampled dead letter, with what it failed with and where it came from."""

    partition: int | None = None  # Kafka only
    offset: int | None = None  # Kafka only
    key: str | None = None
    timestamp: datetime | None = None
    size: int  # payload bytes
    preview: str  # payload cut to preview_chars; binary shown as "<N bytes binary> hex…"
    error_class: str | None = None
    error_message: str | None = None  # first line only; stack traces stay in headers
    error_source: Literal["connect", "spring", "header"] | None = None
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # the headers of interest, decoded
    replays: int = 0  # how many replays it carries (dlq_hygiene.replay_count_header): >0 came back after one

    @property
    def pattern(self) -> str:
        return error_pattern(self.error_class, self.error_message)


class ErrorPattern(BaseModel):
    pattern: str  # "SimpleClass: message with <n>/<uuid>/'<value>' placeholders"
    error_class: str | None  # fully qualified, as the header had it
    count: int


class KafkaDlqRef(BaseModel):
    """A DLQ topic found by discovery, and the source topic it belongs to."""

    topic: str
    derived_source: str | None  # what the pattern or mapping says the source is
    source_topic: str | None  # derived_source, but only when that topic exists
    partitions: list[int]


class KafkaDlqSnapshot(BaseModel):
    cluster: str
    topic: str
    source_topic: str | None
    derived_source: str | None
    taken_at: datetime
    depth: int
    partitions: list[PartitionDepth]
    dlq_end_total: int
    source_end_total: int | None = None
    samples: list[DlqMessage] = Field(default_factory=list)  # newest first
    patterns: list[ErrorPattern] = Field(default_factory=list)  # most frequent first
    growth_per_minute: float | None = None  # needs a previous observation
    error_rate_percent: float | None = None  # DLQ inflow / source inflow over the window
    window_seconds: float | None = None  # how far back the previous observation was
    notes: list[str] = Field(default_factory=list)  # sentences: partial data, caveats

    @property
    def observation(self) -> DepthObservation:
        return DepthObservation(taken_at=self.taken_at, depth=self.depth,
                                dlq_end_total=self.dlq_end_total, source_end_total=self.source_end_total)


# ---------------------------------------------------------------- RabbitMQ models


class DeathRecord(BaseModel):
    """One entry of the x-death header: a {queue, reason} pair and how often it happened."""

    reason: str  # rejected | expired | maxlen | delivery_limit
    count: int
    queue: str
    exchange: str | None = None
    routing_keys: list[str] = Field(default_factory=list)
    time: datetime | None = None
    original_expiration: str | None = None


class RabbitMessage(BaseModel):
    size: int
    preview: str
    redelivered: bool
    routing_key: str | None = None
    exchange: str | None = None
    message_id: str | None = None
    timestamp: datetime | None = None
    deaths: list[DeathRecord] = Field(default_factory=list)  # most recent first, as RabbitMQ keeps them
    first_death_reason: str | None = None
    first_death_queue: str | None = None
    first_death_exchange: str | None = None
    error_message: str | None = None  # from a configured error header, when an app sets one
    headers: dict[str, str] = Field(default_factory=dict)  # other headers, shown as text
    replays: int = 0  # how many replays it carries (dlq_hygiene.replay_count_header): >0 came back after one


class DeathGroup(BaseModel):
    reason: str
    queue: str  # the queue the message first died in
    count: int  # sampled messages in this group
    deaths: int  # sum of their x-death counts for this reason and queue


class QueueSnapshot(BaseModel):
    cluster: str
    vhost: str
    name: str
    taken_at: datetime
    source: Literal["management", "amqp-fallback"]
    note: str | None = None  # set when data is partial (fallback, skipped sampling)
    type: str | None = None  # classic | quorum | stream
    state: str | None = None
    messages_ready: int
    messages_unacknowledged: int | None = None
    messages: int | None = None
    consumers: int
    publish_rate: float | None = None  # messages/s, from message_stats
    deliver_rate: float | None = None  # deliver_get: deliveries to consumers plus basic.get
    arguments: dict[str, object] = Field(default_factory=dict)
    dead_letter_exchange: str | None = None  # from arguments or the effective policy
    dead_letter_routing_key: str | None = None
    is_dead_letter_queue: bool = False  # some queue dead-letters into it, or its name says DLQ
    dead_letter_sources: list[str] = Field(default_factory=list)  # queues whose DLX routes here
    samples: list[RabbitMessage] = Field(default_factory=list)  # oldest first (queue head)
    death_groups: list[DeathGroup] = Field(default_factory=list)  # most frequent first
    growth_per_minute: float | None = None
    window_seconds: float | None = None

    @property
    def depth(self) -> int:
        return self.messages if self.messages is not None else self.messages_ready

    @property
    def observation(self) -> tuple[int, datetime]:
        """Keep this and pass it back as ``previous`` to get growth per minute."""
        return self.depth, self.taken_at


class QueueSummary(BaseModel):
    vhost: str
    name: str
    messages: int | None
    consumers: int | None
    dead_letter_exchange: str | None


# ---------------------------------------------------------------- shared pure functions

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
# A run of 8+ hex digits holding both a digit and a letter: object ids, hashes, trace
# ids. Digits alone are left to _NUMBER, plain words alone stay words.
_HEX = re.compile(r"\b(0x[0-9a-fA-F]+|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,})\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(\.\d+)?")


def normalise_message(message: str) -> str:
    """The message with its variable parts replaced, so failures of one kind group together.

    Quoted values go first: a quoted "id 42" is one value, not text with a number.
    """
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = _QUOTED.sub("'<value>'", text)
    text = _UUID.sub("<uuid>", text)
    text = _ISO_TIME.sub("<time>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUMBER.sub("<n>", text)
    return text


def error_pattern(error_class: str | None, error_message: str | None) -> str:
    if not error_class and not error_message:
        return "(no error headers)"
    short = error_class.rsplit(".", 1)[-1] if error_class else "(unknown error)"
    return f"{short}: {normalise_message(error_message)}" if error_message else short


def group_patterns(samples: list[DlqMessage]) -> list[ErrorPattern]:
    """Samples grouped by error pattern, most frequent first (ties by name, for stable output)."""
    counts: Counter[str] = Counter()
    first: dict[str, DlqMessage] = {}
    for message in samples:
        counts[message.pattern] += 1
        first.setdefault(message.pattern, message)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [ErrorPattern(pattern=p, error_class=first[p].error_class, count=n) for p, n in ordered]


def growth_per_minute(previous: DepthObservation | tuple[int, datetime],
                      current: DepthObservation | tuple[int, datetime]) -> float | None:
    """Depth change per minute between two looks; negative when the DLQ shrinks
    (replay, retention). None when the looks are not in time order."""
    d0, t0 = (previous.depth, previous.taken_at) if isinstance(previous, DepthObservation) else previous
    d1, t1 = (current.depth, current.taken_at) if isinstance(current, DepthObservation) else current
    seconds = (t1 - t0).total_seconds()
    if seconds <= 0:
        return None
    return (d1 - d0) * 60.0 / seconds


def error_rate_percent(dlq_end_t0: int, dlq_end_t1: int,
                       source_end_t0: int, source_end_t1: int) -> float | None:
    """Messages dead-lettered per hundred that arrived on the source over the same window.

    End offsets (not depths) are used because they only grow: retention deleting old
    dead letters must not read as a negative error rate. None when nothing arrived on
    the source, since a ratio over zero traffic says nothing.
    """
    source_in = source_end_t1 - source_end_t0
    dlq_in = dlq_end_t1 - dlq_end_t0
    if source_in <= 0 or dlq_in < 0:
        return None
    return dlq_in * 100.0 / source_in


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def decode_text(raw: bytes | str | None) -> str | None:
    """Keys and header values as text; undecodable or control-laden bytes as hex."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    return text if _printable(text) else "0x" + raw.hex()


def preview(payload: bytes | str | None, limit: int) -> str:
    """The payload as a person should see it in chat: text cut to ``limit`` characters,
    binary as its size, a Confluent schema id when it has one, and leading hex."""
    if payload is None:
        return "<null>"
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    if not data:
        return "<empty>"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and _printable(text):
        return text if len(text) <= limit else text[:limit] + "…"
    # Confluent Schema Registry wire format: magic byte 0, 4-byte schema id, then the body.
    label = f"<{plural(len(data), 'byte')} binary"
    if len(data) > 5 and data[0] == 0:
        label += f", schema id {int.from_bytes(data[1:5], 'big')}"
    shown = data[: max(0, min(32, limit // 2))]
    return f"{label}> {shown.hex()}{'…' if len(shown) < len(data) else ''}".rstrip()


# ---------------------------------------------------------------- RabbitMQ x-death


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return decode_text(value) if isinstance(value, bytes) else str(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):  # the management API sends AMQP timestamps as epoch seconds
        return datetime.fromtimestamp(value, UTC)
    return None


def parse_x_death(headers: dict[str, Any] | None) -> list[DeathRecord]:
    """The x-death entries, most recent first (RabbitMQ keeps them in that order)."""
    entries = (headers or {}).get("x-death") or []
    records = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        records.append(DeathRecord(
            reason=_text(entry.get("reason")) or "unknown", count=int(entry.get("count") or 0),
            queue=_text(entry.get("queue")) or "", exchange=_text(entry.get("exchange")),
            routing_keys=[_text(k) or "" for k in entry.get("routing-keys") or []],
            time=_time(entry.get("time")), original_expiration=_text(entry.get("original-expiration")),
        ))
    return records


def group_deaths(samples: list[RabbitMessage]) -> list[DeathGroup]:
    """Samples grouped by why and where they first died, most frequent first."""
    counts: Counter[tuple[str, str]] = Counter()
    deaths: Counter[tuple[str, str]] = Counter()
    for message in samples:
        oldest = message.deaths[-1] if message.deaths else None
        reason = message.first_death_reason or (oldest.reason if oldest else "(no x-death)")
        queue = message.first_death_queue or (oldest.queue if oldest else "")
        counts[(reason, queue)] += 1
        deaths[(reason, queue)] += sum(d.count for d in message.deaths if (d.reason, d.queue) == (reason, queue))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [DeathGroup(reason=r, queue=q, count=n, deaths=deaths[(r, q)]) for (r, q), n in ordered]


REPLAY_HEADER = "x-replay-count"  # dlq_hygiene.replay_count_header's default


def replay_count(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None, name: str = REPLAY_HEADER) -> int:
    """How many replays a dead letter carries in its replay count header (Kafka's
    (name, bytes) pairs or RabbitMQ's table); 0 without it or with garbage in it."""
    if headers is None:
        return 0
    value = None
    for key, v in (headers.items() if isinstance(headers, Mapping) else headers):
        if key.lower() == name.lower():
            value = v  # Kafka allows repeats: the last one is the newest
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    try:
        text = value.decode("ascii") if isinstance(value, (bytes, bytearray)) else str(value)
        return max(int(text.strip()), 0)
    except (UnicodeDecodeError, ValueError):
        return 0


def came_back(replays: list[int]) -> str | None:
    """The /dlq sentence on sampled messages that came back after a replay, or None."""
    back = [r for r in replays if r > 0]
    if not back:
        return None
    return (f"{len(back):,} of the {len(replays):,} sampled messages came back after a replay (the most replayed: "
            f"{max(back)} {'time' if max(back) == 1 else 'times'}); a replay parks those at dlq_hygiene.max_replays.")
