"""/replay-dlq: move dead letters back to where they failed, exactly once, even when
the bot is killed mid-replay and resumed.

Kafka. The DLQ is read by a consumer of the replay's own group
(``incidentbot-replay-<replay id>``, assigned partitions, never subscribed) and the
messages are produced by a transactional producer whose ``transactional.id`` is that
same name. Each batch is one transaction holding its produced messages *and* the
group's DLQ offsets (``send_offsets_to_transaction``, each offset carrying the
per-partition moved count as metadata). A crash leaves either a committed batch
(messages visible and offsets advanced) or an open one; a resume starts a producer
with the same transactional.id, whose ``init_transactions`` fences the dead one and
aborts its open transaction, then continues from the group's committed offsets. The
plan fixes the range (start..stop offset per partition, read_committed), so messages
dead-lettered after the plan are not replayed. Once the row says completed, the replay
group is deleted (left behind, it would show as a group lagging on the DLQ). The
guarantee holds for consumers of the target that read with ``isolation.level=read_committed`` (librdkafka's default,
not the Java client's): read_uncommitted consumers see the messages of an aborted
batch, and the resume writes them again. Verification counts with read_committed.

RabbitMQ. A transactional channel (``tx.select``) consumes the DLQ; each batch
publishes its messages to their original queue (or exchange), acks them in the DLQ,
and publishes a progress marker to the replay's own durable queue
(``incidentbot.replay.<id>``, max length 1), then commits. ``tx.commit-ok`` comes only
after the broker has taken responsibility for the publishes (written to disk for
persistent messages on durable queues), so it serves as the batch's publisher confirm
and the DLQ acks never take effect before it; publisher confirms proper cannot be used
with transactions on one channel, and on a separate channel the publish and the ack
could not be made atomic. If the bot dies before the commit reaches the broker, the
broker discards the transaction (no publish, no ack, no marker) and returns every
unacked message to its place; after it, all three happened. A resume reads the marker
and continues. Messages that do not match --pattern are never acked, so they return to
their places in order. Publishes are ``mandatory``; unroutable ones come back as
basic.return at commit, and are put back on the DLQ's tail in the next transaction
(the plan and the re-check refuse routes that reach no queue, so this is a guard; if a
queue vanishes mid-replay and the bot dies between those two commits, the returned
messages of that batch are lost).
Remaining window: RabbitMQ documents that its transactions are not atomic across
queues when the *broker* fails (a node crash or a queue process failing during the
commit can apply the publishes but not the acks, or the reverse). A bot crash, a
network drop or a kill at any moment cannot duplicate or lose a message; a broker
crash exactly during a commit can duplicate (or, if the target queue's write is lost,
lose) the messages of that one batch.

Both. The ``replays`` table records each replay (plan, state, owner lease, counts) so
a restarted bot can list unfinished replays and resume them; the brokers' records,
not the table, decide what was moved. Executing a plan that was already started
resumes it instead of starting it again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from bot.actions import replay_kafka, replay_kafka_plan, replay_rabbit, replay_store
from bot.actions.base import (
    ActionContext,
    ActionError,
    ActionKind,
    Plan,
    ProgressFn,
    Refusal,
    Result,
    Verification,
    now,
    plural,
    refused,
    result,
)
from bot.actions.locate import check_cluster, which_broker
from bot.actions.replay_spec import ReplaySpec, parse_replay_spec
from bot.actions.replay_store import ReplayRecord

KAFKA_BATCH = 5000
RABBIT_BATCH = 500
_STATUS = {"completed": "executed", "aborted": "aborted", "failed": "failed", "refused": "refused"}


def plan(ctx: ActionContext, cluster: str, spec: ReplaySpec | str) -> Plan:
    """The dry run: what would move, where to, grouped by error pattern. Reads the DLQ
    (Kafka: the whole planned range; RabbitMQ: the window, handed back in place)."""
    spec = parse_replay_spec(spec) if isinstance(spec, str) else spec
    broker = spec.broker or which_broker(ctx, cluster, spec.dlq)
    check_cluster(ctx, cluster, broker)
    if broker == "kafka":
        return replay_kafka_plan.plan(ctx, cluster, spec)
    return replay_rabbit.plan(ctx, cluster, spec)


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, approved.cluster, ReplaySpec.model_validate(approved.params["spec"]))


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None, batch_size: int | None = None, progress_every: int = 1000,
            on_batch: Callable[[int], None] | None = None) -> Result:
    """Run the approved plan, or resume it if it was started before and did not finish.
    ``progress`` is called every ``progress_every`` messages; ``abort`` is honoured
    between batches (what was moved stays moved; the replay can be resumed)."""
    started = now()
    if plan.kind != "replay_dlq":
        raise ValueError(f"replay.execute cannot run a {plan.kind} plan")
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    if not plan.details["planned"]:
        return result(plan, "nothing_to_do", "Nothing to do: no message in the DLQ is planned to move.", started)
    record = replay_store.for_plan(ctx.engine, plan.plan_hash)
    if record is not None and record.state == "completed":
        return result(plan, "nothing_to_do", f"Replay {record.id} of this very plan already completed.", started,
                      details={"replay_id": record.id, "moved": record.moved, "planned": record.planned})
    try:
        record = replay_store.create(ctx.engine, plan, ctx, int(plan.details["planned"])) if record is None \
            else replay_store.claim(ctx.engine, record)
    except ActionError as exc:
        return refused(plan, started, [Refusal(reason=str(exc))])
    return _run(ctx, plan, record, started, progress=progress, abort=abort or threading.Event(),
                batch_size=batch_size, progress_every=progress_every, on_batch=on_batch)


def resume(ctx: ActionContext, replay_id: str, *, progress: ProgressFn | None = None,
           abort: threading.Event | None = None, batch_size: int | None = None, progress_every: int = 1000,
           on_batch: Callable[[int], None] | None = None) -> Result:
    """Continue a replay that was interrupted (bot killed, aborted, failed), from what
    the broker says was moved."""
    started = now()
    record = replay_store.get(ctx.engine, replay_id)
    if record is None:
        raise ActionError(f"There is no replay {replay_id.strip().upper()}.")
    if record.state == "completed":
        return result(record.plan, "nothing_to_do", f"Replay {record.id} already completed.", started,
                      details={"replay_id": record.id, "moved": record.moved, "planned": record.planned})
    try:
        record = replay_store.claim(ctx.engine, record)
    except ActionError as exc:
        return refused(record.plan, started, [Refusal(reason=str(exc))])
    return _run(ctx, record.plan, record, started, progress=progress, abort=abort or threading.Event(),
                batch_size=batch_size, progress_every=progress_every, on_batch=on_batch)


def unfinished(ctx: ActionContext) -> list[ReplayRecord]:
    """Replays a restarted bot should resume (or report): running when it died, or aborted."""
    return replay_store.unfinished(ctx.engine)


def _run(ctx: ActionContext, plan: Plan, record: ReplayRecord, started: datetime, *, progress: ProgressFn | None,
         abort: threading.Event, batch_size: int | None, progress_every: int,
         on_batch: Callable[[int], None] | None) -> Result:
    refusals: list[Refusal] = []
    run: replay_kafka.Run | replay_rabbit.Run | None = None
    try:
        if plan.broker == "kafka":
            run = replay_kafka.Run(ctx, plan, record)
            run.fence()
            run.ensure_parking()
            frm, moved_by, refusals = run.progress_and_refusals()
            if refusals:
                state, moved, message = "refused", sum(moved_by.values()), refusals[0].reason
            else:
                run.target_start()
                state, moved, message = run.go(frm, moved_by, progress=progress, abort=abort,
                                               batch_size=batch_size or KAFKA_BATCH, progress_every=progress_every,
                                               on_batch=on_batch)
        else:
            run = replay_rabbit.Run(ctx, plan, record)
            state, moved, message, refusals = run.go(progress=progress, abort=abort,
                                                            batch_size=batch_size or RABBIT_BATCH,
                                                            progress_every=progress_every, on_batch=on_batch)
    except ActionError as exc:
        state, moved, message = "failed", record.moved, f"{exc} The replay can be resumed."
    stored = "failed" if state == "refused" else state
    owned = replay_store.beat(ctx.engine, record.id, moved=moved, state=stored, message=message)  # type: ignore[arg-type]
    if owned and run is not None and state == "completed":
        run.finish()  # only now: until the row says completed, the broker's record is what a resume needs
    planned = int(plan.details["planned"])
    details = {"replay_id": record.id, "moved": moved, "planned": planned, "parked": run.parked if run else 0,
               "resumable": state in ("aborted", "failed")}
    if state == "refused":
        res = refused(plan, started, refusals)  # type: ignore[arg-type]
        res.details = details
        return res
    sentence = f"Replay {record.id}: {message}" + ("" if state == "completed" else
                                                  f" {plural(planned - moved, 'message')} still to go.")
    return result(plan, _STATUS[state], sentence, started,  # type: ignore[arg-type]
                  counts={"moved": moved, "planned": planned, "parked": details["parked"]},
                  details=details)


def duplicates_hint(record: ReplayRecord) -> str:
    """The guide's "replay events and verify idempotent handling": the command that
    looks for event ids the replay delivered twice, over a window back to its start."""
    topics = sorted({k.rsplit(":", 1)[0] for k in record.progress.get("target_start", {})})
    if not topics:
        return ""
    hours = max(1, math.ceil((datetime.now(timezone.utc) - record.created_at).total_seconds() / 3600))
    commands = ", ".join(f"`/duplicates {t} --window {hours}h`" for t in topics)
    return f"To check that nothing arrived twice: {commands} (add `--key header:<name>` or `--key json:<path>` " \
           "when the event id is not the message key)."


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    replay_id = res.details.get("replay_id")
    record = replay_store.get(ctx.engine, replay_id) if replay_id else None
    if record is None:
        return Verification(ok=res.status == "nothing_to_do", message="No replay ran, so there is nothing to check.")
    if plan.broker == "kafka":
        checked = replay_kafka.verify(ctx, plan, record)
        return checked.model_copy(update={"message": f"{checked.message} {duplicates_hint(record)}".strip()})
    try:
        return replay_rabbit.verify(ctx, plan, record)
    except ActionError as exc:
        return Verification(ok=False, message=f"Could not read the DLQ back: {exc}")


ACTION = ActionKind(
    kind="replay_dlq", title="Replay a DLQ", command="replay-dlq",
    summary="replay a DLQ to its source (dry run, approval, verified counts)",
    usage="<dlq> [--to <topic-or-exchange>] [--limit N] [--pattern <error-pattern>]",
    plan=plan, replan=replan, execute=execute, verify=verify)
