"""Small blocking wrappers over the AdminClient futures the actions share. Every call
has a deadline, and every failure becomes an ActionError sentence."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, OffsetSpec

from bot.actions.base import ActionError, plural
from bot.probes.clients import op_timeout

TP = tuple[str, int]
T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else None
    return first.str() if isinstance(first, KafkaError) else (str(exc) or type(exc).__name__)


def wait(future: Future[T], timeout: float, what: str) -> T:
    """The future's value, or ActionError naming ``what`` failed and why."""
    try:
        return future.result(timeout=timeout)
    except KafkaException as exc:
        raise ActionError(f"{what} failed: {error_text(exc)}.") from None
    except FutureTimeout:
        raise ActionError(f"{what} got no answer within {timeout:g} s.") from None


def metadata(admin: AdminClient, timeout: float) -> ClusterMetadata:
    try:
        return admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ActionError(f"Reading the cluster metadata failed: {error_text(exc)}.") from None


def topic_partitions(admin: AdminClient, timeout: float) -> dict[str, list[int]]:
    md = metadata(admin, timeout)
    return {t: sorted(tm.partitions) for t, tm in md.topics.items() if tm.error is None}


def _list_offsets(admin: AdminClient, request: dict[TopicPartition, OffsetSpec], timeout: float,
                  what: str, **kwargs: Any) -> dict[TP, Any]:
    if not request:
        return {}
    futures = admin.list_offsets(request, request_timeout=op_timeout(timeout), **kwargs)
    deadline = time.monotonic() + timeout + 1
    found: dict[TP, Any] = {}
    for tp, future in futures.items():
        found[(tp.topic, tp.partition)] = wait(future, max(0.1, deadline - time.monotonic()),
                                                f"{what} of {tp.topic}[{tp.partition}]")
    return found


def log_bounds(admin: AdminClient, partitions: Iterable[TP], timeout: float, *,
               committed_only: bool = False) -> dict[TP, tuple[int, int]]:
    """(earliest, latest) offset of each partition: two ListOffsets requests in flight
    together. ``committed_only`` gives the last stable offset as the end, as a
    read_committed consumer sees it (an open transaction's messages are not counted)."""
    tps = [TopicPartition(t, p) for t, p in partitions]
    if not tps:
        return {}
    isolation = {"isolation_level": IsolationLevel.READ_COMMITTED} if committed_only else {}
    earliest = admin.list_offsets({tp: OffsetSpec.earliest() for tp in tps}, request_timeout=op_timeout(timeout))
    latest = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, request_timeout=op_timeout(timeout),
                                **isolation)
    deadline = time.monotonic() + timeout + 1
    bounds: dict[TP, tuple[int, int]] = {}
    for tp in tps:
        left = max(0.1, deadline - time.monotonic())
        start = wait(earliest[tp], left, f"Reading the earliest offset of {tp.topic}[{tp.partition}]").offset
        end = wait(latest[tp], left, f"Reading the latest offset of {tp.topic}[{tp.partition}]").offset
        bounds[(tp.topic, tp.partition)] = (start, end)
    return bounds


def offsets_for_time(admin: AdminClient, partitions: Iterable[TP], timestamp_ms: int,
                     timeout: float) -> dict[TP, int | None]:
    """The first offset whose timestamp is at or after ``timestamp_ms``; None where no
    message is that new (Kafka's tool then takes the log end)."""
    found = _list_offsets(admin, {TopicPartition(t, p): OffsetSpec.for_timestamp(timestamp_ms)
                                  for t, p in partitions}, timeout, "Looking up the offset for a time")
    return {tp: (info.offset if info.offset >= 0 else None) for tp, info in found.items()}


def committed_offsets(admin: AdminClient, group: str, timeout: float, *,
                      require_stable: bool = False) -> dict[TP, int]:
    """Every committed offset of ``group`` (all its topic-partitions). ``require_stable``
    waits out pending transactional commits, as a read_committed consumer would."""
    return {tp: offset for tp, (offset, _) in committed_with_metadata(admin, group, timeout,
                                                                     require_stable=require_stable).items()}


def committed_with_metadata(admin: AdminClient, group: str, timeout: float, *,
                            require_stable: bool = False) -> dict[TP, tuple[int, str]]:
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                               request_timeout=op_timeout(timeout),
                                               require_stable=require_stable)[group]
    answer = wait(future, timeout + 1, f"Reading the committed offsets of group {group}")
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata or "") for tp in answer.topic_partitions or []
            if tp.error is None and tp.offset >= 0}


def wait_until_served(admin: AdminClient, topic: str, partitions: int, deadline: float, timeout: float) -> None:
    """Until the topic has ``partitions`` partitions, each with a leader that answers: a
    created topic or partition reaches the brokers' metadata a moment after the admin
    request returns, and verifying before that would report a failure that is not one."""
    while True:
        md = metadata(admin, timeout).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and all(
                pm.leader >= 0 for pm in md.partitions.values()):
            try:
                log_bounds(admin, [(topic, p) for p in range(partitions)], timeout)
                return
            except ActionError:
                pass  # leaders elected but not serving yet
        if time.monotonic() > deadline:
            raise ActionError(f"Topic {topic} does not have {plural(partitions, 'partition')} with a leader yet.")
        time.sleep(0.2)
