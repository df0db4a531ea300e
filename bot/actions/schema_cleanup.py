"""/schema-cleanup <subject> --keep N [--registry NAME]: soft-delete the versions of a
subject older than its newest N that no schema references (the operations guide's
quarterly "schema subjects with many old versions"). plan -> execute -> verify.

The dry run lists what would be deleted and what is kept because another schema
references it (``GET /subjects/{s}/versions/{v}/referencedby``). Execution re-checks
each version just before deleting it (still there, still older than the newest N,
still unreferenced) and deletes it softly (``DELETE /subjects/{s}/versions/{v}``):
it stays readable with ``?deleted=true``, and a registry refusing because of a
reference (42206) keeps it. Verification reads the versions back.
"""

from __future__ import annotations

import shlex
import threading

from pydantic import BaseModel, Field, ValidationError

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
from bot.actions.reset_spec import SpecError
from bot.probes import schema_versions
from bot.probes.schema_registry import SchemaRegistryError, SchemaRegistryProbe

USAGE = "<subject> --keep N [--registry NAME]"


class CleanupSpec(BaseModel):
    subject: str
    keep: int = Field(ge=1)
    registry: str | None = None


def parse_spec(text: str) -> CleanupSpec:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SpecError(f"I could not read that: {exc}. Usage: {USAGE}") from None
    values: dict[str, str] = {}
    free: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("--"):
            free.append(word)
            continue
        flag, eq, value = word[2:].partition("=")
        if flag not in ("keep", "registry"):
            raise SpecError(f"Unknown option `{word}`. Usage: {USAGE}")
        if not eq:
            if i >= len(words):
                raise SpecError(f"`--{flag}` needs a value. Usage: {USAGE}")
            value, i = words[i], i + 1
        values[flag] = value
    if len(free) != 1:
        raise SpecError(f"Name exactly one subject. Usage: {USAGE}")
    if "keep" not in values:
        raise SpecError(f"Say how many of the newest versions to keep with `--keep N`. Usage: {USAGE}")
    if not values["keep"].isdigit() or int(values["keep"]) < 1:
        raise SpecError("`--keep` needs a whole number of 1 or more: the newest version is never deleted.")
    try:
        return CleanupSpec(subject=free[0], keep=int(values["keep"]), registry=values.get("registry"))
    except ValidationError as exc:  # a guard: the checks above are the sentences people see
        raise SpecError(f"{exc.errors()[0]['msg']}. Usage: {USAGE}") from None


def registry_for(ctx: ActionContext, cluster: str, wanted: str | None) -> str:
    """The registry named, else the one named like the cluster, else the first configured."""
    names = list(ctx.clients.settings.schema_registry)
    if not names:
        raise ActionError("No Schema Registry is configured (schema_registry.<name>.url; for Apicurio the URL ends "
                          "in /apis/ccompat/v7).")
    if wanted is not None and wanted not in names:
        raise ActionError(f"No Schema Registry named {wanted}. Configured: {', '.join(names)}.")
    return wanted or (cluster if cluster in names else names[0])


def _users(probe: SchemaRegistryProbe, ids: list[int]) -> str:
    found: list[str] = []
    for schema_id in ids:
        try:
            found += schema_versions.referencing_subjects(probe, schema_id) or [f"schema id {schema_id}"]
        except SchemaRegistryError:
            found.append(f"schema id {schema_id}")
    return ", ".join(found)


def plan(ctx: ActionContext, cluster: str, spec: CleanupSpec | str) -> Plan:
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    name = registry_for(ctx, cluster, spec.registry)
    probe = ctx.clients.schema_registry(name)
    subject = spec.subject
    rows: list[Row] = []
    refusals: list[Refusal] = []
    try:
        present = schema_versions.versions(probe, subject)
        newest = present[-spec.keep:]
        for version in [v for v in present if v not in newest]:
            key = f"{subject} v{version}"
            schema_id = probe.version(subject, version).id
            ids = schema_versions.referenced_by(probe, subject, version)
            rows.append(Row(key=key, values={"version": version, "schema_id": schema_id,
                                             "action": "keep (referenced)" if ids else "soft-delete"},
                            severity=0 if ids else 1))
            if ids:
                refusals.append(Refusal(item=key, reason=f"Kept: referenced by {_users(probe, ids)}."))
    except SchemaRegistryError as exc:
        raise ActionError(exc.message) from None
    delete = [r.values["version"] for r in rows if r.values["action"] == "soft-delete"]
    referenced = [r.values["version"] for r in rows if r.values["action"] != "soft-delete"]
    shown = ", ".join(f"v{v}" for v in newest)
    return Plan(
        kind="schema_cleanup", broker="kafka", cluster=cluster, target=subject,
        params={"spec": spec.model_dump(mode="json")},
        summary=(f"Soft-delete {plural(len(delete), 'version')} of subject {subject} in registry {name}; keep the "
                 f"newest {spec.keep} ({shown or 'none'})" + (f" and {len(referenced)} referenced" if referenced
                                                              else "") + "."),
        columns=["version", "schema_id", "action"], rows=rows, refusals=refusals,
        totals={"versions": len(present), "delete": len(delete), "kept_newest": len(newest),
                "kept_referenced": len(referenced)},
        warnings=["A soft delete hides a version from readers that do not ask for deleted ones; it stays "
                  "readable with ?deleted=true and nothing is deleted permanently."],
        details={"registry": name, "subject": subject, "keep": spec.keep, "delete": delete, "referenced": referenced,
                 "newest": newest})


