"""Reading a fixed range of offsets from Kafka without joining or committing as any
group: what the replay plan scans and what its verification counts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from bot.actions.base import ActionError
from bot.actions.kafka_util import TP
from bot.config import KafkaClusterSettings
from bot.probes.clients import kafka_config


def read_range(cluster: KafkaClusterSettings, ranges: dict[TP, tuple[int, int]], *,
               batch: int = 2000) -> Iterator[Message]:
    """Every committed message with start <= offset < end of each partition, in offset
    order per partition. The client needs a group id but this one is never used: offsets
    are assigned, never committed or stored. read_committed, so messages of aborted
    transactions (a replay attempt that crashed) are not counted."""
    pending = {tp for tp, (start, end) in ranges.items() if start < end}
    if not pending:
        return
    consumer = Consumer({
        **kafka_config(cluster),
        "group.id": f"incidentbot-peek-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,  # how a range that ends in control records is seen to end
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",  # retention may have passed the start since it was read
        # A range ends at a partition's end, seen only when a fetch comes back empty, which
        # the broker holds up to this long (500 ms by default): each plan and each
        # verification waited that much per read.
        "fetch.wait.max.ms": 20,
    })
    stall_s = max(10.0, cluster.request_timeout_s * 4)
    last = time.monotonic()
    try:
        consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for t, p in sorted(pending)])
        while pending:
            messages = consumer.consume(num_messages=batch, timeout=0.5)
            if not messages:
                if time.monotonic() - last > stall_s:
                    where = ", ".join(f"{t}[{p}]" for t, p in sorted(pending)[:5])
                    raise ActionError(f"Reading stopped before the end of {where}: nothing arrived for {stall_s:g} s.")
                continue
            last = time.monotonic()
            for message in messages:
                tp, offset = (message.topic() or "", message.partition() or 0), message.offset() or 0
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        if tp in pending and offset >= ranges[tp][1]:
                            pending.discard(tp)
                    elif error.fatal() or not error.retriable():
                        raise ActionError(f"Reading {tp[0]}[{tp[1]}] failed: {error.str()}.")
                    continue
                if tp not in pending:
                    continue
                if offset >= ranges[tp][1]:
                    pending.discard(tp)
                    continue
                yield message
                if offset >= ranges[tp][1] - 1:
                    pending.discard(tp)
    finally:
        consumer.close()
