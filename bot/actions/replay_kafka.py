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

import heapq
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from bot.actions.base import ActionContext, ActionError, Plan, Progress, ProgressFn, Refusal, Row, Verification, plural
from bot.actions.kafka_read import read_range
from bot.actions.kafka_util import committed_with_metadata, error_text, log_bounds, topic_partitions
from bot.actions.replay_spec import MARKER, ReplaySpec, matches, pattern_of
from bot.actions.replay_store import ReplayRecord, beat
from bot.probes import kafka_dlq
from bot.probes.clients import kafka_config
from bot.probes.dlq_models import preview

GROUP_PREFIX = "incidentbot-replay-"  # replay consumer group and transactional id: one per replay
Headers = Any  # what Message.headers() returns: a list of (name, bytes | None), or None
_CONNECT = ("__connect.errors.topic", "__connect.errors.partition", "__connect.errors.exception.class.name")
_SPRING = ("kafka_dlt-original-topic", "kafka_dlt-original-partition")


def origin(headers: Headers) -> tuple[str | None, int | None]:
    """The original topic and partition the error headers name; Connect's win over Spring's,
    as in the DLQ probe."""
    raw = dict(headers or [])
    keys = _CONNECT[:2] if any(k in raw for k in _CONNECT[::2]) else _SPRING if _SPRING[0] in raw else None
    if keys is None:
        return None, None
    topic = raw.get(keys[0])
    return (topic.decode("utf-8", "replace") if topic else None), kafka_dlq.header_int(raw.get(keys[1]))


def destination(spec_to: str | None, mapped: str | None, headers: Headers,
                partitions: dict[str, int]) -> tuple[str | None, int | None]:
    """(topic, partition or None for the key's partitioner) for one dead letter."""
    topic, partition = origin(headers)
    target = spec_to or topic or mapped
    if target is None or partition is None or target != topic or not 0 <= partition < partitions.get(target, 0):
        return target, None
    return target, partition


def _classify(headers: Headers, ctx: ActionContext) -> tuple[str, str | None, str | None]:
    dlq = ctx.clients.settings.dlq
    fields = kafka_dlq.parse_error_headers(headers, dlq.error_headers, dlq.preview_chars)
    cls, msg = fields.get("error_class"), fields.get("error_message")
    return pattern_of(cls, msg, "(no error headers)"), cls, msg  # type: ignore[arg-type, return-value]


