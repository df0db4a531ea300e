"""Kafka dead-letter topics: which topics are DLQs, how deep they are, and what the
newest dead letters failed with.

Read-only by construction: depth comes from two batched ListOffsets requests, and
samples from a consumer that is assigned explicit offsets (never subscribed), never
commits and never stores offsets, so no consumer group appears on the cluster.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from bot.config import DlqSettings, KafkaClusterSettings
from bot.probes.clients import Clients, kafka_config, op_timeout
from bot.probes.dlq_models import (
    REPLAY_HEADER,
    DepthObservation,
    DlqMessage,
    KafkaDlqRef,
    KafkaDlqSnapshot,
    PartitionDepth,
    decode_text,
    error_rate_percent,
    group_patterns,
    growth_per_minute,
    preview,
    replay_count,
)

CONNECT_PREFIX = "__connect.errors."
SPRING_PREFIX = "kafka_dlt-"
# Spring writes these as big-endian ints, not text.
_BINARY_SPRING = (f"{SPRING_PREFIX}original-partition", f"{SPRING_PREFIX}original-offset",
                  f"{SPRING_PREFIX}original-timestamp")
# "com.acme.BadThing: the message" in a free-form error header.
_CLASS_AND_MESSAGE = re.compile(r"^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:Exception|Error|Fault)):\s*(.*)$", re.S)


class DlqNotFound(LookupError):
    """No DLQ topic answers to the name; ``suggestions`` are the closest topic names."""

    def __init__(self, name: str, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = suggestions


# ---------------------------------------------------------------- discovery (pure)


def discover(topics: Mapping[str, list[int]], dlq: DlqSettings) -> list[KafkaDlqRef]:
    """The DLQ topics among ``topics`` (name -> partition ids), sorted by name.

    An explicit mapping wins over the patterns; among patterns, one whose source
    topic exists wins, so "dlq-orders.dlq" pairs with whichever source is real.
    """
    refs: list[KafkaDlqRef] = []
    for name in sorted(topics):
        if name.startswith("__"):  # Kafka's own topics (__consumer_offsets, ...)
            continue
        if name in dlq.kafka_mappings:
            source = dlq.kafka_mappings[name]
            refs.append(KafkaDlqRef(topic=name, derived_source=source,
                                    source_topic=source if source in topics else None,
                                    partitions=sorted(topics[name])))
            continue
        candidates: list[str] = []
        for pattern in dlq.kafka_patterns:
            prefix, suffix = pattern.split("{topic}")
            if len(name) > len(prefix) + len(suffix) and name.startswith(prefix) and name.endswith(suffix):
                candidates.append(name[len(prefix):len(name) - len(suffix)])
        if not candidates:
            continue
        source = next((s for s in candidates if s in topics), candidates[0])
        refs.append(KafkaDlqRef(topic=name, derived_source=source,
                                source_topic=source if source in topics else None,
                                partitions=sorted(topics[name])))
    return refs


def select(refs: list[KafkaDlqRef], name: str, all_topics: Iterable[str], dlq: DlqSettings) -> list[KafkaDlqRef]:
    """The DLQs a person means by ``name``: the DLQ topic itself, or every DLQ of a source topic.
    Raises DlqNotFound with a sentence saying what to do and the closest names."""
    chosen = [r for r in refs if name in (r.topic, r.derived_source)]
    if chosen:
        return chosen
    names = sorted(t for t in set(all_topics) if not t.startswith("__"))
    suggestions = difflib.get_close_matches(name, names + [r.topic for r in refs], n=3, cutoff=0.6)
    if name in names:
        message = (f"Topic {name} exists but no DLQ topic is paired with it (patterns "
                   f"{', '.join(dlq.kafka_patterns)}). If {name} is itself a DLQ, map it to its "
                   f"source in dlq.kafka_mappings.")
    else:
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        message = f"No Kafka topic or DLQ named {name}.{hint}"
    raise DlqNotFound(name, message, suggestions)


# ---------------------------------------------------------------- offsets (one batched round trip)


def fetch_offsets(admin: AdminClient, partitions: Iterable[tuple[str, int]], timeout_s: float
                  ) -> tuple[dict[tuple[str, int], tuple[int, int]], list[str]]:
    """(start, end) per (topic, partition), from one ListOffsets request for the
    earliest offsets and one for the latest, sent together; plus a note per
    partition whose offsets could not be read (so a depth is never silently short)."""
    tps = [TopicPartition(topic, p) for topic, p in partitions]
    if not tps:
        return {}, []
    earliest = admin.list_offsets({tp: OffsetSpec.earliest() for tp in tps}, request_timeout=op_timeout(timeout_s))
    latest = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=op_timeout(timeout_s))
    result: dict[tuple[str, int], tuple[int, int]] = {}
    notes: list[str] = []
    # The requests are in flight together; the deadline covers both.
    deadline = time.monotonic() + timeout_s + 1.0
    for tp in tps:
        try:
            start = earliest[tp].result(timeout=max(0.1, deadline - time.monotonic())).offset
            end = latest[tp].result(timeout=max(0.1, deadline - time.monotonic())).offset
        except KafkaException as exc:
            notes.append(f"{tp.topic} partition {tp.partition}: offsets unavailable ({_error_text(exc)}).")
            continue
        except concurrent.futures.TimeoutError:
            notes.append(f"{tp.topic} partition {tp.partition}: no offsets within {timeout_s:g} s.")
            continue
        result[(tp.topic, tp.partition)] = (start, end)
    return result, notes


def _error_text(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)


# ---------------------------------------------------------------- headers (pure)


def header_int(raw: bytes | None) -> int | None:
    """A partition or offset header. Kafka Connect writes decimal text, Spring a 4- or
    8-byte big-endian int. Text wins when both would parse: a binary int whose every
    byte is an ASCII digit is at least 0x30303030, no real partition or offset."""
    if raw is None:
        return None
    text = raw.decode("ascii", "replace").strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return int.from_bytes(raw, "big", signed=True) if len(raw) in (4, 8) else None


def parse_error_headers(headers: list[tuple[str, bytes | None]] | None, error_headers: list[str],
                        limit: int) -> dict[str, object]:
    """The error a dead letter carries and where it came from, from Kafka Connect's
    ``__connect.errors.*``, Spring's ``kafka_dlt-*`` or the configured headers (in
    that order of trust). Returns DlqMessage fields."""
    raw: dict[str, bytes | None] = {}
    for name, value in headers or []:
        raw[name] = value  # a repeated header: the last one is the latest error
    wanted = {h.lower() for h in error_headers}
    shown = {k: (decode_text(v) or "")[:limit] for k, v in raw.items()
             if (k.startswith((CONNECT_PREFIX, SPRING_PREFIX)) or k.lower() in wanted)
             and "stacktrace" not in k and k not in _BINARY_SPRING}
    for k in _BINARY_SPRING:
        if k in raw:
            shown[k] = str(header_int(raw[k]))
    fields: dict[str, object] = {"headers": shown}

    def text(key: str) -> str | None:
        return decode_text(raw.get(key)) if key in raw else None

    if f"{CONNECT_PREFIX}exception.class.name" in raw or f"{CONNECT_PREFIX}topic" in raw:
        fields.update(error_source="connect",
                      error_class=text(f"{CONNECT_PREFIX}exception.class.name"),
                      error_message=text(f"{CONNECT_PREFIX}exception.message"),
                      original_topic=text(f"{CONNECT_PREFIX}topic"),
                      original_partition=header_int(raw.get(f"{CONNECT_PREFIX}partition")),
                      original_offset=header_int(raw.get(f"{CONNECT_PREFIX}offset")))
    elif any(k.startswith(SPRING_PREFIX) for k in raw):
        # Spring wraps the real failure (ListenerExecutionFailedException); the cause
        # class is what distinguishes one bug from another.
        cls = (text(f"{SPRING_PREFIX}exception-cause-fqcn") or text(f"{SPRING_PREFIX}exception-fqcn")
               or text(f"{SPRING_PREFIX}key-exception-fqcn"))
        fields.update(error_source="spring", error_class=cls,
                      error_message=text(f"{SPRING_PREFIX}exception-message")
                      or text(f"{SPRING_PREFIX}key-exception-message"),
                      original_topic=text(f"{SPRING_PREFIX}original-topic"),
                      original_partition=header_int(raw.get(f"{SPRING_PREFIX}original-partition")),
                      original_offset=header_int(raw.get(f"{SPRING_PREFIX}original-offset")))
    else:
        for name, value in raw.items():
            if name.lower() in wanted and value:
                message = decode_text(value) or ""
                match = _CLASS_AND_MESSAGE.match(message)
                fields.update(error_source="header",
                              error_class=match.group(1) if match else None,
                              error_message=match.group(2) if match else message)
                break
    if isinstance(fields.get("error_message"), str):
        lines = str(fields["error_message"]).strip().splitlines()
        fields["error_message"] = lines[0][:limit] if lines else None
    return fields


def describe_record(partition: int, offset: int, key: bytes | None, value: bytes | None,
                    timestamp_ms: int | None, headers: list[tuple[str, bytes | None]] | None,
                    dlq: DlqSettings, replay_header: str = REPLAY_HEADER) -> DlqMessage:
    return DlqMessage(
        replays=replay_count(headers, replay_header),
        partition=partition, offset=offset,
        key=(decode_text(key) or "")[: dlq.preview_chars] if key is not None else None,
        timestamp=datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms is not None else None,
        size=len(value or b""), preview=preview(value, dlq.preview_chars),
        **parse_error_headers(headers, dlq.error_headers, dlq.preview_chars),  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- sampling


def sample_newest(cluster: KafkaClusterSettings, topic: str, partitions: list[PartitionDepth],
                  n: int, dlq: DlqSettings, replay_header: str = REPLAY_HEADER) -> tuple[list[DlqMessage], list[str]]:
    """The ``n`` newest messages of the topic, newest first, and notes on anything missed.

    Each partition is read from ``end - n``: whatever the spread of the newest
    messages across partitions, they are all among those. A throwaway group id is
    required by the client but never used: assign() with explicit offsets needs no
    coordinator, and with commits and offset stores off nothing is written.
    """
    wanted = {p.partition: p for p in partitions if p.depth > 0}
    if n <= 0 or not wanted:
        return [], []
    consumer = Consumer({
        **kafka_config(cluster),
        "group.id": f"incidentbot-dlq-peek-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,  # how we learn a partition has nothing more to give
        "auto.offset.reset": "earliest",  # if retention overtook end - n meanwhile
        "isolation.level": "read_uncommitted",  # aborted transactions fail too; show them
        "fetch.wait.max.ms": 20,  # the end is an empty fetch, held 500 ms by default
    })
    collected: list[DlqMessage] = []
    notes: list[str] = []
    pending = set(wanted)
    deadline = time.monotonic() + max(2.0, cluster.request_timeout_s * 2)
    try:
        consumer.assign([TopicPartition(topic, p.partition, max(p.start, p.end - n)) for p in wanted.values()])
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                _take(msg, wanted, pending, collected, notes, dlq, replay_header)
    finally:
        consumer.close()
    if pending:
        ids = ", ".join(map(str, sorted(pending)))
        notes.append(f"Sampling stopped before the end of partition{'s' if len(pending) > 1 else ''} {ids} "
                     f"of {topic}; the newest messages there may be missing.")
    collected.sort(key=lambda m: (m.timestamp or datetime.min.replace(tzinfo=UTC), m.offset or 0, m.partition or 0),
                   reverse=True)
    return collected[:n], notes


def _take(msg: Message, wanted: dict[int, PartitionDepth], pending: set[int],
          collected: list[DlqMessage], notes: list[str], dlq: DlqSettings, replay_header: str) -> None:
    partition = msg.partition()
    error = msg.error()
    if error is not None:
        if error.code() == KafkaError._PARTITION_EOF:
            pending.discard(partition)
        else:
            notes.append(f"Reading partition {partition}: {error.str()}.")
            if error.fatal() or not error.retriable():
                pending.discard(partition)
        return
    if partition not in pending:
        return
    ts_type, ts = msg.timestamp()
    collected.append(describe_record(partition, msg.offset(), msg.key(), msg.value(),
                                     None if ts_type == TIMESTAMP_NOT_AVAILABLE else ts,
                                     msg.headers(), dlq, replay_header))
    if msg.offset() >= wanted[partition].end - 1:
        pending.discard(partition)


# ---------------------------------------------------------------- the probe


def kafka_dlq_snapshots(clients: Clients, cluster: str, name: str | None = None, *,
                        sample_size: int | None = 0,
                        previous: Mapping[str, DepthObservation] | None = None,
                        keep: Callable[[str], bool] | None = None) -> list[KafkaDlqSnapshot]:
    """Snapshots of every DLQ topic (that ``keep`` keeps), or of those ``name`` means
    (a DLQ or its source).

    ``sample_size`` None means the configured dlq.sample_size; 0 skips sampling (the
    overview). ``previous`` maps DLQ topic -> an earlier ``snapshot.observation``;
    with it each snapshot carries growth per minute and the error rate over that window.
    Raises DlqNotFound, and KafkaException when the cluster cannot be reached.
    """
    settings = clients.settings
    cluster_settings = settings.kafka[cluster]
    timeout = cluster_settings.request_timeout_s
    admin = clients.kafka_admin(cluster)
    metadata = admin.list_topics(timeout=timeout)
    topics = {t: list(md.partitions) for t, md in metadata.topics.items() if md.error is None}
    refs = [r for r in discover(topics, settings.dlq) if keep is None or keep(r.topic)]
    if name is not None:
        refs = select(refs, name, topics, settings.dlq)
    wanted = {(r.topic, p) for r in refs for p in r.partitions}
    wanted |= {(r.source_topic, p) for r in refs if r.source_topic for p in topics[r.source_topic]}
    offsets, notes = fetch_offsets(admin, sorted(wanted), timeout)
    taken_at = datetime.now(UTC)
    n = settings.dlq.sample_size if sample_size is None else sample_size
    snapshots = []
    for ref in refs:
        snapshot = _snapshot(cluster, ref, topics, offsets, notes, taken_at, (previous or {}).get(ref.topic))
        if n > 0:
            snapshot.samples, sample_notes = sample_newest(cluster_settings, ref.topic, snapshot.partitions,
                                                           n, settings.dlq,
                                                           settings.dlq_hygiene.replay_count_header)
            snapshot.patterns = group_patterns(snapshot.samples)
            snapshot.notes += sample_notes
        snapshots.append(snapshot)
    return snapshots


def _snapshot(cluster: str, ref: KafkaDlqRef, topics: Mapping[str, list[int]],
              offsets: Mapping[tuple[str, int], tuple[int, int]], notes: list[str],
              taken_at: datetime, previous: DepthObservation | None) -> KafkaDlqSnapshot:
    parts = [PartitionDepth(partition=p, start=offsets[(ref.topic, p)][0], end=offsets[(ref.topic, p)][1])
             for p in ref.partitions if (ref.topic, p) in offsets]
    own_notes = [note for note in notes
                 if note.startswith((f"{ref.topic} partition ", f"{ref.source_topic} partition "))]
    source_total = None
    if ref.source_topic:
        source_parts = [offsets.get((ref.source_topic, p)) for p in topics[ref.source_topic]]
        if all(sp is not None for sp in source_parts):
            source_total = sum(sp[1] for sp in source_parts if sp is not None)
    elif ref.derived_source:
        own_notes.append(f"Source topic {ref.derived_source} does not exist, so no error rate.")
    snapshot = KafkaDlqSnapshot(
        cluster=cluster, topic=ref.topic, source_topic=ref.source_topic, derived_source=ref.derived_source,
        taken_at=taken_at, depth=sum(p.depth for p in parts), partitions=parts,
        dlq_end_total=sum(p.end for p in parts), source_end_total=source_total, notes=own_notes,
    )
    if previous is not None:
        snapshot.window_seconds = (taken_at - previous.taken_at).total_seconds()
        snapshot.growth_per_minute = growth_per_minute(previous, snapshot.observation)
        if source_total is not None and previous.source_end_total is not None:
            snapshot.error_rate_percent = error_rate_percent(previous.dlq_end_total, snapshot.dlq_end_total,
                                                             previous.source_end_total, source_total)
    return snapshot
