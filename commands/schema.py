"""`/schema [subject] [--check [schema]]`: a subject's versions, compatibility level
and latest changes, or whether a candidate schema is compatible with the latest
version. Without the schema text after --check, a modal asks for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.chat import Form, Place
from bot.health.schema import compatibility_verdict, error_verdict, registry_verdict, subject_verdict
from bot.probes.schema_registry import SchemaRegistryError
from bot.reports import schema as render_schema
from bot.reports.markup import escape
from bot.reports.report import Report
from commands import args, common
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/schema [subject] [--check [candidate schema JSON]] [--registry NAME]"


def registry_name(ctx: BotContext, wanted: str | None) -> str:
    names = list(ctx.settings.schema_registry)
    if not names:
        raise UsageError("No Schema Registry is configured. Set INCIDENTBOT_SCHEMA_REGISTRY__<NAME>__URL "
                         "(for Apicurio, the URL ends in /apis/ccompat/v7).")
    if wanted is None:
        return names[0]
    if wanted not in names:
        raise UsageError(f"No Schema Registry named `{wanted}`. Configured: {', '.join(names)}.")
    return wanted


def _split(text: str) -> tuple[str, str | None]:
    """The schema after --check is taken verbatim: JSON does not survive word splitting."""
    head, sep, candidate = text.partition("--check")
    return head, (candidate.strip() if sep else None)


def check_candidate(ctx: BotContext, registry: str, subject: str, candidate: str) -> Reply:
    probe = ctx.clients.schema_registry(registry)
    try:
        result = probe.check_compatibility(subject, candidate)
    except SchemaRegistryError as err:
        # An invalid candidate or a missing subject is an answer too, with its verdict.
        return common.report_reply(Report(title=f"Compatibility check: {subject} ({registry})",
                                          verdict=error_verdict(err.kind, err.message),
                                          taken_at=datetime.now(timezone.utc)))
    return common.report_reply(render_schema.check_report(probe.shown_url, result, compatibility_verdict(result)))


class SchemaArgs(BaseModel):
    subject: str | None = None
    registry: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    head, candidate = _split(inv.text)
    a = args.parse(head, SchemaArgs, positional=["subject"], usage=USAGE)
    subject = a.subject
    registry = registry_name(ctx, a.registry)
    if candidate is not None and subject is None:
        raise UsageError(f"`--check` needs the subject to check against. Usage: `{USAGE}`")

    if candidate == "":
        return Deferred(run=lambda: Reply(text="", form=form(subject or "", registry, inv)))
    if candidate is not None:
        return Deferred(run=lambda: check_candidate(ctx, registry, subject or "", candidate),
                        ack=Reply(text=f"Checking the candidate against `{subject}`…"))

    def show() -> Reply:
        probe = ctx.clients.schema_registry(registry)
        now = datetime.now(timezone.utc)
        if subject is None:
            snap = probe.snapshot()
            return common.report_reply(render_schema.registry_report(snap, registry_verdict(snap)))
        try:
            snap = probe.subject_snapshot(subject)
        except SchemaRegistryError as err:
            return common.problem(err.message)
        if snap.error and not snap.versions:
            return common.problem(snap.error)
        return common.report_reply(render_schema.subject_report(registry, probe.shown_url, snap,
                                                                subject_verdict(snap, now=now), now))

    return Deferred(run=show, ack=Reply(text=f"Reading {'`' + subject + '`' if subject else 'the registry'}…"))


def form(subject: str, registry: str, inv: Invocation) -> Form:
    return Form(kind="schema_check", title="Check a schema", submit="Check", label="Candidate schema (JSON)",
                prompt=f"Is this candidate compatible with the latest version of `{escape(subject)}`?",
                metadata={"subject": subject, "registry": registry, "channel": inv.channel_id, "user": inv.user_id},
                multiline=True)


def submitted(ctx: BotContext, candidate: str, metadata: dict[str, str]) -> tuple[str | None, Callable[[], None]]:
    """A candidate typed into the form: (what is wrong with it, for the person to fix)
    or (None, the work that checks it and posts the answer where /schema was typed)."""
    try:
        json.loads(candidate)
    except ValueError as exc:
        return f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).", lambda: None
    if not all(metadata.get(k) for k in ("registry", "subject", "channel")):
        return "This form has lost what it was about; run `/schema <subject> --check` again.", lambda: None

    def work() -> None:
        reply = check_candidate(ctx, metadata["registry"], metadata["subject"], candidate)
        ctx.chat.post(Place(metadata["channel"]), reply.content or reply.text)

    return None, work


SPEC = CommandSpec(
    name="schema",
    summary="Schema Registry: a subject's versions and compatibility, or check a candidate schema",
    usage=[USAGE, "/schema orders-value", "/schema orders-value --check"],
    handle=handle,
)