def plan(ctx: ActionContext, cluster: str, spec: ReplaySpec) -> Plan:
    settings = ctx.clients.settings
    cs = settings.kafka[cluster]
    admin = ctx.clients.kafka_admin(cluster)
    topics = topic_partitions(admin, cs.request_timeout_s)
    if spec.dlq not in topics:
        raise ActionError(f"There is no Kafka topic {spec.dlq} on {cluster}.")
    ref = next((r for r in kafka_dlq.discover(topics, settings.dlq) if r.topic == spec.dlq), None)
    mapped = ref.derived_source if ref else None
    counts = {t: len(ps) for t, ps in topics.items()}
    bounds = log_bounds(admin, [(spec.dlq, p) for p in topics[spec.dlq]], cs.request_timeout_s, committed_only=True)
    per_partition: dict[int, list[tuple[int, int, str | None, str]]] = defaultdict(list)
    examples: dict[str, str | None] = {}
    not_matching = 0
    samples: list[dict[str, Any]] = []
    for m in read_range(cs, bounds):
        headers = m.headers()
        pattern, cls, msg = _classify(headers, ctx)
        if not matches(spec.pattern, pattern, cls, msg):
            not_matching += 1
            continue
        target, _ = destination(spec.to, mapped, headers, counts)
        ts_type, ts = m.timestamp()
        partition, offset = _where(m)
        per_partition[partition].append((ts if ts_type != TIMESTAMP_NOT_AVAILABLE else 0, offset, target, pattern))
        examples.setdefault(pattern, msg)
        if len(samples) < 5:
            samples.append({"partition": partition, "offset": offset, "pattern": pattern, "to": target,
                            "key": preview(m.key(), 80) if m.key() is not None else None,
                            "preview": preview(m.value(), settings.dlq.preview_chars)})
    # Oldest first across partitions; each partition's share stays a prefix of its range,
    # which is what lets the replay group's committed offsets say exactly what was done.
    streams = [[(ts, p, off, target, pattern) for ts, off, target, pattern in rows]
               for p, rows in per_partition.items()]
    chosen = list(heapq.merge(*streams, key=lambda r: (r[0], r[1], r[2])))[: spec.limit or None]
    stops = {p: bounds[(spec.dlq, p)][1] for p in topics[spec.dlq]}
    if spec.limit is not None:
        last: dict[int, int] = {}
        for _, p, off, _, _ in chosen:
            last[p] = max(off, last.get(p, -1))
        stops = {p: (last[p] + 1 if p in last else bounds[(spec.dlq, p)][0]) for p in topics[spec.dlq]}
    groups: Counter[tuple[str, str | None]] = Counter((pattern, target) for _, _, _, target, pattern in chosen)
    refusals: list[Refusal] = []
    no_target = sum(n for (_, target), n in groups.items() if target is None)
    if no_target:
        refusals.append(Refusal(reason=f"{plural(no_target, 'message')} name no original topic and {spec.dlq} is not "
                                       f"mapped to a source: give --to, or leave them out with --pattern."))
    for target in sorted({t for _, t in groups if t is not None and t not in topics}):
        refusals.append(Refusal(reason=f"Topic {target} does not exist (automatic topic creation is off): create it "
                                       f"or give --to."))
    rows = [Row(key=f"{pattern} -> {target}", values={"pattern": pattern, "to": target, "messages": n},
                info={"example": examples.get(pattern)}, severity=n)
            for (pattern, target), n in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1])))]
    depth = sum(end - start for start, end in bounds.values())
    targets = sorted({t for _, t in groups if t is not None and t in topics})
    warnings = ["Replayed messages are appended: consumers of the target see them after newer messages.",
                "They are written in Kafka transactions: consumers that read with isolation.level=read_uncommitted "
                "(the Java default) can see a batch twice if the bot dies mid-replay; read_committed ones never do."]
    if ref is None:
        warnings.append(f"{spec.dlq} is not a known DLQ (no pattern or mapping pairs it with a source).")
    if not_matching:
        warnings.append(f"{plural(not_matching, 'message')} do not match --pattern {spec.pattern!r} and stay.")
    where = ", ".join(targets) or "nowhere"
    return Plan(
        kind="replay_dlq", broker="kafka", cluster=cluster, target=spec.dlq,
        params={"spec": spec.model_dump(mode="json")},
        summary=f"Replay {plural(len(chosen), 'message')} of Kafka DLQ {spec.dlq} to {where}.",
        columns=["pattern", "to", "messages"], rows=rows, warnings=warnings, refusals=refusals, samples=samples,
        totals={"messages": len(chosen), "dlq_depth": depth, "not_matching": not_matching},
        details={"dlq": spec.dlq, "planned": len(chosen), "to": spec.to, "pattern": spec.pattern, "mapped": mapped,
                 "ranges": [[p, bounds[(spec.dlq, p)][0], stops[p]] for p in topics[spec.dlq]
                            if stops[p] > bounds[(spec.dlq, p)][0]],
                 "target_partitions": {t: counts[t] for t in targets}})


def _where(m: Message) -> tuple[int, int]:
    """(partition, offset) of a consumed message (the client types both as optional)."""
    return m.partition() or 0, m.offset() or 0


def _moved(metadata: str) -> int:
    return int(metadata.removeprefix("moved=")) if metadata.startswith("moved=") else 0


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
        moved = {p: _moved(saved[(self.dlq, p)][1]) if (self.dlq, p) in saved else 0 for p in self.starts}
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
                             "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
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
                    partition_in, offset_in = _where(m)
                    last[partition_in] = offset_in
                    headers = m.headers()
                    if wanted is not None and not matches(wanted, *_classify(headers, self.ctx)):
                        continue
                    target, partition = destination(spec_to, mapped, headers, self.partitions)
                    if target is None or target not in self.partitions:
                        continue  # the plan refused any such message in range; a guard, not a path
                    self._produce(producer, target, partition, m, headers)
                    moved_by[partition_in] = moved_by.get(partition_in, 0) + 1
                    sent += 1
                offsets = [TopicPartition(self.dlq, p, o + 1, metadata=f"moved={moved_by.get(p, 0)}")
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
                    progress(Progress(done=moved_total, total=planned,
                                      message=f"Replayed {moved_total:,} of {planned:,} from {self.dlq}."))
            return "completed", moved_total, f"Replayed {plural(moved_total, 'message')} from {self.dlq}."
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

    def _take(self, consumer: Consumer, active: set[int], batch_size: int) -> list[Message]:
        batch = []
        for m in consumer.consume(num_messages=batch_size, timeout=0.5):
            (p, offset), error = _where(m), m.error()
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
            self.admin.delete_consumer_groups([self.group], request_timeout=timeout)[self.group].result(timeout + 1)
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
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches, message=mismatches[0])
    where = ", ".join(sorted(arrived)) or "the targets"
    return Verification(ok=True, rows=rows,
                        message=f"All {plural(planned, 'message')} arrived once on {where} (read_committed).")
