"""/purge-dlq <dlq> [--mode delete-records|recreate] [--broker kafka|rabbitmq]:
delete a DLQ's messages. plan -> execute -> verify.

Kafka, ``delete-records`` (the default): DeleteRecords up to the end offsets the plan
showed, so messages dead-lettered after the plan are kept and reported by the
verification. ``recreate``: delete the topic and create it again with the same
partition count, replication factor and topic-level configuration; it takes whatever
arrived meanwhile too, so execution refuses when the end offsets moved since the plan.
RabbitMQ: queue.purge, which empties the whole queue; execution therefore refuses when
the queue holds more messages than the plan showed, and the remaining window is the
moment between that count and the purge.
Only DLQs can be purged: a Kafka topic some pattern or mapping pairs with a source, or
a RabbitMQ queue that a dead-letter exchange feeds or whose name says so.
"""

from __future__ import annotations

import shlex
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any, Literal

import pika.exceptions
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType
from pydantic import BaseModel

from bot.actions.base import (
    ActionContext,
    ActionError,
    ActionKind,
    Plan,
    ProgressFn,
    Refusal,
    Result,
    Row,
    Verification,
    now,
    plural,
    refused,
    result,
)
from bot.actions.kafka_util import error_text, log_bounds, metadata, wait, wait_until_served
from bot.actions.locate import check_cluster, which_broker
from bot.actions.rabbit_util import connect, queue_counts
from bot.actions.reset_spec import SpecError
from bot.probes import kafka_dlq, rabbitmq
from bot.probes.clients import op_timeout
from bot.probes.dlq_models import PartitionDepth, group_patterns

RULE = ("The operations guide's rule: purge a DLQ only after investigation, once its messages are not needed; "
        "replay the ones that are still needed first.")
USAGE = "<dlq> [--mode delete-records|recreate] [--broker kafka|rabbitmq]"


class PurgeSpec(BaseModel):
    dlq: str
    mode: Literal["delete-records", "recreate"] = "delete-records"
    broker: Literal["kafka", "rabbitmq"] | None = None


def parse_purge_spec(text: str) -> PurgeSpec:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SpecError(f"I could not read that: {exc}. Usage: {USAGE}") from None
    values: dict[str, str] = {}
    free = []
    while words:
        word = words.pop(0)
        if word.startswith("--"):
            flag, eq, value = word[2:].partition("=")
            if flag not in ("mode", "broker"):
                raise SpecError(f"Unknown option `{word}`. Usage: {USAGE}")
            if not eq:
                if not words:
                    raise SpecError(f"`--{flag}` needs a value. Usage: {USAGE}")
                value = words.pop(0)
            values[flag] = value
        else:
            free.append(word)
    if len(free) != 1:
        raise SpecError(f"Name exactly one DLQ. Usage: {USAGE}")
    if values.get("mode", "delete-records") not in ("delete-records", "recreate"):
        raise SpecError("`--mode` is delete-records or recreate.")
    if values.get("broker") not in (None, "kafka", "rabbitmq"):
        raise SpecError("`--broker` is kafka or rabbitmq.")
    return PurgeSpec(dlq=free[0], **values)  # type: ignore[arg-type]


def plan(ctx: ActionContext, cluster: str, spec: PurgeSpec | str) -> Plan:
    spec = parse_purge_spec(spec) if isinstance(spec, str) else spec
    broker = spec.broker or which_broker(ctx, cluster, spec.dlq)
    check_cluster(ctx, cluster, broker)
    return _plan_kafka(ctx, cluster, spec) if broker == "kafka" else _plan_rabbit(ctx, cluster, spec)


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, approved.cluster, PurgeSpec.model_validate(approved.params["spec"]))


