"""The Kafka half of /replay-dlq (the mechanism is described in bot.actions.replay).

Each dead letter goes back with its key, value and headers, plus the marker header
``x-incidentbot-replay: <replay id>``, to ``--to`` when given, else to the original
topic its error headers name (Kafka Connect's ``__connect.errors.topic`` or Spring's
``kafka_dlt-original-topic``), else to the source topic the DLQ patterns or mappings
pair it with. It keeps its original partition when the headers name one, it goes back
to that same topic, and the partition exists; otherwise the key decides, with the
Java client's partitioner (murmur2) so keys land where the topic's producers put them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import NewTopic

from bot.actions.base import ActionContext, ActionError, Plan, Progress, ProgressFn, Refusal, Row, Verification, plural
from bot.actions.kafka_read import read_range
from bot.actions.kafka_util import committed_with_metadata, error_text, log_bounds, topic_partitions
from bot.actions.replay_guard import kafka_headers, parks, replay_count
from bot.actions.replay_kafka_plan import Headers, classify, destination, position
from bot.actions.replay_spec import MARKER, matches
from bot.actions.replay_store import ReplayRecord, beat
from bot.probes.clients import kafka_config, op_timeout

GROUP_PREFIX = "incidentbot-replay-"  # replay consumer group and transactional id: one per replay
def _counted(metadata: str, name: str) -> int:
    """A count from a replay group offset's metadata, "moved=12;parked=3" (older: "moved=12")."""
    for part in metadata.split(";"):
        key, _, value = part.partition("=")
        if key == name and value.isdigit():
            return int(value)
    return 0


