"""Committed offsets of every consumer group, read from Kafka's own
`__consumer_offsets` topic, as Burrow does.

Kafka's OffsetFetch takes one group a request (librdkafka has no batched form, its
KIP-709 is a TODO), so a look at 1,500 groups is 1,500 round trips. Every commit is
also a record in `__consumer_offsets`; one consumer following that topic holds the
committed offsets of all groups in memory, and a look asks the broker one question
instead: how far the topic goes now (ListOffsets, read-committed). Once the follower
has read that far, what it holds is what OffsetFetch would answer: a commit is
acknowledged only after it is written there, and transactional commits show only
once their transaction commits (the follower reads committed records only).

Record layout (Kafka's GroupCoordinator records, stable since 0.9): the key starts
with an int16 version; versions 0 and 1 are an offset commit — group, topic (int16
length-prefixed strings), partition (int32); other versions are group metadata and
the new coordinator's records, ignored here. The value starts with an int16 version
and the int64 offset, whatever the version; a null value (tombstone) deletes the
offset (group deleted, offset expired or deleted).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bot.probes.timeouts import op_timeout

log = logging.getLogger(__name__)

TOPIC = "__consumer_offsets"
# Never joins (assign(), not subscribe()) and never commits, so it is no consumer group.
READER_GROUP = "incidentbot-offsets-reader"
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_VALUE = struct.Struct(">hq")
# Errors after which following the topic is pointless: the principal may not read it.
_REFUSED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
            KafkaError.CLUSTER_AUTHORIZATION_FAILED}

OffsetKey = tuple[str, str, int]  # group, topic, partition


def parse_key(key: bytes | None) -> OffsetKey | None:
    """(group, topic, partition) of an offset-commit key; None for any other record
    or a key too short to be one."""
    if not key or len(key) < 2:
        return None
    try:
        (version,) = _INT16.unpack_from(key, 0)
        if version not in (0, 1):
            return None
        (n,) = _INT16.unpack_from(key, 2)
        group = key[4:4 + n].decode("utf-8", "replace")
        at = 4 + n
        (m,) = _INT16.unpack_from(key, at)
        topic = key[at + 2:at + 2 + m].decode("utf-8", "replace")
        (partition,) = _INT32.unpack_from(key, at + 2 + m)
    except struct.error:
        return None
    return group, topic, partition


def parse_offset(value: bytes | None) -> int | None:
    """The committed offset of an offset-commit value; None for a tombstone or a value
    too short to hold one."""
    if value is None or len(value) < _VALUE.size:
        return None
    return _VALUE.unpack_from(value, 0)[1]


def apply(offsets: dict[str, dict[tuple[str, int], int]], key: bytes | None, value: bytes | None) -> None:
    """One record of the topic, applied to group -> (topic, partition) -> offset."""
    parsed = parse_key(key)
    if parsed is None:
        return
    group, topic, partition = parsed
    offset = parse_offset(value)
    if offset is None or offset < 0:
        held = offsets.get(group)
        if held is not None:
            held.pop((topic, partition), None)
            if not held:
                del offsets[group]
        return
    offsets.setdefault(group, {})[(topic, partition)] = offset


class OffsetsLog:
    """Follows `__consumer_offsets` of one cluster in a thread of its own."""

    def __init__(self, config: dict[str, object], cluster: str) -> None:
        self._config = config
        self.cluster = cluster
        self._offsets: dict[str, dict[tuple[str, int], int]] = {}
        self._reached: dict[int, int] = {}  # partition -> next offset the follower will read
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.refused: str | None = None  # why the topic cannot be followed; the caller falls back
        self._at_end: set[int] = set()  # partitions read to their end at least once
        self._at_end_once = False  # every partition read to its end: from then on the follower keeps up
        self.records = 0
        self._thread = threading.Thread(target=self._follow, name=f"offsets-log-{cluster}", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        """Read to the topic's end once: from now on a look is answered from here."""
        return self._at_end_once and self.refused is None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def committed(self, admin: AdminClient, groups: Iterable[str],
                  timeout: float) -> dict[str, dict[tuple[str, int], int]] | None:
        """The committed offsets of `groups` as of now; None when the follower cannot say
        (refused, still reading the topic's history, or not read as far as the topic goes
        now within half of `timeout`): the caller asks the groups instead. Raises
        TimeoutError when the cluster did not say how far the topic goes within `timeout`."""
        if self.refused is not None or not self._at_end_once:
            return None  # still reading the topic's history (seconds on a big cluster): ask the groups
        started = time.monotonic()
        targets = self._ends(admin, timeout)
        if targets is None:
            return None
        deadline = started + timeout / 2
        with self._changed:
            while not all(self._reached.get(p, 0) >= end for p, end in targets.items() if end > 0):
                left = deadline - time.monotonic()
                if left <= 0 or self.refused is not None:
                    return None
                self._changed.wait(left)
            return {g: dict(self._offsets.get(g, {})) for g in groups}

    def _ends(self, admin: AdminClient, timeout: float) -> dict[int, int] | None:
        """partition -> last stable offset of the topic (what a read-committed reader can
        reach), for the partitions the follower reads; None when a partition's leader
        could not say (moving); TimeoutError when the cluster did not answer in time."""
        with self._changed:
            partitions = list(self._reached)
        futures = admin.list_offsets({TopicPartition(TOPIC, p): OffsetSpec.latest() for p in partitions},
                                     isolation_level=IsolationLevel.READ_COMMITTED,
                                     request_timeout=op_timeout(timeout))
        ends: dict[int, int] = {}
        deadline = time.monotonic() + timeout
        for tp, future in futures.items():
            try:
                ends[tp.partition] = future.result(timeout=max(0.01, deadline - time.monotonic())).offset
            except KafkaException:
                return None
        return ends

    def _follow(self) -> None:
        consumer = Consumer({
            **self._config, "group.id": READER_GROUP, "enable.auto.commit": False,
            "enable.auto.offset.store": False, "isolation.level": "read_committed",
            "enable.partition.eof": True, "auto.offset.reset": "earliest",
            # librdkafka logs a refused fetch each time it retries; one line here says it.
            "fetch.error.backoff.ms": 1000,
            # Its prefetch queue holds up to 64 MB by default; records are a few dozen
            # bytes and are taken as they come, so a small queue loses no speed.
            "queued.max.messages.kbytes": 4096,
        })
        try:
            while not self._stop.is_set():
                if not self._reached and not self._assign(consumer):
                    self._stop.wait(2.0)
                    continue
                # consume() waits out its timeout unless the batch fills: wait for the first
                # record only, then take what is already there.
                first = consumer.poll(0.5)
                if first is not None:
                    self._take([first, *consumer.consume(num_messages=10_000, timeout=0)])
        except Exception:  # noqa: BLE001 — a follower that died must not take the bot with it
            log.exception("following %s of cluster %s stopped", TOPIC, self.cluster)
            self.refused = "the follower stopped on an unexpected error"
        finally:
            consumer.close()
            with self._changed:
                self._changed.notify_all()

    def _assign(self, consumer: Consumer) -> bool:
        try:
            topic = consumer.list_topics(TOPIC, timeout=1).topics.get(TOPIC)  # short: close() waits for it
        except KafkaException:
            return False
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in topic.partitions])
        with self._changed:
            self._reached = {p: 0 for p in topic.partitions}
        return True

    def _take(self, batch: list) -> None:  # type: ignore[type-arg]
        offsets, reached = self._offsets, self._reached
        with self._changed:
            for message in batch:
                error = message.error()
                if error is None:
                    apply(offsets, message.key(), message.value())
                    reached[message.partition()] = message.offset() + 1
                    self.records += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    # The end as of this fetch; past any transaction markers a reader never sees.
                    reached[message.partition()] = max(reached.get(message.partition(), 0), message.offset())
                    if not self._at_end_once:
                        self._at_end.add(message.partition())
                        self._at_end_once = len(self._at_end) == len(reached)
                elif error.code() in _REFUSED:
                    self.refused = error.str()
                    log.warning("cannot follow %s of cluster %s (%s); committed offsets are asked group by "
                                "group", TOPIC, self.cluster, error.str())
                    self._stop.set()
            self._changed.notify_all()