def _plan_kafka(ctx: ActionContext, cluster: str, spec: PurgeSpec) -> Plan:
    settings = ctx.clients.settings
    cs = settings.kafka[cluster]
    admin = ctx.clients.kafka_admin(cluster)
    md = metadata(admin, cs.request_timeout_s)
    if spec.dlq not in md.topics:
        raise ActionError(f"There is no Kafka topic {spec.dlq} on {cluster}.")
    parts = sorted(md.topics[spec.dlq].partitions)
    topics = {t: list(tm.partitions) for t, tm in md.topics.items()}
    refusals = []
    if not any(r.topic == spec.dlq for r in kafka_dlq.discover(topics, settings.dlq)):
        refusals.append(Refusal(reason=f"{spec.dlq} is not a DLQ (no pattern or mapping pairs it with a source topic), "
                                       f"so it is not purged; map it in dlq.kafka_mappings if it is one."))
    bounds = log_bounds(admin, [(spec.dlq, p) for p in parts], cs.request_timeout_s)
    depths = [PartitionDepth(partition=p, start=bounds[(spec.dlq, p)][0], end=bounds[(spec.dlq, p)][1]) for p in parts]
    samples, _notes = kafka_dlq.sample_newest(cs, spec.dlq, depths, settings.dlq.sample_size, settings.dlq)
    rows = [Row(key=f"{spec.dlq}[{d.partition}]", values={"partition": d.partition, "messages": d.depth,
                                                          "delete_before": d.end}, severity=d.depth) for d in depths]
    rows.sort(key=lambda r: (-r.severity, r.key))
    depth = sum(d.depth for d in depths)
    details: dict[str, Any] = {"mode": spec.mode, "dlq": spec.dlq, "ends": [[d.partition, d.end] for d in depths]}
    warnings = [RULE]
    if spec.mode == "recreate":
        replicas = len(md.topics[spec.dlq].partitions[parts[0]].replicas)
        resource = ConfigResource(ResourceType.TOPIC, spec.dlq)
        entries = wait(admin.describe_configs([resource], request_timeout=op_timeout(cs.request_timeout_s))[resource],
                       cs.request_timeout_s + 1, f"Reading the configuration of {spec.dlq}")
        config = {name: e.value for name, e in entries.items()
                  if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and e.value is not None and not e.is_sensitive}
        details.update(partitions=len(parts), replication=replicas, config=dict(sorted(config.items())))
        warnings.append("Recreating resets the offsets to 0: consumer groups of the DLQ will find their committed "
                        "offsets past the end and follow their auto.offset.reset.")
    patterns = group_patterns(samples)
    return Plan(kind="purge_dlq", broker="kafka", cluster=cluster, target=spec.dlq,
                params={"spec": spec.model_dump(mode="json")},
                summary=(f"Delete {plural(depth, 'message')} from Kafka DLQ {spec.dlq} ("
                         + ("records up to the end offsets" if spec.mode == "delete-records"
                            else "delete and recreate the topic") + ")."),
                columns=["partition", "messages", "delete_before"], rows=rows, totals={"messages": depth},
                warnings=warnings + ([f"Most frequent error in the sample: {patterns[0].pattern} "
                                      f"({patterns[0].count} of {len(samples)})."] if patterns else []),
                refusals=refusals, details=details,
                samples=[m.model_dump(mode="json", include={"partition", "offset", "key", "preview", "error_class",
                                                            "error_message"}) for m in samples])


