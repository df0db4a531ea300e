"""Reset a consumer group's committed offsets (/reset-offsets), or put a restore point
back (/restore-offsets): plan -> execute -> verify.

The plan reuses the lag probe's group snapshot (state, members, committed offsets,
log start and end) and asks the cluster only for what that lacks: the bounds of
partitions the group never committed, and offsets for a time.

Preconditions, checked in the plan and again just before execution:
- the group is inactive (Empty or Dead): the broker rejects commits from outside an
  active group partition by partition (UNKNOWN_MEMBER_ID), so the plan names the
  members and asks for the consumers to be stopped;
- at execution, every planned partition still has the committed offset the plan
  showed (otherwise "N messages skipped / re-processed" is no longer true) and every
  target is still inside [earliest, latest] (retention may have moved the start).
Targets outside [earliest, latest] are clamped in the plan, which says so; --shift-by
on a partition with no committed offset is refused for that partition only.
Before acting, the group's committed offsets (all its topic-partitions) are saved as
a restore point; the result carries its id and Kafka's --export CSV.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from bot.actions import restore_points
from bot.actions.base import (
    ActionContext,
    ActionError,
    ActionKind,
    Plan,
    Progress,
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
from bot.actions.kafka_util import TP, committed_offsets, log_bounds, offsets_for_time, topic_partitions, wait
from bot.actions.reset_spec import ResetSpec, SpecError, parse_reset_spec
from bot.probes import kafka_lag
from bot.probes.clients import op_timeout
from bot.probes.lag_models import GroupLag

INACTIVE = ("Empty", "Dead")
COLUMNS = ["topic", "partition", "current", "target", "change"]
RESTORE_USAGE = "<restore-point-id> | <backup> <group> [--into GROUP]"


def _key(tp: TP) -> str:
    return f"{tp[0]}[{tp[1]}]"


def _group(ctx: ActionContext, cluster: str, group: str) -> GroupLag:
    settings = ctx.clients.settings.kafka.get(cluster)
    if settings is None:
        raise ActionError(f"No Kafka cluster named {cluster} is configured.")
    try:
        snap = kafka_lag.snapshot(ctx.clients.kafka_admin(cluster), cluster, [group], settings.request_timeout_s)
    except kafka_lag.KafkaUnavailable as exc:
        raise ActionError(f"{exc}.") from None
    return snap.groups[0]


def active_refusal(group: GroupLag) -> Refusal | None:
    """Why the group may not be reset now, or None when it is inactive."""
    if group.state in INACTIVE:
        return None
    if group.error and group.state == "Unknown":
        return Refusal(reason=f"Cannot tell whether group {group.group} is active ({group.error}), "
                              f"so its offsets are not reset.")
    shown = ", ".join(f"{m.client_id} on {m.host}" for m in group.members[:10])
    more = f" and {len(group.members) - 10} more" if len(group.members) > 10 else ""
    who = f" with {plural(len(group.members), 'active member')}: {shown}{more}" if group.members else ""
    return Refusal(reason=f"Group {group.group} is {group.state}{who}. Kafka refuses offset resets while "
                          f"consumers are connected: stop the consumers first, then plan again.")


def plan(ctx: ActionContext, cluster: str, spec: ResetSpec | str) -> Plan:
    """The dry run of /reset-offsets. Raises ActionError (unknown cluster, unreachable)
    or SpecError (text that does not parse); everything else is in the plan."""
    spec = parse_reset_spec(spec) if isinstance(spec, str) else spec
    group = _group(ctx, cluster, spec.group)
    timeout = ctx.clients.settings.kafka[cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(cluster)
    committed = {(r.topic, r.partition): r.committed for r in group.partitions if r.committed is not None}
    refusals: list[Refusal] = []
    if spec.all_topics:
        wanted = sorted(committed)
    else:
        topics = topic_partitions(admin, timeout)
        wanted = []
        for sel in spec.topics:
            if sel.topic not in topics:
                refusals.append(Refusal(reason=f"There is no topic {sel.topic} on {cluster}."))
                continue
            missing = [p for p in sel.partitions or [] if p not in topics[sel.topic]]
            if missing:
                refusals.append(Refusal(reason=f"Topic {sel.topic} has partitions 0-{len(topics[sel.topic]) - 1}; "
                                               f"there is no partition {', '.join(map(str, missing))}."))
            wanted += [(sel.topic, p) for p in sel.partitions or topics[sel.topic] if p in topics[sel.topic]]
        wanted = sorted(set(wanted))
    bounds = {(r.topic, r.partition): (r.log_start, r.log_end) for r in group.partitions}
    bounds.update(log_bounds(admin, [tp for tp in wanted if tp not in bounds], timeout))

    lookup: dict[TP, int | None] = {}
    if spec.strategy in ("to-datetime", "by-duration"):
        when_ms = (int(spec.to_datetime.timestamp() * 1000) if spec.strategy == "to-datetime" and spec.to_datetime
                   else int((time.time() - (spec.by_duration_s or 0)) * 1000))
        lookup = offsets_for_time(admin, wanted, when_ms, timeout)

    def target_of(tp: TP, current: int | None) -> tuple[int | None, str | None]:
        start, end = bounds[tp]
        if spec.strategy == "to-earliest":
            return start, None
        if spec.strategy == "to-latest":
            return end, None
        if spec.strategy == "to-offset":
            return spec.to_offset, None
        if spec.strategy == "shift-by":
            if current is None:
                return None, (f"{_key(tp)} has no committed offset to shift from: use --to-offset, --to-earliest "
                              f"or --to-latest for it.")
            return current + (spec.shift_by or 0), None
        found = lookup.get(tp)
        if found is None:
            return end, "No message at or after that time: the log end, as Kafka does."
        return found, None

    label = spec.text.split(" ", 1)[1]
    return _build(cluster, group, "reset_offsets", {"spec": spec.model_dump(mode="json")}, wanted, committed,
                  bounds, target_of, refusals, f"Reset group {spec.group} on {cluster} ({label})")


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, approved.cluster, ResetSpec.model_validate(approved.params["spec"]))


def plan_restore_words(ctx: ActionContext, cluster: str, words: str) -> Plan:
    """/restore-offsets' words: a restore point id (its cluster is its own), or
    `<backup> <group> [--into GROUP]`, which first makes the backup's offsets of the
    group a restore point (of `cluster`, for GROUP when given)."""
    parts = words.split()
    if len(parts) == 1:
        return plan_restore(ctx, parts[0])
    if len(parts) not in (2, 4) or (len(parts) == 4 and parts[2] != "--into"):
        raise SpecError(f"Usage: {RESTORE_USAGE}")
    point = restore_points.from_backup(ctx, cluster, parts[0], parts[1], parts[3] if len(parts) == 4 else None)
    return plan_restore(ctx, point.id)


def replan_restore(ctx: ActionContext, approved: Plan) -> Plan:
    return plan_restore(ctx, approved.params["restore_point"])


def plan_restore(ctx: ActionContext, point_id: str) -> Plan:
    """The dry run of /restore-offsets <id>: targets are the restore point's offsets;
    the same preconditions and clamping as a reset."""
    point = restore_points.get(ctx.engine, point_id)
    if point is None:
        raise ActionError(f"There is no restore point {point_id.strip().upper()}.")
    group = _group(ctx, point.cluster, point.group)
    timeout = ctx.clients.settings.kafka[point.cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(point.cluster)
    topics = topic_partitions(admin, timeout)
    saved = {(o.topic, o.partition): o.offset for o in point.offsets}
    refusals = [Refusal(reason=f"Restore point {point.id} holds no offsets: there is nothing to restore.")] \
        if not saved else []
    gone = sorted(tp for tp in saved if tp[1] not in topics.get(tp[0], []))
    wanted = sorted(tp for tp in saved if tp not in gone)
    if gone:
        refusals.append(Refusal(reason=f"{plural(len(gone), 'partition')} of the restore point no longer exist "
                                       f"({', '.join(_key(tp) for tp in gone[:5])}); the others are restored."))
    committed = {(r.topic, r.partition): r.committed for r in group.partitions if r.committed is not None}
    bounds = {(r.topic, r.partition): (r.log_start, r.log_end) for r in group.partitions}
    bounds.update(log_bounds(admin, [tp for tp in wanted if tp not in bounds], timeout))
    return _build(point.cluster, group, "restore_offsets", {"restore_point": point.id}, wanted, committed, bounds,
                  lambda tp, _current: (saved[tp], None), refusals,
                  f"Restore group {point.group} on {point.cluster} to restore point {point.id} "
                  f"(saved {point.created_at:%Y-%m-%d %H:%M} UTC by {point.created_by})")


def _build(cluster: str, group: GroupLag, kind: str, params: dict[str, object], wanted: list[TP],
           committed: dict[TP, int], bounds: dict[TP, tuple[int, int]],
           target_of: Callable[[TP, int | None], tuple[int | None, str | None]],
           refusals: list[Refusal], what: str) -> Plan:
    refusal = active_refusal(group)
    if refusal:
        refusals.insert(0, refusal)
    rows: list[Row] = []
    totals = {"partitions": 0, "skipped": 0, "reprocessed": 0, "clamped": 0, "refused": 0}
    warnings: list[str] = []
    for tp in wanted:
        start, end = bounds[tp]
        current = committed.get(tp)
        raw, note = target_of(tp, current)
        values: dict[str, object] = {"topic": tp[0], "partition": tp[1], "current": current}
        info = {"log_start": start, "log_end": end}
        if raw is None:
            refusals.append(Refusal(item=_key(tp), reason=note or f"{_key(tp)} has no target."))
            totals["refused"] += 1
            rows.append(Row(key=_key(tp), values={**values, "target": None, "change": "refused"}, info=info,
                            note=note, severity=-1))
            continue
        target = min(max(raw, start), end)
        if target != raw:
            totals["clamped"] += 1
            edge = "earliest" if raw < start else "latest"
            note = f"{raw} is outside [{start}, {end}]: clamped to the {edge} offset {target}."
        totals["partitions"] += 1
        if current is None:
            change, severity = "no committed offset yet: consumption will start here", end - target
        elif target >= current:
            totals["skipped"] += target - current
            change, severity = (f"+{target - current:,} skipped" if target > current else "unchanged"), target - current
        else:
            totals["reprocessed"] += current - target
            change, severity = f"-{current - target:,} re-processed", current - target
        if current is not None and current < start:
            below = f"The committed offset {current} is already below the log start {start}."
            note = f"{note} {below}" if note else below
        rows.append(Row(key=_key(tp), values={**values, "target": target, "change": change}, info=info,
                        note=note, severity=severity))
    rows.sort(key=lambda r: (-r.severity, r.key))
    if totals["clamped"]:
        warnings.append(f"{plural(totals['clamped'], 'target')} fell outside [earliest, latest] and "
                        f"{'was' if totals['clamped'] == 1 else 'were'} clamped; see the notes.")
    if not wanted and not refusals:
        warnings.append(f"Group {group.group} has no committed offsets to reset.")
    summary = (f"{what}: {plural(totals['partitions'], 'partition')}, {plural(totals['skipped'], 'message')} skipped, "
               f"{totals['reprocessed']:,} re-processed.")
    targets = [[r.values["topic"], r.values["partition"], r.values["target"]] for r in rows
               if r.values["target"] is not None]
    return Plan(kind=kind, cluster=cluster, target=group.group, params=params, summary=summary,  # type: ignore[arg-type]
                columns=COLUMNS, rows=rows, totals=totals, warnings=warnings, refusals=refusals,
                details={"group": group.group, "targets": sorted(targets),
                         "current": sorted([t, p, committed.get((t, p))] for t, p, _ in targets)})


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    """Re-check, save a restore point, alter the offsets once. Never raises for the
    broker's answers: failures are a Result with status "failed" and a sentence."""
    started = now()
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    targets = {(t, p): o for t, p, o in plan.details["targets"]}
    if not targets:
        return result(plan, "nothing_to_do", "Nothing to do: no partition has a target.", started)
    if abort is not None and abort.is_set():
        return result(plan, "aborted", "Aborted before anything was changed.", started)
    group_id = plan.details["group"]
    timeout = ctx.clients.settings.kafka[plan.cluster].request_timeout_s
    admin = ctx.clients.kafka_admin(plan.cluster)
    try:
        group = _group(ctx, plan.cluster, group_id)
        current = committed_offsets(admin, group_id, timeout)
        bounds = log_bounds(admin, targets, timeout)
    except ActionError as exc:
        return result(plan, "failed", f"Not executed: {exc}", started)
    refusals = [r for r in [active_refusal(group)] if r]
    for t, p, was in plan.details["current"]:
        if current.get((t, p)) != was:
            refusals.append(Refusal(item=_key((t, p)), reason=(
                f"The committed offset of {_key((t, p))} moved from {was} to {current.get((t, p))} since the plan: "
                f"plan again so the counts shown are true.")))
    for tp, target in targets.items():
        start, end = bounds[tp]
        if not start <= target <= end:
            refusals.append(Refusal(item=_key(tp), reason=(
                f"The target {target} of {_key(tp)} is now outside [{start}, {end}] (retention or a purge moved "
                f"the log): plan again.")))
    if refusals:
        return refused(plan, started, refusals)
    point = restore_points.save(ctx.engine, plan.cluster, group_id, current, created_by=ctx.actor,
                                incident_id=ctx.incident_id, reason=f"before {plan.kind} {plan.plan_hash}")
    offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(targets.items())]
    request = [ConsumerGroupTopicPartitions(group_id, offsets)]
    details = {"restore_point_id": point.id, "restore_point_csv": point.csv, "restore_point_file": point.filename}
    try:
        future = admin.alter_consumer_group_offsets(request, request_timeout=op_timeout(timeout))[group_id]
        answer = wait(future, timeout + 1,
                      f"Altering the offsets of group {group_id}")
    except ActionError as exc:
        return result(plan, "failed", f"{exc} Restore point {point.id} holds the offsets from before.", started,
                      details=details)
    errors = {(tp.topic, tp.partition): tp.error.str() for tp in answer.topic_partitions or [] if tp.error}
    rows = [Row(key=_key(tp), values={"target": o, "error": errors.get(tp)}) for tp, o in sorted(targets.items())]
    if progress is not None:
        progress_done = len(targets) - len(errors)
        progress(Progress(done=progress_done, total=len(targets),
                          message=f"{plural(progress_done, 'partition')} reset."))
    if errors:
        first = next(iter(errors.items()))
        return result(plan, "failed", (f"Kafka refused {plural(len(errors), 'partition')} (first: {_key(first[0])}: "
                                       f"{first[1]}); restore point {point.id} holds the offsets from before."),
                      started, rows=rows, counts={"reset": len(targets) - len(errors), "failed": len(errors)},
                      details=details)
    return result(plan, "executed", (f"Reset {plural(len(targets), 'partition')} of group {group_id}; restore point "
                                     f"{point.id} holds the offsets from before."), started, rows=rows,
                  counts={"reset": len(targets)}, details=details)


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    """Read the committed offsets back and compare them with the plan, row by row."""
    timeout = ctx.clients.settings.kafka[plan.cluster].request_timeout_s
    try:
        actual = committed_offsets(ctx.clients.kafka_admin(plan.cluster), plan.details["group"], timeout)
    except ActionError as exc:
        return Verification(ok=False, message=f"Could not read the offsets back: {exc}")
    rows, mismatches = [], []
    for t, p, expected in plan.details["targets"]:
        got = actual.get((t, p))
        rows.append(Row(key=_key((t, p)), values={"expected": expected, "committed": got, "ok": got == expected}))
        if got != expected:
            mismatches.append(f"{_key((t, p))}: committed {got}, the plan said {expected}.")
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches,
                            message=f"{plural(len(mismatches), 'partition')} of {len(rows)} differ from the plan.")
    return Verification(ok=True, rows=rows,
                        message=f"All {plural(len(rows), 'partition')} have the committed offsets the plan showed.")


RESET = ActionKind(
    kind="reset_offsets", title="Reset consumer group offsets", command="reset-offsets",
    summary="reset a consumer group's offsets (dry run, second person's approval, restore point)",
    usage="<group> --topic T[:p,p] | --all-topics --to-earliest | --to-latest | --to-datetime <ISO-8601> | "
          "--by-duration <PnDTnHnM> | --shift-by <n> | --to-offset <n>",
    plan=plan, replan=replan, execute=execute, verify=verify)
# A restore is a reset whose targets come from a restore point: the same execute and verify.
RESTORE = ActionKind(
    kind="restore_offsets", title="Restore consumer group offsets", command="restore-offsets",
    summary="put a group's offsets back from a restore point or a backup (with approval)", usage=RESTORE_USAGE,
    plan=plan_restore_words, replan=replan_restore, execute=execute, verify=verify)
