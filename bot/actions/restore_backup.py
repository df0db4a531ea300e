"""/restore schemas|definitions|topics <backup>: put a backup back, as a destructive
action (dry-run plan of what would be created or changed, a second person's approval,
execution, read-back verification). The work itself is bot.backups.restore.

    /restore topics <backup> [--prefix P] [--only NAME-PREFIX]
    /restore schemas <backup> [--prefix P] [--only NAME-PREFIX] [--registry NAME]
    /restore definitions <backup> [--rabbit NAME] [--vhost V] [--into VHOST]

<backup> is a backup id (or its start) or `latest`, pinned to the id in the plan.
Restoring under a prefix or into another vhost leaves the originals alone."""

from __future__ import annotations

import shlex
import threading

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
from bot.actions.reset_spec import SpecError
from bot.backups import restore
from bot.backups.model import BackupError

USAGE = ("schemas|definitions|topics <backup> [--prefix P] [--only NAME-PREFIX] "
         "[--registry NAME] [--rabbit NAME] [--vhost V] [--into VHOST]")
_OPTIONS = {"prefix", "only", "registry", "rabbit", "vhost", "into"}


def parse(words: str, kafka_cluster: str) -> tuple[restore.Target, dict[str, str]]:
    try:
        parts = shlex.split(words)
    except ValueError as exc:
        raise SpecError(f"I could not read that: {exc}. Usage: {USAGE}") from None
    if len(parts) < 2 or parts[0] not in ("schemas", "definitions", "topics"):
        raise SpecError(f"Say what to restore and from which backup. Usage: {USAGE}")
    opts: dict[str, str] = {}
    rest = parts[2:]
    while rest:
        flag = rest.pop(0)
        name, eq, inline = flag[2:].partition("=")
        if not flag.startswith("--") or name not in _OPTIONS:
            raise SpecError(f"Unknown option `{flag}`. Usage: {USAGE}")
        if not eq and not rest:
            raise SpecError(f"`--{name}` needs a value.")
        opts[name] = inline if eq else rest.pop(0)
    what = parts[0]
    if what == "definitions" and ("prefix" in opts or "only" in opts):
        raise SpecError("Definitions are restored a vhost at a time: use --vhost (from) and --into (to).")
    if what != "definitions" and ({"vhost", "into"} & set(opts)):
        raise SpecError("--vhost and --into are for definitions; topics and subjects take --prefix.")
    return restore.Target(what=what, backup=parts[1], cluster=kafka_cluster, prefix=opts.get("prefix", ""),  # type: ignore[arg-type]
                          only=opts.get("only"), vhost=opts.get("vhost"), into=opts.get("into")), opts


def _cluster(ctx: ActionContext, target: restore.Target, opts: dict[str, str]) -> restore.Target:
    settings = ctx.clients.settings
    if target.what == "schemas":
        names = list(settings.schema_registry)
        name = opts.get("registry") or (names[0] if names else None)
        if name not in settings.schema_registry:
            raise ActionError(f"No Schema Registry named {name} is configured." if name
                              else "No Schema Registry is configured.")
        return target.model_copy(update={"cluster": name})
    if target.what == "definitions":
        name = opts.get("rabbit") or next(iter(settings.rabbitmq), None)
        if name not in settings.rabbitmq:
            raise ActionError(f"No RabbitMQ named {name} is configured.")
        return target.model_copy(update={"cluster": name})
    if target.cluster not in settings.kafka:
        raise ActionError(f"No Kafka cluster named {target.cluster} is configured.")
    return target


def plan_words(ctx: ActionContext, cluster: str, words: str) -> Plan:
    target, opts = parse(words, cluster)
    return plan(ctx, _cluster(ctx, target, opts))


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, restore.Target.model_validate(approved.params["target"]))