class Run:
    """One execution (or resumption) of a Kafka replay plan."""

    def __init__(self, ctx: ActionContext, plan: Plan, record: ReplayRecord) -> None:
        self.ctx, self.plan, self.record = ctx, plan, record
        self.cs = ctx.clients.settings.kafka[plan.cluster]
        self.admin = ctx.clients.kafka_admin(plan.cluster)
        self.dlq: str = plan.details["dlq"]
        self.group = GROUP_PREFIX + record.id
        self.stops = {p: stop for p, _, stop in plan.details["ranges"]}
        self.starts = {p: start for p, start, _ in plan.details["ranges"]}
        self.partitions: dict[str, int] = plan.details["target_partitions"]
        self.producer: Producer | None = None
        self.parked_by: dict[int, int] = {}  # per DLQ partition, how many of the moved were parked

    @property
    def parked(self) -> int:
        return sum(self.parked_by.values())

    def ensure_parking(self) -> None:
        """Make the loop guard's parking topic when the plan parks and it is missing, and
        wait until the cluster's metadata shows it (the plan's re-check looks for it)."""
        parking = self.plan.details.get("parking")
        if not self.plan.details.get("parked") or parking is None:
            return
        timeout = self.cs.request_timeout_s
        if parking not in topic_partitions(self.admin, timeout):
            future = self.admin.create_topics([NewTopic(parking, self.partitions[parking])],
                                              request_timeout=op_timeout(timeout))[parking]
            try:
                future.result(timeout + 5)
            except FutureTimeout:
                raise ActionError(f"Creating the parking topic {parking} got no answer within {timeout + 5:g} s.") \
                    from None
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ActionError(f"Creating the parking topic {parking} failed: {error_text(exc)}.") from None
        deadline = time.monotonic() + max(10.0, timeout * 3)
        while parking not in topic_partitions(self.admin, timeout) and time.monotonic() < deadline:
            time.sleep(0.2)

    def fence(self) -> None:
        """Start this run's transactional producer. init_transactions fences any earlier
        producer of this replay (a process that died or hangs) and aborts its open
        transaction, whose DLQ offsets would otherwise keep the group's offsets unstable:
        so it comes before reading where to resume."""
        timeout = self.cs.request_timeout_s
        self.producer = Producer({**kafka_config(self.cs), "transactional.id": self.group,
                                  "partitioner": "murmur2_random", "linger.ms": 5, "transaction.timeout.ms": 60000})
        try:
            self.producer.init_transactions(max(30.0, timeout * 6))
        except KafkaException as exc:
            raise ActionError(f"Starting the replay's transactional producer failed: {error_text(exc)}.") from None

    def progress_and_refusals(self) -> tuple[dict[int, int], dict[int, int], list[Refusal]]:
        """Resume offsets and per-partition moved counts from the replay group (the
        broker's record, committed with the messages), and what makes the plan stale."""
        timeout = self.cs.request_timeout_s
        saved = committed_with_metadata(self.admin, self.group, timeout, require_stable=True)
        frm = {p: saved.get((self.dlq, p), (start, ""))[0] for p, start in self.starts.items()}
        moved = {p: _counted(saved[(self.dlq, p)][1], "moved") if (self.dlq, p) in saved else 0 for p in self.starts}
        self.parked_by = {p: _counted(saved[(self.dlq, p)][1], "parked") if (self.dlq, p) in saved else 0
                          for p in self.starts}
        bounds = log_bounds(self.admin, [(self.dlq, p) for p in self.starts], timeout, committed_only=True)
        refusals = []
        for p, at in frm.items():
            if at < self.stops[p] and bounds[(self.dlq, p)][0] > at:
                refusals.append(Refusal(item=f"{self.dlq}[{p}]", reason=(
                    f"Messages {at}-{bounds[(self.dlq, p)][0] - 1} of {self.dlq}[{p}] were deleted (retention or a "
                    f"purge) since the plan: plan again.")))
        topics = topic_partitions(self.admin, timeout)
        for topic, count in self.partitions.items():
            if topic not in topics:
                refusals.append(Refusal(reason=f"Target topic {topic} no longer exists."))
            elif len(topics[topic]) != count:
                refusals.append(Refusal(reason=(
                    f"Target topic {topic} now has {plural(len(topics[topic]), 'partition')}, not {count}: "
                    f"keyed messages would land elsewhere than planned; plan again.")))
        return frm, moved, refusals

    def target_start(self) -> dict[str, int]:
        """Where the targets ended before the first message was replayed: verify counts from there."""
        if "target_start" in self.record.progress:
            return dict(self.record.progress["target_start"])
        bounds = log_bounds(self.admin, [(t, p) for t, n in self.partitions.items() for p in range(n)],
                            self.cs.request_timeout_s)
        start = {f"{t}:{p}": end for (t, p), (_, end) in bounds.items()}
        beat(self.ctx.engine, self.record.id, moved=self.record.moved, progress={"target_start": start})
        return start

    def go(self, frm: dict[int, int], moved_by: dict[int, int], *, progress: ProgressFn | None,
           abort: threading.Event, batch_size: int, progress_every: int,
           on_batch: Callable[[int], None] | None) -> tuple[str, int, str]:
        """(state, moved in total, sentence). Moves batch by batch, each one transaction
        holding its messages and the replay group's offsets."""
        timeout = self.cs.request_timeout_s
        spec_to, mapped, wanted = self.plan.details["to"], self.plan.details["mapped"], self.plan.details["pattern"]
        planned = int(self.plan.details["planned"])
        active = {p for p in self.starts if frm[p] < self.stops[p]}
        moved_total = sum(moved_by.values())
        producer = self.producer
        assert producer is not None, "fence() first"
        consumer = Consumer({**kafka_config(self.cs), "group.id": self.group, "enable.auto.commit": False,
                             "enable.auto.offset.store": False, "enable.partition.eof": True,
                             "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                             "fetch.wait.max.ms": 20})  # the end is an empty fetch (bot.actions.kafka_read)
        try:
            consumer.assign([TopicPartition(self.dlq, p, frm[p]) for p in sorted(active)])
            reported, quiet_since = moved_total, time.monotonic()
            while active:
                if abort.is_set():
                    return "aborted", moved_total, f"Aborted after {plural(moved_total, 'message')} of {planned:,}."
                batch = self._take(consumer, active, batch_size)
                if not batch:
                    if time.monotonic() - quiet_since > max(10.0, timeout * 4):
                        return "failed", moved_total, (f"The DLQ stopped delivering before the planned end (partitions "
                                                       f"{sorted(active)}); resume to continue.")
                    continue
                quiet_since = time.monotonic()
                producer.begin_transaction()
                last: dict[int, int] = {}
                sent = 0
                for m in batch:
                    partition_in, offset_in = position(m)
                    last[partition_in] = offset_in
                    headers = m.headers()
                    if wanted is not None and not matches(wanted, *classify(headers, self.ctx)):
                        continue
                    target, partition, out = self._where_to(spec_to, mapped, headers)
                    if target is None or target not in self.partitions:
                        continue  # the plan refused any such message in range; a guard, not a path
                    self._produce(producer, target, partition, m, out)
                    moved_by[partition_in] = moved_by.get(partition_in, 0) + 1
                    if target == self.plan.details.get("parking"):
                        self.parked_by[partition_in] = self.parked_by.get(partition_in, 0) + 1
                    sent += 1
                offsets = [TopicPartition(self.dlq, p, o + 1, metadata=f"moved={moved_by.get(p, 0)};"
                                                                        f"parked={self.parked_by.get(p, 0)}")
                           for p, o in last.items()]
                producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), timeout * 2)
                if on_batch is not None:
                    on_batch(sent)  # fault-injection hook for tests: inside the open transaction, just before commit
                producer.commit_transaction(max(30.0, timeout * 6))
                moved_total += sent
                if not beat(self.ctx.engine, self.record.id, moved=moved_total):
                    return "failed", moved_total, "Another process took this replay over; this one stopped."
                if progress is not None and (moved_total - reported >= progress_every or not active):
                    reported = moved_total
                    progress(Progress(done=moved_total, total=planned, message=(
                        f"Replayed {moved_total:,} of {planned:,} from {self.dlq}{self._parked_text()}.")))
            return "completed", moved_total, f"Replayed {plural(moved_total, 'message')} from {self.dlq}" \
                                             f"{self._parked_text()}."
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.txn_requires_abort():
                try:
                    producer.abort_transaction(max(30.0, timeout * 6))
                except KafkaException:
                    pass  # the transaction times out on the broker; the resume's init fences it anyway
            return "failed", moved_total, (f"Kafka failed mid-replay ({error_text(exc)}); the open batch was rolled "
                                           f"back and the replay can be resumed.")
        finally:
            consumer.close()

    def _parked_text(self) -> str:
        return f" ({self.parked:,} of them parked in {self.plan.details['parking']})" if self.parked else ""

    def _where_to(self, spec_to: str | None, mapped: str | None,
                  headers: Headers) -> tuple[str | None, int | None, Headers]:
        """(topic, partition, headers to send): a message back after max_replays replays
        goes to the parking topic as it is; any other one to its destination, its replay
        count one higher."""
        header, limit = self.plan.details.get("count_header"), self.plan.details.get("max_replays")
        if not header or not limit:  # a plan made before the guard existed
            return (*destination(spec_to, mapped, headers, self.partitions), headers)
        replays = replay_count(headers, header)
        if parks(replays, int(limit)):
            return self.plan.details["parking"], None, headers
        return (*destination(spec_to, mapped, headers, self.partitions), kafka_headers(headers, header, replays + 1))

    def _take(self, consumer: Consumer, active: set[int], batch_size: int) -> list[Message]:
        batch = []
        for m in consumer.consume(num_messages=batch_size, timeout=0.5):
            (p, offset), error = position(m), m.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if p in active and offset >= self.stops[p]:
                        self._done(consumer, active, p)
                elif error.fatal():
                    raise KafkaException(error)
                continue
            if p not in active:
                continue
            if offset >= self.stops[p]:
                self._done(consumer, active, p)
                continue
            batch.append(m)
            if offset >= self.stops[p] - 1:
                self._done(consumer, active, p)
        return batch

    def finish(self) -> None:
        """Delete the replay group once the database says completed (the row is then the
        record): left behind, it would show as a group lagging on the DLQ forever."""
        timeout = self.cs.request_timeout_s
        try:
            future = self.admin.delete_consumer_groups([self.group], request_timeout=op_timeout(timeout))[self.group]
            future.result(timeout + 1)
        except (KafkaException, FutureTimeout):
            pass  # an orphan replay group is harmless; the row says completed

    def _done(self, consumer: Consumer, active: set[int], partition: int) -> None:
        active.discard(partition)
        consumer.pause([TopicPartition(self.dlq, partition)])

    def _produce(self, producer: Producer, topic: str, partition: int | None, m: Message, headers: Headers) -> None:
        kwargs: dict[str, Any] = {"key": m.key(), "value": m.value(),
                                  "headers": [*(headers or []), (MARKER, self.record.id.encode())]}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                return
            except BufferError:  # the local queue is full: let deliveries drain
                producer.poll(0.05)