def _plan_rabbit(ctx: ActionContext, cluster: str, spec: PurgeSpec) -> Plan:
    try:
        snap = rabbitmq.rabbit_queue_snapshot(ctx.clients, cluster, spec.dlq, sample_size=None)
    except (rabbitmq.QueueNotFound, rabbitmq.RabbitUnavailable) as exc:
        raise ActionError(str(exc)) from None
    connection = connect(ctx, cluster)
    try:
        counts = queue_counts(connection, spec.dlq)
    finally:
        if connection.is_open:
            connection.close()
    depth = counts[0] if counts else 0
    refusals = []
    if not snap.is_dead_letter_queue:
        refusals.append(Refusal(reason=f"{spec.dlq} is not a DLQ (no dead-letter exchange routes to it and its name "
                                       f"does not say so), so it is not purged."))
    rows = [Row(key=f"{g.reason} in {g.queue}", values={"reason": g.reason, "queue": g.queue, "sampled": g.count},
                severity=g.count) for g in snap.death_groups]
    return Plan(kind="purge_dlq", broker="rabbitmq", cluster=cluster, target=spec.dlq,
                params={"spec": spec.model_dump(mode="json")},
                summary=f"Purge {plural(depth, 'message')} from RabbitMQ DLQ {spec.dlq}.",
                columns=["reason", "queue", "sampled"], rows=rows, rows_are_work=False, totals={"messages": depth},
                warnings=[RULE] + ([snap.note] if snap.note else []), refusals=refusals,
                details={"dlq": spec.dlq, "depth": depth},
                samples=[m.model_dump(mode="json", include={"message_id", "preview", "first_death_reason",
                                                            "first_death_queue", "error_message"})
                         for m in snap.samples])


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    started = now()
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    if abort is not None and abort.is_set():
        return result(plan, "aborted", "Aborted before anything was deleted.", started)
    try:
        if plan.broker == "rabbitmq":
            return _purge_rabbit(ctx, plan, started)
        if plan.details["mode"] == "recreate":
            return _recreate(ctx, plan, started)
        return _delete_records(ctx, plan, started)
    except ActionError as exc:
        return result(plan, "failed", f"Not completed: {exc}", started)


def _delete_records(ctx: ActionContext, plan: Plan, started: datetime) -> Result:
    cs = ctx.clients.settings.kafka[plan.cluster]
    admin = ctx.clients.kafka_admin(plan.cluster)
    dlq = plan.target
    bounds = log_bounds(admin, [(dlq, p) for p, _ in plan.details["ends"]], cs.request_timeout_s)
    wanted = [TopicPartition(dlq, p, end) for p, end in plan.details["ends"] if bounds[(dlq, p)][0] < end]
    if not wanted:
        return result(plan, "nothing_to_do", f"Nothing to delete: {dlq} holds none of the planned messages any more.",
                      started)
    long = op_timeout(cs.request_timeout_s)
    futures = admin.delete_records(wanted, request_timeout=long, operation_timeout=long)
    deleted, errors = 0, []
    for tp, future in futures.items():
        try:
            low = future.result(timeout=cs.request_timeout_s + 1).low_watermark
            deleted += max(0, low - bounds[(dlq, tp.partition)][0])
        except KafkaException as exc:
            errors.append(f"{dlq}[{tp.partition}]: {error_text(exc)}")
        except FutureTimeout:  # librdkafka may still finish it: the verification reads what is left
            errors.append(f"{dlq}[{tp.partition}]: no answer within {cs.request_timeout_s + 1:g} s")
    if errors:
        return result(plan, "failed", f"Kafka refused to delete records of {plural(len(errors), 'partition')}: "
                                      f"{errors[0]}.", started, counts={"deleted": deleted})
    return result(plan, "executed", f"Deleted {plural(deleted, 'message')} from {dlq}.", started,
                  counts={"deleted": deleted})


def _recreate(ctx: ActionContext, plan: Plan, started: datetime) -> Result:
    cs = ctx.clients.settings.kafka[plan.cluster]
    admin = ctx.clients.kafka_admin(plan.cluster)
    dlq, timeout = plan.target, cs.request_timeout_s
    bounds = log_bounds(admin, [(dlq, p) for p, _ in plan.details["ends"]], timeout)
    grown = sum(bounds[(dlq, p)][1] - end for p, end in plan.details["ends"])
    if grown or len(metadata(admin, timeout).topics[dlq].partitions) != plan.details["partitions"]:
        return refused(plan, started, [Refusal(reason=(
            f"{plural(grown, 'message')} arrived in {dlq} since the plan (or its partitions changed); recreating "
            f"would delete them unseen: plan again."))])
    long = op_timeout(timeout)
    wait(admin.delete_topics([dlq], operation_timeout=long, request_timeout=long)[dlq], timeout * 2,
         f"Deleting topic {dlq}")
    deadline = time.monotonic() + max(30.0, timeout * 6)
    new = NewTopic(dlq, plan.details["partitions"], plan.details["replication"], config=plan.details["config"])
    while True:  # the broker finishes a deletion asynchronously; creating before that fails
        try:
            admin.create_topics([new], operation_timeout=long, request_timeout=long)[dlq].result(timeout * 2)
            break
        except (KafkaException, FutureTimeout) as exc:
            if time.monotonic() > deadline:
                why = error_text(exc) if isinstance(exc, KafkaException) else f"no answer within {timeout * 2:g} s"
                raise ActionError(f"Topic {dlq} was deleted but could not be created again ({why}); "
                                  f"create it with {plural(plan.details['partitions'], 'partition')} and config "
                                  f"{plan.details['config']}.") from None
            time.sleep(0.5)
    wait_until_served(admin, dlq, plan.details["partitions"], deadline, timeout)
    deleted = sum(end - bounds[(dlq, p)][0] for p, end in plan.details["ends"])
    return result(plan, "executed", f"Recreated {dlq} empty ({plural(deleted, 'message')} deleted), with "
                                    f"{plural(plan.details['partitions'], 'partition')} and the same configuration.",
                  started, counts={"deleted": deleted})


