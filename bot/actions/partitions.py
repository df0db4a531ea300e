"""/add-partitions <topic> <new-total>: increase a topic's partition count.
plan -> execute -> verify.

Kafka can only add partitions. The plan says what adding them costs: keys are hashed
over the new count, so a key's new messages go to another partition than its old ones,
and consumers may then process them out of order; the consumer groups reading the
topic rebalance to take the new partitions on.
"""

from __future__ import annotations

import shlex
import threading
import time

from confluent_kafka.admin import ConfigResource, NewPartitions, ResourceType

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
from bot.actions.kafka_util import metadata, wait, wait_until_served
from bot.actions.reset_spec import SpecError
from bot.probes import kafka_lag
from bot.probes.clients import op_timeout

USAGE = "<topic> <new-total>"


def parse_partitions_spec(text: str) -> tuple[str, int]:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SpecError(f"I could not read that: {exc}. Usage: {USAGE}") from None
    if len(words) != 2:
        raise SpecError(f"Give the topic and the new total number of partitions. Usage: {USAGE}")
    try:
        total = int(words[1])
    except ValueError:
        raise SpecError(f"`{words[1]}` is not a number of partitions. Usage: {USAGE}") from None
    return words[0], total


def plan_words(ctx: ActionContext, cluster: str, words: str) -> Plan:
    return plan(ctx, cluster, *parse_partitions_spec(words))


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, approved.cluster, approved.params["topic"], approved.params["new_total"])


def plan(ctx: ActionContext, cluster: str, topic: str, new_total: int) -> Plan:
    if cluster not in ctx.clients.settings.kafka:
        raise ActionError(f"No Kafka cluster named {cluster} is configured.")
    timeout = ctx.clients.settings.kafka[cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(cluster)
    md = metadata(admin, timeout)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise ActionError(f"There is no Kafka topic {topic} on {cluster}.")
    current = len(md.topics[topic].partitions)
    refusals = []
    if new_total < current:
        refusals.append(Refusal(reason=f"Kafka cannot decrease the partitions of a topic: {topic} has {current}, "
                                       f"and {new_total} would be fewer."))
    elif new_total == current:
        refusals.append(Refusal(reason=f"{topic} already has {plural(current, 'partition')}: there is nothing to add."))
    try:
        snap = kafka_lag.snapshot(admin, cluster, None, timeout, topic=topic)
    except kafka_lag.KafkaUnavailable as exc:
        raise ActionError(f"{exc}.") from None
    readers = [g for g in snap.groups if g.partitions or any(p[0] == topic for m in g.members for p in m.partitions)]
    rows = [Row(key=g.group, values={"group": g.group, "state": g.state, "members": len(g.members)},
                note="rebalances now" if g.members else "takes the new partitions when its consumers next join",
                severity=len(g.members)) for g in readers]
    rows.sort(key=lambda r: (-r.severity, r.key))
    resource = ConfigResource(ResourceType.TOPIC, topic)
    config = wait(admin.describe_configs([resource], request_timeout=op_timeout(timeout))[resource], timeout + 1,
                  f"Reading the configuration of {topic}")
    warnings = [
        f"Ordering: keys are hashed over {new_total} partitions instead of {current}, so most keys' new messages go "
        f"to another partition than their earlier ones and can be consumed before them. Existing messages do not move.",
        "Consumers that start new partitions at the latest offset (auto.offset.reset=latest, the Java default) can "
        "skip what is written there before their group picks them up.",
    ]
    policy = config.get("cleanup.policy")
    if policy is not None and "compact" in (policy.value or ""):
        warnings.append(f"{topic} is compacted: a key's latest value can sit in its old partition while new values "
                        f"go to the new one, until the old one is overwritten.")
    rebalancing = [g.group for g in readers if g.members]
    if rebalancing:
        warnings.append(f"{plural(len(rebalancing), 'consumer group')} will rebalance: {', '.join(rebalancing[:10])}.")
    return Plan(kind="add_partitions", cluster=cluster, target=topic, params={"topic": topic, "new_total": new_total},
                summary=f"Increase {topic} on {cluster} from {current} to {new_total} partitions.",
                columns=["group", "state", "members"], rows=rows, rows_are_work=False,
                totals={"current": current, "new_total": new_total, "added": max(0, new_total - current),
                        "groups": len(readers)},
                warnings=warnings, refusals=refusals, details={"topic": topic, "current": current,
                                                               "new_total": new_total})


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    started = now()
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    if abort is not None and abort.is_set():
        return result(plan, "aborted", "Aborted before anything was changed.", started)
    topic, current, total = plan.details["topic"], plan.details["current"], plan.details["new_total"]
    timeout = ctx.clients.settings.kafka[plan.cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(plan.cluster)
    try:
        md = metadata(admin, timeout)
        if topic not in md.topics:
            return refused(plan, started, [Refusal(reason=f"Topic {topic} no longer exists.")])
        now_count = len(md.topics[topic].partitions)
        if now_count != current:
            return refused(plan, started, [Refusal(reason=(
                f"{topic} has {plural(now_count, 'partition')} now, not the {current} the plan showed: plan again."))])
        future = admin.create_partitions([NewPartitions(topic, total)], operation_timeout=op_timeout(timeout),
                                         request_timeout=op_timeout(timeout))[topic]
        wait(future, timeout * 2 + 1, f"Adding partitions to {topic}")
        wait_until_served(admin, topic, total, time.monotonic() + max(30.0, timeout * 6), timeout)
    except ActionError as exc:
        return result(plan, "failed", f"Not completed: {exc}", started)
    return result(plan, "executed", f"{topic} now has {total} partitions (was {current}).", started,
                  counts={"added": total - current})


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    topic, total = plan.details["topic"], plan.details["new_total"]
    try:
        md = metadata(ctx.clients.kafka_admin(plan.cluster), ctx.clients.settings.kafka[plan.cluster].request_timeout_s)
    except ActionError as exc:
        return Verification(ok=False, message=f"Could not describe {topic}: {exc}")
    parts = md.topics[topic].partitions if topic in md.topics else {}
    leaderless = sorted(p for p, pm in parts.items() if pm.leader < 0)
    rows = [Row(key=topic, values={"partitions": len(parts), "expected": total, "without_leader": len(leaderless)})]
    mismatches = []
    if len(parts) != total:
        mismatches.append(f"{topic} has {plural(len(parts), 'partition')}; the plan said {total}.")
    if leaderless:
        mismatches.append(f"Partitions {leaderless} of {topic} have no leader yet.")
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches, message=mismatches[0])
    return Verification(ok=True, rows=rows, message=f"{topic} has {total} partitions, each with a leader.")


ACTION = ActionKind(
    kind="add_partitions", title="Increase partitions", command="add-partitions",
    summary="increase a topic's partitions (keys move; consumers rebalance)", usage=USAGE,
    plan=plan_words, replan=replan, execute=execute, verify=verify)
