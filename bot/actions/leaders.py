"""/elect-leaders [topic[:p,p]]: move leadership back to each partition's preferred
replica (the first of its replica list), as kafka-leader-election --election-type
PREFERRED does. plan -> execute -> verify.

The plan lists the partitions whose leader is not the preferred replica; one whose
preferred replica is out of sync is refused (the election would fail). On a single
broker every partition is led by its only replica, so the plan says there is nothing
to do.
"""

from __future__ import annotations

import threading

from confluent_kafka import ElectionType, KafkaError, KafkaException, TopicPartition

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
from bot.actions.kafka_util import TP, error_text, metadata, wait
from bot.actions.reset_spec import SpecError, parse_topic
from bot.probes.clients import op_timeout

NOTHING = "Nothing to do: every partition is led by its preferred replica."
USAGE = "[topic[:p]]"


def _selection(md_topics: dict[str, list[int]], selector: str | None) -> list[TP]:
    if selector is None or not selector.strip():
        return sorted((t, p) for t, ps in md_topics.items() if not t.startswith("__") for p in ps)
    sel = parse_topic(selector.strip())
    if sel.topic not in md_topics:
        raise ActionError(f"There is no Kafka topic {sel.topic}.")
    missing = [p for p in sel.partitions or [] if p not in md_topics[sel.topic]]
    if missing:
        raise SpecError(f"{sel.topic} has no partition {', '.join(map(str, missing))}.")
    return [(sel.topic, p) for p in (sel.partitions or sorted(md_topics[sel.topic]))]


def plan(ctx: ActionContext, cluster: str, selector: str | None = None) -> Plan:
    """``selector``: "topic", "topic:0,2", or None for every topic (Kafka's internal
    topics are included only when named)."""
    if cluster not in ctx.clients.settings.kafka:
        raise ActionError(f"No Kafka cluster named {cluster} is configured.")
    md = metadata(ctx.clients.kafka_admin(cluster), ctx.clients.settings.kafka[cluster].request_timeout_s)
    wanted = _selection({t: list(tm.partitions) for t, tm in md.topics.items() if tm.error is None}, selector)
    rows, refusals = [], []
    for t, p in wanted:
        pm = md.topics[t].partitions[p]
        preferred = pm.replicas[0] if pm.replicas else None
        if preferred is None or pm.leader == preferred:
            continue
        key = f"{t}[{p}]"
        in_sync = preferred in pm.isrs
        rows.append(Row(key=key, values={"topic": t, "partition": p, "leader": pm.leader, "preferred": preferred,
                                         "preferred_in_sync": in_sync}, severity=1 if pm.leader < 0 else 0))
        if not in_sync:
            refusals.append(Refusal(item=key, reason=f"The preferred replica {preferred} of {key} is not in sync: a "
                                                     f"preferred election would fail; wait for it to catch up."))
    rows.sort(key=lambda r: (-r.severity, r.key))
    electable = [[r.values["topic"], r.values["partition"], r.values["preferred"]] for r in rows
                 if r.values["preferred_in_sync"]]
    where = selector.strip() if selector and selector.strip() else "all topics"
    summary = NOTHING if not rows else (f"Elect the preferred leader of {plural(len(electable), 'partition')} "
                                        f"({where}) on {cluster}.")
    target = selector.strip() if selector and selector.strip() else "*"
    return Plan(kind="elect_leaders", cluster=cluster, target=target,
                params={"selector": selector}, summary=summary,
                columns=["topic", "partition", "leader", "preferred", "preferred_in_sync"], rows=rows,
                totals={"partitions_checked": len(wanted), "not_preferred": len(rows), "electable": len(electable)},
                refusals=refusals, details={"partitions": electable})


def plan_words(ctx: ActionContext, cluster: str, words: str) -> Plan:
    return plan(ctx, cluster, words or None)


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, approved.cluster, approved.params["selector"])


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    started = now()
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    if not plan.details["partitions"]:
        return result(plan, "nothing_to_do", NOTHING if not plan.rows else
                      "Nothing to do: no partition can be elected (see the refusals).", started)
    if abort is not None and abort.is_set():
        return result(plan, "aborted", "Aborted before anything was changed.", started)
    timeout = ctx.clients.settings.kafka[plan.cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(plan.cluster)
    try:
        md = metadata(admin, timeout)
        # Already led by the preferred replica again (a broker's own auto rebalance): leave it be.
        todo = [TopicPartition(t, p) for t, p, preferred in plan.details["partitions"]
                if t in md.topics and p in md.topics[t].partitions and md.topics[t].partitions[p].leader != preferred]
        if not todo:
            return result(plan, "nothing_to_do", NOTHING, started)
        answers = wait(admin.elect_leaders(ElectionType.PREFERRED, todo, request_timeout=op_timeout(timeout),
                                           operation_timeout=op_timeout(timeout)),
                       timeout * 2 + 1, "The preferred leader election")
    except ActionError as exc:
        return result(plan, "failed", f"Not completed: {exc}", started)
    errors = {}
    for tp, error in answers.items():
        err = error.args[0] if isinstance(error, KafkaException) and error.args else error
        if err is not None and not (isinstance(err, KafkaError) and err.code() == KafkaError.ELECTION_NOT_NEEDED):
            errors[f"{tp.topic}[{tp.partition}]"] = error_text(error) if isinstance(error, KafkaException) else str(err)
    rows = [Row(key=f"{tp.topic}[{tp.partition}]", values={"error": errors.get(f"{tp.topic}[{tp.partition}]")})
            for tp in todo]
    if errors:
        first = next(iter(errors.items()))
        return result(plan, "failed", f"{plural(len(errors), 'election')} failed (first: {first[0]}: {first[1]}).",
                      started, rows=rows, counts={"elected": len(todo) - len(errors), "failed": len(errors)})
    return result(plan, "executed", f"Elected the preferred leader of {plural(len(todo), 'partition')}.", started,
                  rows=rows, counts={"elected": len(todo)})


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    try:
        md = metadata(ctx.clients.kafka_admin(plan.cluster), ctx.clients.settings.kafka[plan.cluster].request_timeout_s)
    except ActionError as exc:
        return Verification(ok=False, message=f"Could not describe the topics: {exc}")
    rows, mismatches = [], []
    for t, p, preferred in plan.details["partitions"]:
        leader = md.topics[t].partitions[p].leader if t in md.topics and p in md.topics[t].partitions else None
        rows.append(Row(key=f"{t}[{p}]", values={"leader": leader, "preferred": preferred}))
        if leader != preferred:
            mismatches.append(f"{t}[{p}] is led by {leader}, not its preferred replica {preferred}.")
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches, message=mismatches[0])
    if not rows:
        return Verification(ok=True, message=NOTHING)
    return Verification(ok=True, rows=rows, message=f"All {plural(len(rows), 'partition')} are led by their "
                                                     f"preferred replica.")


ACTION = ActionKind(
    kind="elect_leaders", title="Preferred leader election", command="elect-leaders",
    summary="preferred leader election for partitions led by another replica", usage=USAGE,
    plan=plan_words, replan=replan, execute=execute, verify=verify, needs_words=False)
