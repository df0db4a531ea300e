"""Idempotency verification: read a time window of a topic and find event ids that
arrived more than once. The event id is the message key, a header, or a field of a
JSON value. Reading starts where offsets_for_times puts the window's start and goes
to the end offsets of the moment, with a cap on the messages read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bot.actions.kafka_read import read_range
from bot.actions.kafka_util import wait
from bot.config import KafkaClusterSettings
from bot.digests.stats import duration
from bot.health.verdict import Level, Verdict
from bot.probes.clients import op_timeout
from bot.reports.report import Report, Table
from bot.text import parse_duration, plural

KEY_SHAPES = "header:<name> | json:<path> | message-key"


class BadKey(ValueError):
    """A --key or --window a person typed wrong; the message says how it should look."""


@dataclass(frozen=True)
class KeySpec:
    kind: str  # header, json, message-key
    name: str = ""  # header name, or dotted JSON path

    @property
    def label(self) -> str:
        return self.kind if self.kind == "message-key" else f"{self.kind}:{self.name}"


def parse_key(text: str | None) -> KeySpec:
    if not text or text == "message-key":
        return KeySpec("message-key")
    kind, _, name = text.partition(":")
    if kind in ("header", "json") and name:
        return KeySpec(kind, name)
    raise BadKey(f"`--key {text}` is not a key I know: use {KEY_SHAPES} (e.g. `--key header:event-id`, "
                 "`--key json:payload.id`).")


def parse_window(text: str | None, default: float = 3600.0) -> float:
    if not text:
        return default
    seconds = parse_duration(text)
    if not seconds:
        raise BadKey(f"`--window {text}` is not a duration: use e.g. 90s, 30m, 1h or 2d.")
    return seconds


def extract(spec: KeySpec, key: bytes | None, value: bytes | None,
            headers: list[tuple[str, bytes | None]] | None) -> str | None:
    """The event id of one message, or None when it has none."""
    if spec.kind == "message-key":
        return _text(key)
    if spec.kind == "header":
        found = [v for k, v in headers or [] if k == spec.name]
        return _text(found[-1]) if found else None  # the last one wins, as most clients read headers
    try:
        node: Any = json.loads(value) if value else None
    except (ValueError, UnicodeDecodeError):
        return None
    for part in spec.name.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    if node is None or isinstance(node, (dict, list)):
        return None if node is None else json.dumps(node, sort_keys=True)
    return str(node)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()


@dataclass(frozen=True)
class Copy:
    partition: int
    offset: int
    timestamp_ms: int


@dataclass
class Duplicate:
    event_id: str
    copies: list[Copy]

    @property
    def apart_s(self) -> float:
        stamps = [c.timestamp_ms for c in self.copies]
        return (max(stamps) - min(stamps)) / 1000.0


def find_duplicates(records: Iterable[tuple[str, int, int, int]]) -> list[Duplicate]:
    """(event id, partition, offset, timestamp ms) in; the ids seen more than once,
    most copies first (then by id), each with its copies in arrival order."""
    seen: dict[str, list[Copy]] = {}
    for event_id, partition, offset, ts in records:
        seen.setdefault(event_id, []).append(Copy(partition, offset, ts))
    dups = [Duplicate(k, sorted(v, key=lambda c: (c.timestamp_ms, c.partition, c.offset)))
            for k, v in seen.items() if len(v) > 1]
    return sorted(dups, key=lambda d: (-len(d.copies), d.event_id))


@dataclass
class Scan:
    topic: str
    key: KeySpec
    since_ms: int
    read: int = 0
    without_key: int = 0
    capped: bool = False
    duplicates: list[Duplicate] = field(default_factory=list)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> (start, end)


def window_ranges(admin: AdminClient, topic: str, since_ms: int, timeout: float) -> dict[int, tuple[int, int]]:
    """Per partition: the first offset at or after `since_ms` and the end offset now.
    Raises LookupError for a topic that does not exist."""
    metadata = admin.list_topics(topic=topic, timeout=timeout)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise LookupError(f"There is no topic `{topic}`.")
    tps = [TopicPartition(topic, p) for p in sorted(info.partitions)]
    long = op_timeout(timeout)
    starts = admin.list_offsets({tp: OffsetSpec.for_timestamp(since_ms) for tp in tps}, request_timeout=long)
    ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=long)
    out = {}
    deadline = time.monotonic() + timeout + 1  # librdkafka has a minute (op_timeout); the reply does not
    for tp in tps:
        end = wait(ends[tp], max(0.1, deadline - time.monotonic()),
                   f"Reading the end offset of {tp.topic}[{tp.partition}]").offset
        start = wait(starts[tp], max(0.1, deadline - time.monotonic()),
                     f"Looking up the window's first offset of {tp.topic}[{tp.partition}]").offset
        out[tp.partition] = (end if start < 0 else start, end)  # -1: nothing at or after the time
    return out


def scan(cluster: KafkaClusterSettings, admin: AdminClient, topic: str, key: KeySpec, window_s: float,
         max_messages: int, now: datetime | None = None) -> Scan:
    """Raises LookupError (no such topic), KafkaException, and ActionError (reading stopped)."""
    now = now or datetime.now(timezone.utc)
    since_ms = int((now.timestamp() - window_s) * 1000)
    result = Scan(topic=topic, key=key, since_ms=since_ms)
    result.ranges = window_ranges(admin, topic, since_ms, cluster.request_timeout_s)
    records: list[tuple[str, int, int, int]] = []
    message: Message
    for message in read_range(cluster, {(topic, p): r for p, r in result.ranges.items()}):
        if result.read >= max_messages:
            result.capped = True
            break
        result.read += 1
        event_id = extract(key, message.key(), message.value(), message.headers())
        if event_id is None:
            result.without_key += 1
            continue
        records.append((event_id, message.partition() or 0, message.offset() or 0, message.timestamp()[1]))
    result.duplicates = find_duplicates(records)
    return result


def report(result: Scan, window_s: float, now: datetime) -> Report:
    extra = sum(len(d.copies) - 1 for d in result.duplicates)
    rows = [[d.event_id[:80], str(len(d.copies)), ", ".join(f"p{c.partition}@{c.offset}" for c in d.copies[:6])
             + (f" +{len(d.copies) - 6}" if len(d.copies) > 6 else ""), duration(d.apart_s)]
            for d in result.duplicates]
    if result.duplicates:
        verdict = Verdict(level=Level.WARNING, reasons=[
            f"{plural(len(result.duplicates), 'event id')} arrived more than once "
            f"({plural(extra, 'extra copy', 'extra copies')}) among {plural(result.read, 'message')}"])
    else:
        verdict = Verdict(reasons=[f"no repeated event id among {plural(result.read, 'message')}"])
    notes = []
    if result.capped:
        verdict.level = max(verdict.level, Level.WARNING)
        notes.append(f"Capped at {result.read:,} messages (digests.duplicates_max_messages): the rest of the window "
                     "was not read, so duplicates there are not found. Narrow --window to read it all.")
    if result.without_key:
        notes.append(f"{plural(result.without_key, 'message')} had no {result.key.label}: not checked.")
    start = datetime.fromtimestamp(result.since_ms / 1000, timezone.utc)
    read_from = ", ".join(f"p{p} {s:,}–{e:,}" for p, (s, e) in sorted(result.ranges.items())[:8])
    notes.append(f"Window: the last {duration(window_s)} (from {start:%Y-%m-%d %H:%M:%S} UTC, found with "
                 f"offsets_for_times), offsets {read_from}; event id: {result.key.label}.")
    return Report(title=f"Duplicates in {result.topic}", verdict=verdict, taken_at=now, notes=notes,
                  tables=[Table(headers=["event id", "copies", "partition@offset", "apart"], rows=rows)],
                  cli=[f"kafka-console-consumer.sh --topic {result.topic} --property print.key=true "
                       "--property print.headers=true --property print.offset=true --from-beginning"])


