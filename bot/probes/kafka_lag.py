"""Consumer-group lag from a Kafka cluster, the same numbers as
`kafka-consumer-groups --describe`, in a fixed number of round trips:

- one ListGroups (only when every group is wanted),
- one DescribeGroups for all groups,
- one OffsetFetch per group, all in flight at once (the protocol takes one group a call),
- one Metadata request for partition counts,
- one ListOffsets for the log ends and one for the log starts of every partition.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bot.probes.lag_models import GroupLag, LagSnapshot, Member, PartitionLag
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


class KafkaUnavailable(Exception):
    """The cluster did not answer in time; the message names what was tried."""


def _error_text(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else None
    return first.str() if hasattr(first, "str") else (str(exc) or type(exc).__name__)


def group_states(admin: AdminClient, timeout: float) -> dict[str, str]:
    """Every consumer group of the cluster (not share groups) with its state, from
    one ListGroups request."""
    try:
        result = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout + 1)
    except KafkaException as exc:
        raise KafkaUnavailable(f"listing consumer groups failed: {_error_text(exc)}") from None
    except TimeoutError:
        raise KafkaUnavailable(f"listing consumer groups took longer than {timeout:.0f} s") from None
    if result.errors and not result.valid:
        # An unreachable cluster is reported here, not raised: every broker failed.
        raise KafkaUnavailable(f"listing consumer groups failed: {result.errors[0].str()}")
    return {g.group_id: STATE_NAMES.get(g.state, "Unknown") for g in sorted(result.valid, key=lambda g: g.group_id)}


def list_groups(admin: AdminClient, timeout: float) -> list[str]:
    return list(group_states(admin, timeout))


def _wait(future: Future[Any], timeout: float) -> tuple[Any, str | None]:
    try:
        return future.result(timeout=timeout), None
    except KafkaException as exc:
        return None, _error_text(exc)
    except TimeoutError:
        return None, f"no answer within {timeout:.0f} s"


def _offsets(admin: AdminClient, partitions: Iterable[tuple[str, int]], spec: OffsetSpec,
             timeout: float) -> dict[tuple[str, int], int]:
    request = {TopicPartition(t, p): spec for t, p in partitions}
    if not request:
        return {}
    futures = admin.list_offsets(request, request_timeout=timeout)
    found: dict[tuple[str, int], int] = {}
    for tp, future in futures.items():
        info, error = _wait(future, timeout + 1)
        if error is None:
            found[(tp.topic, tp.partition)] = info.offset
    return found


def snapshot(admin: AdminClient, cluster: str, groups: list[str] | None, timeout: float,
             topic: str | None = None) -> LagSnapshot:
    """Lag of the named groups (all groups when None), optionally of one topic only."""
    started = time.perf_counter()
    taken_at = datetime.now(timezone.utc)
    listed = group_states(admin, timeout) if groups is None else {}
    ids = list(listed) if groups is None else groups
    if not ids:
        return LagSnapshot(cluster=cluster, taken_at=taken_at, groups=[], elapsed_ms=0.0)
    # An Empty group has no members to describe: the listing already says all there is.
    to_describe = [g for g in ids if listed.get(g) != "Empty"]
    described = admin.describe_consumer_groups(to_describe, request_timeout=timeout) if to_describe else {}
    committed_futures = {
        g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=timeout)[g]
        for g in ids
    }
    try:  # blocks; the requests above are in flight meanwhile
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"reading cluster metadata failed: {_error_text(exc)}") from None

    groups_out: list[GroupLag] = []
    wanted: set[tuple[str, int]] = set()
    rows: dict[str, dict[tuple[str, int], PartitionLag]] = {}
    for g in ids:
        if g in described:
            description, describe_error = _wait(described[g], timeout + 1)
        else:
            description, describe_error = None, None
        committed, offsets_error = _wait(committed_futures[g], timeout + 1)
        group = _group(cluster, g, description, describe_error or offsets_error, listed.get(g))
        by_partition: dict[tuple[str, int], PartitionLag] = {}
        for tp in committed.topic_partitions if committed else []:
            if tp.error is None and tp.offset >= 0:
                by_partition[(tp.topic, tp.partition)] = PartitionLag(
                    topic=tp.topic, partition=tp.partition, committed=tp.offset, log_start=0, log_end=0)
        for member in group.members:
            for t, p in member.partitions:
                row = by_partition.setdefault((t, p), PartitionLag(
                    topic=t, partition=p, committed=None, log_start=0, log_end=0))
                row.member_id, row.client_id, row.host = member.member_id, member.client_id, member.host
        if topic is not None:
            by_partition = {k: v for k, v in by_partition.items() if k[0] == topic}
        rows[g] = by_partition
        wanted.update(by_partition)
        groups_out.append(group)

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
    counts = {t: len(m.partitions) for t, m in metadata.topics.items()
              if any(t == p.topic for g in groups_out for p in g.partitions)}
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