def verify(ctx: ActionContext, plan: Plan, record: ReplayRecord) -> Verification:
    """Count, with read_committed, the messages carrying this replay's marker that
    arrived on the targets since the replay started; compare with the plan and with the
    count the replay group's offsets carried (recorded in the row at completion)."""
    cs = ctx.clients.settings.kafka[plan.cluster]
    admin = ctx.clients.kafka_admin(plan.cluster)
    planned = int(plan.details["planned"])
    start = record.progress.get("target_start", {})
    try:
        # Up to the high watermark, read with read_committed: a commit's markers reach the
        # partitions just after commit_transaction returns, and the read waits for them.
        ends = log_bounds(admin, [(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])) for k in start], cs.request_timeout_s)
        ranges = {tp: (start[f"{tp[0]}:{tp[1]}"], end) for tp, (_, end) in ends.items()}
        marker = record.id.encode()
        arrived: Counter[str] = Counter()
        for m in read_range(cs, ranges):
            headers: Headers = m.headers() or []
            if any(k == MARKER and v == marker for k, v in headers):
                arrived[m.topic() or ""] += 1
    except ActionError as exc:
        return Verification(ok=False, message=f"Could not read the targets back: {exc}")
    total = sum(arrived.values())
    rows = [Row(key=t, values={"arrived": n}) for t, n in sorted(arrived.items())]
    rows.append(Row(key="moved", values={"moved": record.moved}))
    mismatches = []
    if total != planned:
        mismatches.append(f"{plural(total, 'replayed message')} arrived on the targets; the plan said {planned:,}.")
    if record.moved != total:
        mismatches.append(f"The replay recorded {record.moved:,} moved but {total:,} arrived.")
    parked, parking = int(plan.details.get("parked", 0)), plan.details.get("parking")
    if parked and arrived[parking] != parked:
        mismatches.append(f"{plural(arrived[parking], 'message')} arrived in the parking topic {parking}; the plan "
                          f"parks {parked:,}.")
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches, message=mismatches[0])
    where = ", ".join(sorted(arrived)) or "the targets"
    kept = f" {parked:,} of them parked in {parking}, the rest replayed." if parked else ""
    return Verification(ok=True, rows=rows,
                        message=f"All {plural(planned, 'message')} arrived once on {where} (read_committed).{kept}")
