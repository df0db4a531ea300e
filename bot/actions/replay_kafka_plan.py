"""The Kafka half of /replay-dlq's dry run: which dead letters go where (the original
topic and partition their error headers name, --to, the DLQ's mapped source, or the
loop guard's parking topic), grouped by error pattern. The execution is in
bot.actions.replay_kafka."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from bot.actions.base import ActionContext, ActionError, Plan, Refusal, Row, plural
from bot.actions.kafka_read import read_range
from bot.actions.kafka_util import log_bounds, topic_partitions
from bot.actions.replay_guard import guard_totals, parks, replay_count
from bot.actions.replay_spec import ReplaySpec, matches, pattern_of
from bot.probes import kafka_dlq
from bot.probes.dlq_models import preview

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


def classify(headers: Headers, ctx: ActionContext) -> tuple[str, str | None, str | None]:
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
    guard = settings.dlq_hygiene
    parking = guard.parking_for(spec.dlq)
    parked = came_back = 0
    for m in read_range(cs, bounds):
        headers = m.headers()
        pattern, cls, msg = classify(headers, ctx)
        if not matches(spec.pattern, pattern, cls, msg):
            not_matching += 1
            continue
        replays = replay_count(headers, guard.replay_count_header)
        came_back += replays > 0
        if parks(replays, guard.max_replays):
            target, parked = parking, parked + 1
        else:
            target, _ = destination(spec.to, mapped, headers, counts)
        ts_type, ts = m.timestamp()
        partition, offset = position(m)
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
    for target in sorted({t for _, t in groups if t is not None and t not in topics and t != parking}):
        refusals.append(Refusal(reason=f"Topic {target} does not exist (automatic topic creation is off): create it "
                                       f"or give --to."))
    rows = [Row(key=f"{pattern} -> {target}", values={"pattern": pattern, "to": target, "messages": n},
                info={"example": examples.get(pattern)}, severity=n)
            for (pattern, target), n in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1])))]
    depth = sum(end - start for start, end in bounds.values())
    targets = sorted({t for _, t in groups if t is not None and t in topics and t != parking})
    # The parking topic is made on the first park, with the DLQ's partition count.
    parking_partitions = counts.get(parking, len(topics[spec.dlq])) if parked else 0
    warnings = ["Replayed messages are appended: consumers of the target see them after newer messages.",
                "They are written in Kafka transactions: consumers that read with isolation.level=read_uncommitted "
                "(the Java default) can see a batch twice if the bot dies mid-replay; read_committed ones never do."]
    if ref is None:
        warnings.append(f"{spec.dlq} is not a known DLQ (no pattern or mapping pairs it with a source).")
    if not_matching:
        warnings.append(f"{plural(not_matching, 'message')} do not match --pattern {spec.pattern!r} and stay.")
    if parked:
        warnings.append(f"{plural(parked, 'message')} came back after {guard.max_replays} replays: "
                        f"{'it goes' if parked == 1 else 'they go'} to the parking topic {parking}"
                        f"{'' if parking in topics else ' (created)'}, not round again.")
    where = ", ".join(targets) or "nowhere"
    return Plan(
        kind="replay_dlq", broker="kafka", cluster=cluster, target=spec.dlq,
        params={"spec": spec.model_dump(mode="json")},
        summary=f"Replay {plural(len(chosen) - parked, 'message')} of Kafka DLQ {spec.dlq} to {where}"
                + (f" and park {parked:,} in {parking} (back after {guard.max_replays} replays)." if parked else "."),
        columns=["pattern", "to", "messages"], rows=rows, warnings=warnings, refusals=refusals, samples=samples,
        totals={"messages": len(chosen), "dlq_depth": depth, "not_matching": not_matching,
                **guard_totals(parked, came_back)},
        details={"dlq": spec.dlq, "planned": len(chosen), "to": spec.to, "pattern": spec.pattern, "mapped": mapped,
                 "ranges": [[p, bounds[(spec.dlq, p)][0], stops[p]] for p in topics[spec.dlq]
                            if stops[p] > bounds[(spec.dlq, p)][0]],
                 "target_partitions": {t: counts[t] for t in targets}
                 | ({parking: parking_partitions} if parked else {}),
                 "parked": parked, "parking": parking, "max_replays": guard.max_replays,
                 "count_header": guard.replay_count_header})


def position(m: Message) -> tuple[int, int]:
    """(partition, offset) of a consumed message (the client types both as optional)."""
    return m.partition() or 0, m.offset() or 0
