"""`/schema [subject] [--check [schema]]`: a subject's versions, compatibility level
and latest changes, or whether a candidate schema is compatible with the latest
version. Without the schema text after --check, a modal asks for it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bot.health.schema import compatibility_verdict, error_verdict, registry_verdict, subject_verdict
from bot.probes.schema_registry import SchemaRegistryError
from bot.reports import schema as render_schema
from bot.reports.report import Report
from bot.slack.ids import SCHEMA_BLOCK, SCHEMA_INPUT, Callback
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


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    head, candidate = _split(inv.text)
    words = args.split(head)
    registry_flag = None
    if "--registry" in words:
        at = words.index("--registry")
        if at + 1 >= len(words):
            raise UsageError(f"`--registry` needs a value. Usage: `{USAGE}`")
        registry_flag = words[at + 1]
        del words[at:at + 2]
    if len(words) > 1 or any(w.startswith("--") for w in words):
        raise UsageError(f"I could not read `{head.strip()}`. Usage: `{USAGE}`")
    subject = words[0] if words else None
    registry = registry_name(ctx, registry_flag)
    if candidate is not None and subject is None:
        raise UsageError(f"`--check` needs the subject to check against. Usage: `{USAGE}`")

    if candidate == "":
        def open_modal() -> Reply | None:
            ctx.slack.views_open(trigger_id=inv.trigger_id, view=modal(subject or "", registry, inv))
            return None
        return Deferred(run=open_modal)
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


def modal(subject: str, registry: str, inv: Invocation) -> dict[str, Any]:
    metadata = json.dumps({"subject": subject, "registry": registry, "channel": inv.channel_id, "user": inv.user_id})
    return {
        "type": "modal",
        "callback_id": Callback.SCHEMA_CHECK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Check a schema"},
        "submit": {"type": "plain_text", "text": "Check"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"Is this candidate compatible with the latest version of `{subject}`?"}},
            {"type": "input", "block_id": SCHEMA_BLOCK,
             "label": {"type": "plain_text", "text": "Candidate schema (JSON)"},
             "element": {"type": "plain_text_input", "action_id": SCHEMA_INPUT, "multiline": True}},
        ],
    }


def submitted(ctx: BotContext, view: dict[str, Any]) -> tuple[dict[str, str] | None, Any]:
    """Validate a submitted modal: (errors for Slack to show, or None) and the work to do."""
    meta = json.loads(view.get("private_metadata") or "{}")
    text = (view.get("state", {}).get("values", {}).get(SCHEMA_BLOCK, {}).get(SCHEMA_INPUT, {}).get("value") or "")
    try:
        json.loads(text)
    except ValueError as exc:
        return {SCHEMA_BLOCK: f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."}, None

    def work() -> None:
        reply = check_candidate(ctx, meta["registry"], meta["subject"], text)
        ctx.slack.chat_postMessage(channel=meta["channel"], text=reply.text, blocks=reply.blocks)

    return None, work


SPEC = CommandSpec(
    name="schema",
    summary="Schema Registry: a subject's versions and compatibility, or check a candidate schema",
    usage=[USAGE, "/schema orders-value", "/schema orders-value --check"],
    handle=handle,
)