def plan(ctx: ActionContext, target: restore.Target) -> Plan:
    try:
        backup, items, _ = restore.plan_items(ctx.clients, target)
    except BackupError as exc:
        raise ActionError(str(exc)) from None
    target = target.model_copy(update={"backup": backup.id})  # "latest" is pinned to what was shown
    work = [i for i in items if i.action != "same"]
    rows = [Row(key=i.key, values={"area": i.area, "item": i.key, "action": i.action, "detail": i.detail},
                severity={"refuse": 3, "change": 2, "create": 1}[i.action]) for i in work]
    rows.sort(key=lambda r: (-r.severity, r.key))
    totals = {a: sum(1 for i in items if i.action == a) for a in ("create", "change", "same", "refuse")}
    refusals = [Refusal(item=i.key, reason=f"{i.area} {i.key} {i.detail}") for i in items if i.action == "refuse"]
    where = {"topics": f"topics{' under prefix ' + target.prefix if target.prefix else ''} on Kafka {target.cluster}",
             "schemas": f"subjects{' under prefix ' + target.prefix if target.prefix else ''} in Schema Registry "
                        f"{target.cluster}",
             "definitions": f"RabbitMQ {target.cluster} vhost {target.into or target.vhost or 'of the backup'}"}
    summary = (f"Restore {target.what} from backup {backup.id} into {where[target.what]}: "
               f"{plural(totals['create'], 'item')} created, {totals['change']} changed, {totals['same']} already "
               f"as in the backup" + (f", {totals['refuse']} refused" if totals["refuse"] else "") + ".")
    warnings = []
    if target.what == "schemas":
        warnings.append("Registered versions get new global ids; each subject's versions keep their order.")
    if target.what == "topics" and not target.prefix and totals["change"]:
        warnings.append("Changing existing topics' configs or partitions affects their producers and consumers now.")
    files = [f.sha256 for f in backup.manifest.files if f.kind == target.what]
    return Plan(kind="restore_backup", broker="rabbitmq" if target.what == "definitions" else "kafka",
                cluster=target.cluster, target=f"{target.what} from {backup.id}",
                params={"target": target.model_dump(mode="json")}, summary=summary,
                columns=["area", "item", "action", "detail"], rows=rows, totals=totals, warnings=warnings,
                refusals=refusals,
                details={"items": [i.model_dump() for i in items if i.action != "same"], "checksums": files})


def _items(plan: Plan) -> list[restore.Item]:
    return [restore.Item.model_validate(i) for i in plan.details["items"]]


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    started = now()
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    items = _items(plan)
    if not any(i.action in ("create", "change") for i in items):
        return result(plan, "nothing_to_do", "Nothing to do: the target already matches the backup.", started)
    if abort is not None and abort.is_set():
        return result(plan, "aborted", "Aborted before anything was changed.", started)
    target = restore.Target.model_validate(plan.params["target"])
    try:
        failures = restore.execute(ctx.clients, target, target.backup, items)
    except BackupError as exc:
        return result(plan, "failed", f"Not completed: {exc}", started)
    done = sum(1 for i in items if i.action in ("create", "change"))
    if failures:
        return result(plan, "failed", f"{plural(len(failures), 'step')} failed (first: {failures[0]})", started,
                      counts={"items": done, "failed": len(failures)}, details={"failures": failures[:50]})
    return result(plan, "executed", f"Restored {plural(done, 'item')} of {target.what} from backup {target.backup}.",
                  started, counts={"items": done})


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    target = restore.Target.model_validate(plan.params["target"])
    try:
        diffs = restore.verify(ctx.clients, target, target.backup, _items(plan))
    except BackupError as exc:
        return Verification(ok=False, message=f"Could not read the target back: {exc}")
    if diffs:
        return Verification(ok=False, mismatches=[d.sentence for d in diffs[:100]],
                            rows=[Row(key=d.item, values={"change": d.change, "field": d.field, "backup": d.backup,
                                                          "live": d.live}) for d in diffs[:50]],
                            message=f"{plural(len(diffs), 'difference')} from the backup after the restore "
                                    f"(first: {diffs[0].sentence})")
    return Verification(ok=True, message=f"Read back: the restored {target.what} match backup {target.backup} "
                                         f"field by field.")


ACTION = ActionKind(
    kind="restore_backup", title="Restore from a backup", command="restore",
    summary="restore schemas, RabbitMQ definitions or topic configurations from a backup (dry-run diff, approval)",
    usage=USAGE, plan=plan_words, replan=replan, execute=execute, verify=verify)