def _purge_rabbit(ctx: ActionContext, plan: Plan, started: datetime) -> Result:
    dlq = plan.target
    connection = connect(ctx, plan.cluster)
    try:
        counts = queue_counts(connection, dlq)
        if counts is None:
            return refused(plan, started, [Refusal(reason=f"Queue {dlq} no longer exists.")])
        if counts[0] > plan.details["depth"]:
            return refused(plan, started, [Refusal(reason=(
                f"{dlq} grew from {plan.details['depth']:,} to {plural(counts[0], 'message')} since the plan: "
                f"queue.purge "
                f"would delete {counts[0] - plan.details['depth']:,} nobody looked at; plan again."))])
        purged = connection.channel().queue_purge(dlq).method.message_count
    except pika.exceptions.AMQPError as exc:
        return result(plan, "failed", f"RabbitMQ failed during the purge ({type(exc).__name__}).", started)
    finally:
        if connection.is_open:
            connection.close()
    return result(plan, "executed", f"Purged {plural(purged, 'message')} from {dlq}.", started,
                  counts={"deleted": purged})


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    try:
        if plan.broker == "rabbitmq":
            connection = connect(ctx, plan.cluster)
            try:
                counts = queue_counts(connection, plan.target)
            finally:
                if connection.is_open:
                    connection.close()
            remaining = counts[0] if counts else 0
            missing: list[str] = [] if counts else [f"Queue {plan.target} no longer exists."]
        else:
            cs = ctx.clients.settings.kafka[plan.cluster]
            admin = ctx.clients.kafka_admin(plan.cluster)
            md = metadata(admin, cs.request_timeout_s)
            parts = sorted(md.topics[plan.target].partitions) if plan.target in md.topics else []
            bounds = log_bounds(admin, [(plan.target, p) for p in parts], cs.request_timeout_s)
            remaining = sum(end - start for start, end in bounds.values())
            missing = [f"{plan.target}[{p}] still starts at {bounds[(plan.target, p)][0]}, before {end}."
                       for p, end in plan.details["ends"]
                       if plan.details["mode"] == "delete-records" and (plan.target, p) in bounds
                       and bounds[(plan.target, p)][0] < end]
            if plan.details["mode"] == "recreate" and len(parts) != plan.details["partitions"]:
                missing.append(f"{plan.target} has {plural(len(parts), 'partition')}, "
                               f"not {plan.details['partitions']}.")
    except ActionError as exc:
        return Verification(ok=False, message=f"Could not read {plan.target} back: {exc}")
    rows = [Row(key=plan.target, values={"remaining": remaining})]
    if missing:
        return Verification(ok=False, rows=rows, mismatches=missing, message=missing[0])
    said = "is empty" if remaining == 0 else f"holds {plural(remaining, 'message')} that arrived after the purge"
    return Verification(ok=True, rows=rows, message=f"{plan.target} {said}.")


ACTION = ActionKind(
    kind="purge_dlq", title="Purge a DLQ", command="purge-dlq",
    summary="purge a DLQ after investigation (approval with the name typed out)", usage="<dlq>",
    plan=plan, replan=replan, execute=execute, verify=verify, confirm_by_name=True)
