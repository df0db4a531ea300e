"""Consumer-group lag from a Kafka cluster, the same numbers as
`kafka-consumer-groups --describe`, in a fixed number of round trips:

- one ListGroups (only when every group is wanted),
- one DescribeGroups for all groups,
- the committed offsets from the follower of `__consumer_offsets` (bot.probes.offsets_log:
  one ListOffsets), or one OffsetFetch per group, all in flight at once (the protocol
  takes one group a call) when there are few groups or the topic cannot be read,
- one ListOffsets for the log ends and one for the log starts of every partition,
- one Metadata request for the partition counts of the groups' topics (not all topics).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from bot.probes.clients import admin_failed, op_timeout
from bot.probes.lag_models import GroupLag, LagSnapshot, Member, PartitionLag
from bot.probes.offsets_log import OffsetsLog
from bot.text import plural

# Kafka's own names for group states, as its command-line tool prints them.
STATE_NAMES = {
    ConsumerGroupState.STABLE: "Stable",
    ConsumerGroupState.EMPTY: "Empty",
    ConsumerGroupState.PREPARING_REBALANCING: "PreparingRebalance",
    ConsumerGroupState.COMPLETING_REBALANCING: "CompletingRebalance",
    ConsumerGroupState.DEAD: "Dead",
    ConsumerGroupState.UNKNOWN: "Unknown",
}


# From this many groups on, one question to the offsets log beats a request per group.
LOG_MIN_GROUPS = 10


# How librdkafka and _wait word "the cluster did not answer".
UNREACHABLE = ("Timed out", "no answer within", "ransport", "broker connections are down")


class KafkaUnavailable(Exception):
    """The cluster did not answer in time; the message names what was tried."""


def _error_text(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else None
    return first.str() if hasattr(first, "str") else (str(exc) or type(exc).__name__)


def group_states(admin: AdminClient, timeout: float) -> dict[str, str]:
    """Every consumer group of the cluster (not share groups) with its state, from
    one ListGroups request."""
    try:
        result = admin.list_consumer_groups(request_timeout=op_timeout(timeout)).result(timeout=timeout + 1)
    except KafkaException as exc:
        admin_failed(admin)
        raise KafkaUnavailable(f"listing consumer groups failed: {_error_text(exc)}") from None
    except TimeoutError:
        admin_failed(admin)
        raise KafkaUnavailable(f"listing consumer groups took longer than {timeout:.0f} s") from None
    if result.errors and not result.valid:
        # An unreachable cluster is reported here, not raised: every broker failed.
        admin_failed(admin)
        raise KafkaUnavailable(f"listing consumer groups failed: {result.errors[0].str()}")
    return {g.group_id: STATE_NAMES.get(g.state, "Unknown") for g in sorted(result.valid, key=lambda g: g.group_id)}


def list_groups(admin: AdminClient, timeout: float) -> list[str]:
    return list(group_states(admin, timeout))


def _wait(future: Future[Any], timeout: float, deadline: float | None = None) -> tuple[Any, str | None]:
    """The future's result or error text, waiting at most `timeout` or until `deadline`
    (time.monotonic()): the futures of one probe share its time, not one each."""
    left = timeout if deadline is None else max(0.01, deadline - time.monotonic())
    try:
        return future.result(timeout=left), None
    except KafkaException as exc:
        return None, _error_text(exc)
    except TimeoutError:
        return None, f"no answer within {timeout:.0f} s"


def _offsets(admin: AdminClient, partitions: Iterable[tuple[str, int]], spec: OffsetSpec,
             timeout: float) -> dict[tuple[str, int], int]:
    request = {TopicPartition(t, p): spec for t, p in partitions}
    if not request:
        return {}
    futures = admin.list_offsets(request, request_timeout=op_timeout(timeout))
    found: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + timeout + 1
    for tp, future in futures.items():
        info, error = _wait(future, timeout + 1, deadline)
        if error is None:
            found[(tp.topic, tp.partition)] = info.offset
    return found


def snapshot(admin: AdminClient, cluster: str, groups: list[str] | None, timeout: float,
             topic: str | None = None, keep: Callable[[str], bool] | None = None,
             offsets: Callable[[], OffsetsLog | None] | None = None) -> LagSnapshot:
    """Lag of the named groups (all groups when None, or those `keep` keeps), optionally
    of one topic only. With `offsets` (the follower of the cluster's committed offsets,
    got only when the cluster answered and the look is at many groups), their committed
    offsets are read from it instead of asking each group."""
    started = time.perf_counter()
    taken_at = datetime.now(timezone.utc)
    listed = group_states(admin, timeout) if groups is None else {}
    ids = [g for g in listed if keep is None or keep(g)] if groups is None else groups
    if not ids:
        return LagSnapshot(cluster=cluster, taken_at=taken_at, groups=[], elapsed_ms=0.0)
    # An Empty group has no members to describe: the listing already says all there is.
    to_describe = [g for g in ids if listed.get(g) != "Empty"]
    long = op_timeout(timeout)
    described = admin.describe_consumer_groups(to_describe, request_timeout=long) if to_describe else {}
    from_log = None
    follower = offsets() if offsets is not None and len(ids) >= LOG_MIN_GROUPS else None
    if follower is not None:
        try:
            from_log = follower.committed(admin, ids, timeout)
        except TimeoutError:
            raise KafkaUnavailable(f"reading committed offsets failed: no answer within {timeout:.0f} s") from None
    committed_futures = {} if from_log is not None else {
        g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=long)[g]
        for g in ids
    }
    deadline = time.monotonic() + timeout + 1

    groups_out: list[GroupLag] = []
    wanted: set[tuple[str, int]] = set()
    rows: dict[str, dict[tuple[str, int], PartitionLag]] = {}
    for g in ids:
        if g in described:
            description, describe_error = _wait(described[g], timeout + 1, deadline)
        else:
            description, describe_error = None, None
        by_partition: dict[tuple[str, int], PartitionLag] = {}
        if from_log is not None:
            offsets_error = None
            for (t, p), offset in from_log[g].items():
                by_partition[(t, p)] = PartitionLag(topic=t, partition=p, committed=offset, log_start=0, log_end=0)
        else:
            committed, offsets_error = _wait(committed_futures[g], timeout + 1, deadline)
            for tp in committed.topic_partitions if committed else []:
                if tp.error is None and tp.offset >= 0:
                    by_partition[(tp.topic, tp.partition)] = PartitionLag(
                        topic=tp.topic, partition=tp.partition, committed=tp.offset, log_start=0, log_end=0)
        group = _group(cluster, g, description, describe_error or offsets_error, listed.get(g))
        for member in group.members:
            for t, p in member.partitions:
                row = by_partition.get((t, p))
                if row is None:
                    row = by_partition[(t, p)] = PartitionLag(
                        topic=t, partition=p, committed=None, log_start=0, log_end=0)
                row.member_id, row.client_id, row.host = member.member_id, member.client_id, member.host
        if topic is not None:
            by_partition = {k: v for k, v in by_partition.items() if k[0] == topic}
        rows[g] = by_partition
        wanted.update(by_partition)
        groups_out.append(group)

    # No cluster metadata is read up front any more, so an unreachable cluster shows
    # here: every group timed out. (A refused group, e.g. not authorised, stays a
    # group's error, judged with the group.)
    failed = [g.error for g in groups_out if g.error and any(s in g.error for s in UNREACHABLE)]
    if len(failed) == len(groups_out) and not wanted:
        admin_failed(admin)
        raise KafkaUnavailable(f"reading consumer groups failed: {failed[0]}")
    # Partition counts of the groups' topics only, in flight with the ListOffsets
    # below: the whole cluster's metadata (thousands of topics on a shared cluster)
    # costs more than everything else the probe does.
    topics = sorted({t for t, _ in wanted})
    described_topics = admin.describe_topics(TopicCollection(topics), request_timeout=long) if topics else {}
    topics_deadline = time.monotonic() + timeout + 1
    ends = _offsets(admin, wanted, OffsetSpec.latest(), timeout)
    starts = _offsets(admin, wanted, OffsetSpec.earliest(), timeout)
    for group in groups_out:
        missing = 0
        for key, row in sorted(rows[group.group].items()):
            if key not in ends or key not in starts:
                missing += 1  # the topic was deleted, or its leader is offline
                continue
            row.log_start, row.log_end = starts[key], ends[key]
            if row.committed is not None and row.committed < row.log_start:
                row.retention_skipped = row.log_start - row.committed
            group.partitions.append(row)
        if missing:
            note = f"log offsets unavailable for {plural(missing, 'partition')}: topic deleted or leader offline"
            group.error = f"{group.error}; {note}" if group.error else note
    counts: dict[str, int] = {}
    for name, future in described_topics.items():
        description, _ = _wait(future, timeout + 1, topics_deadline)
        if description is not None:  # a deleted topic has no count; its rows are gone too
            counts[name] = len(description.partitions)
    return LagSnapshot(cluster=cluster, taken_at=taken_at, groups=groups_out, partitions_per_topic=counts,
                       elapsed_ms=round((time.perf_counter() - started) * 1000, 1))


def _group(cluster: str, group_id: str, description: Any, error: str | None, listed_state: str | None = None) -> GroupLag:
    if description is None:
        return GroupLag(cluster=cluster, group=group_id, state=listed_state or "Unknown", error=error)
    members = [
        Member(
            member_id=m.member_id, client_id=m.client_id, host=m.host,
            partitions=sorted((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])),
        )
        for m in description.members
    ]
    return GroupLag(
        cluster=cluster, group=group_id, state=STATE_NAMES.get(description.state, str(description.state)),
        coordinator=description.coordinator.id if description.coordinator else None,
        assignor=description.partition_assignor or None,
        members=members, error=error,
    )


# The Python client insists on a group id; this one never joins (assign(), not
# subscribe()) and never commits, so it never shows up as a consumer group.
READER_GROUP = "incidentbot-oldest-unread-reader"
MAX_OLDEST_PARTITIONS = 50  # the worst partitions by lag; a detail view needs no more
TIMESTAMP_TYPES = {TIMESTAMP_CREATE_TIME: "CreateTime", TIMESTAMP_LOG_APPEND_TIME: "LogAppendTime"}


def read_oldest_unread(config: dict[str, object], snap: LagSnapshot, timeout: float,
                       limit: int = MAX_OLDEST_PARTITIONS) -> None:
    """Reads the first unconsumed record of the worst `limit` lagging partitions of
    `snap` (one consumer, every partition assigned at its committed offset, polled
    until one record each or `timeout`) and sets their `oldest_unread_*` fields;
    `snap.oldest_unread_missed` counts the lagging partitions left unread."""
    lagging = [row for g in snap.groups for row in g.partitions if (row.lag or 0) > 0]
    lagging.sort(key=lambda row: row.lag or 0, reverse=True)
    # Several groups may wait at the same record: read each position once.
    wanted: dict[tuple[str, int, int], list[PartitionLag]] = {}
    for row in lagging[:limit]:
        start = max(row.committed or 0, row.log_start)  # below the log start retention deleted the rest
        wanted.setdefault((row.topic, row.partition, start), []).append(row)
    found = _first_records(config, list(wanted), timeout) if wanted else {}
    for position, rows in wanted.items():
        if position in found:
            kind, ts = found[position]
            for row in rows:
                row.oldest_unread_ms, row.oldest_unread_type = ts, TIMESTAMP_TYPES.get(kind)
    snap.oldest_unread_missed = sum(1 for row in lagging if row.oldest_unread_ms is None)


def _first_records(config: dict[str, object], positions: list[tuple[str, int, int]],
                   timeout: float) -> dict[tuple[str, int, int], tuple[int, int]]:
    """(timestamp type, timestamp ms) of the first record at or after each position;
    one position per partition is read (the first asked for)."""
    by_partition: dict[tuple[str, int], tuple[str, int, int]] = {}
    for position in positions:
        by_partition.setdefault(position[:2], position)
    consumer = Consumer({
        **config, "group.id": READER_GROUP, "enable.auto.commit": False, "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest", "enable.partition.eof": True,
        # One record a partition is all we want: small fetches, answered without waiting for more data.
        "fetch.wait.max.ms": 10, "max.partition.fetch.bytes": 64 * 1024, "queued.max.messages.kbytes": 1024,
    })
    found: dict[tuple[str, int, int], tuple[int, int]] = {}
    try:
        consumer.assign([TopicPartition(t, p, offset) for t, p, offset in by_partition.values()])
        pending = set(by_partition)
        deadline = time.monotonic() + timeout
        while pending and (left := deadline - time.monotonic()) > 0:
            for message in consumer.consume(num_messages=max(len(pending), 1), timeout=min(left, 0.5)):
                key = (message.topic(), message.partition())
                if key not in pending:
                    continue  # more of a partition already answered, fetched in the same batch
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    continue  # a transient fetch error; the deadline bounds the retries
                pending.discard(key)
                consumer.pause([TopicPartition(*key)])
                if error is None:  # EOF: nothing at or after the position (compaction, markers)
                    found[by_partition[key]] = message.timestamp()
    finally:
        consumer.close()
    return found