def replan(ctx: ActionContext, approved: Plan) -> Plan:
    return plan(ctx, approved.cluster, CleanupSpec.model_validate(approved.params["spec"]))


def execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
            abort: threading.Event | None = None) -> Result:
    started = now()
    if plan.refused:
        return refused(plan, started, [r for r in plan.refusals if r.item is None])
    wanted: list[int] = plan.details["delete"]
    if not wanted:
        return result(plan, "nothing_to_do", "Nothing to do: no version is both old enough and unreferenced.",
                      started)
    subject, keep = plan.details["subject"], int(plan.details["keep"])
    probe = ctx.clients.schema_registry(plan.details["registry"])
    deleted: list[int] = []
    kept: list[Refusal] = []
    try:
        present = schema_versions.versions(probe, subject)
        newest = present[-keep:]
        for n, version in enumerate(wanted, 1):
            if abort is not None and abort.is_set():
                kept.append(Refusal(item=f"{subject} v{version}", reason="Aborted before this version."))
                continue
            why = ("it is gone already" if version not in present else
                   f"it is now among the newest {keep}" if version in newest else
                   "something references it now" if schema_versions.referenced_by(probe, subject, version) else None)
            if why is None:
                try:
                    schema_versions.soft_delete(probe, subject, version)
                    deleted.append(version)
                except SchemaRegistryError as exc:
                    if exc.error_code != schema_versions.REFERENCED:
                        raise
                    why = "the registry says something references it"
            if why is not None:
                kept.append(Refusal(item=f"{subject} v{version}", reason=f"Kept: {why}."))
            if progress is not None:
                progress(Progress(done=n, total=len(wanted), message=f"Soft-deleted {len(deleted)} of {len(wanted)}."))
    except SchemaRegistryError as exc:
        return result(plan, "failed", f"Stopped after {plural(len(deleted), 'version')}: {exc.message}", started,
                      details={"deleted": deleted}, refusals=kept)
    listed = ", ".join(f"v{v}" for v in deleted) or "none"
    more = f" {plural(len(kept), 'version')} kept (see below)." if kept else ""
    return result(plan, "executed", f"Soft-deleted {plural(len(deleted), 'version')} of {subject}: {listed}.{more}",
                  started, details={"deleted": deleted}, refusals=kept, counts={"deleted": len(deleted)})


def verify(ctx: ActionContext, plan: Plan, res: Result) -> Verification:
    subject = plan.details["subject"]
    probe = ctx.clients.schema_registry(plan.details["registry"])
    deleted: list[int] = res.details.get("deleted", [])
    try:
        present = schema_versions.versions(probe, subject)
        every = schema_versions.versions(probe, subject, deleted=True)
    except SchemaRegistryError as exc:
        return Verification(ok=False, message=f"Could not read {subject}'s versions back: {exc.message}")
    mismatches = [f"v{v} is still listed." for v in deleted if v in present]
    mismatches += [f"v{v} is gone for good, not soft-deleted." for v in deleted if v not in every]
    kept = plan.details["newest"] + plan.details["referenced"]
    mismatches += [f"v{v}, which was to be kept, is no longer listed." for v in kept if v not in present]
    rows = [Row(key=subject, values={"listed": ", ".join(map(str, present)),
                                     "soft_deleted": ", ".join(str(v) for v in every if v not in present)})]
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches, message=mismatches[0])
    return Verification(ok=True, rows=rows, message=(
        f"{subject} now lists {', '.join(f'v{v}' for v in present)}; "
        f"{', '.join(f'v{v}' for v in deleted) or 'nothing'} soft-deleted (still readable with ?deleted=true)."))


ACTION = ActionKind(
    kind="schema_cleanup", title="Clean up old schema versions", command="schema-cleanup",
    summary="soft-delete a subject's old versions that nothing references (dry run, approval, read back)",
    usage=USAGE, plan=plan, replan=replan, execute=execute, verify=verify)
