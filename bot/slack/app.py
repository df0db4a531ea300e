"""The Bolt app: registers every slash command and answers within Slack's 3 seconds.
The same app serves both transports: HTTP (bot/app/web.py) and Socket Mode
(bot/slack/socket_mode.py).

Parsing and pure replies (help, usage errors) are sent in the acknowledgement
itself; anything that talks to a broker or to Slack is handed to the work pool and
runs after it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.chat import Place
from bot.db import writable
from bot.incidents import flows, service
from bot.reports.markup import escape
from bot.reports.report import Report
from bot.slack import approval_actions, client, inbound, incident_actions, modals
from bot.slack.chat import render
from bot.slack.http import ACKED
from bot.slack.ids import Callback
from commands import router
from commands import schema as schema_command
from commands.base import Deferred, Invocation, Reply, UsageError
from commands.registry import REGISTRY, SLASH_COMMANDS

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)


# How old a read-only command's reply may be to be handed to whoever asks the same in a
# burst (bot.singleflight): short enough that nobody is shown an old number, long enough
# that a hundred `/lag` a second cost one probe every couple of seconds. Asked alone,
# twice in a row, a command probes twice (each `/lag` stores its own samples then).
SHARE_S = 2.0


def _message(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"text": reply.text, "response_type": "in_channel" if reply.in_channel else "ephemeral"}
    if reply.content is not None:
        _, shown = render(reply.content)
        if isinstance(reply.content, Report):
            # Beside a report the text is its plain text (commands.common.report_reply), which
            # Slack reads as mrkdwn in notifications: broker data in it is escaped like in the blocks.
            out["text"] = escape(reply.text)
        if shown:
            out["blocks"] = shown
    return out


def build(ctx: BotContext, *, verify_token: bool = True) -> App:
    settings = ctx.settings.slack
    if settings.signing_secret is None and not settings.socket_mode:
        raise ValueError("slack.signing_secret is required to receive Slack requests")
    app = App(
        client=ctx.slack,
        signing_secret=settings.signing_secret.get_secret_value() if settings.signing_secret else "",
        # Checked once, before anything is parsed (bot.slack.http, the only way in over
        # HTTP); Socket Mode envelopes are not signed: they arrive on the bot's own
        # WebSocket. Bolt checking again cost an HMAC of every body twice.
        request_verification_enabled=False,
        token_verification_enabled=verify_token,
        # The listener only parses and hands slow work to the pool, so answering after
        # it returns costs nothing and means the work is queued before Slack hears back.
        process_before_response=True,
        # Bolt's own per-request logging would include payloads; ours is enough.
        logger=logging.getLogger("bot.slack.bolt"),
        # Unmatched requests go to on_error, which answers them with a reason.
        raise_error_for_unhandled_request=True,
    )

    def on_command(ack: Ack, command: dict[str, str], context: BoltContext) -> None:
        started = time.perf_counter()
        slash, text = command.get("command", ""), command.get("text", "")
        response_url = command.get("response_url")
        name = "unknown"

        def answer(message: dict[str, Any] | None = None) -> None:
            if message and context.get(ACKED):
                # Slack has had its answer from the HTTP front: the message goes where the
                # reply will, before the work is queued, so the two arrive in order.
                ack()
                try:
                    client.respond(response_url, message)
                except Exception as exc:  # no response_url, Slack unreachable: the person sees nothing
                    log.warning("could not post the answer of /%s to its response_url (%s)", name, type(exc).__name__)
            else:
                ack(**(message or {}))
            metrics.command_latency.labels(name, "ack").observe(time.perf_counter() - started)

        try:
            spec, rest = router.resolve(REGISTRY, settings.umbrella_command, slash, text)
            name = spec.name
            assert spec.handle is not None
            inv = router.invocation(command, spec, rest)
            outcome = spec.handle(inv, ctx)
        except UsageError as exc:
            answer({"text": str(exc), "response_type": "ephemeral"})
            return
        except SQLAlchemyError as exc:
            # New work the database could not take (disk full, read-only): said, not a 500.
            why = writable.storage_problem(exc) or "it did not answer"
            log.warning("/%s refused: the database cannot take it (%s)", name, type(exc).__name__)
            answer({"text": f"Nothing was done: the bot's database cannot take it ({why}). Tell whoever runs the bot.",
                    "response_type": "ephemeral"})
            return
        if isinstance(outcome, Reply):
            answer(_message(outcome))
            return
        key = (name, " ".join(text.split()))
        note = _message(outcome.ack) if outcome.ack else None
        if note and context.get(ACKED) and spec.shared and ctx.caches.answers.fresh(key, SHARE_S):
            # Its reply is ready: a "Reading…" note a moment before it would be a post for nothing.
            note = None
        answer(note)
        if spec.shared:
            work = outcome.run
            outcome = Deferred(run=lambda: ctx.caches.answers.run(key, work, SHARE_S), ack=outcome.ack)
        _run_later(ctx, name, outcome, lambda **message: client.respond(response_url, message), started, inv)

    # One listener for every command, registered first: Bolt asks each listener in turn
    # whether a request is its own, building all its keyword arguments for every
    # question, which cost more than the acknowledgement itself when each command had one.
    names = sorted({settings.umbrella_command, *(f"/{n}" for n in SLASH_COMMANDS)})
    app.command(re.compile("^(?:" + "|".join(re.escape(n) for n in names) + ")$"))(on_command)

    incident_actions.register(app, ctx)
    approval_actions.register(app, ctx)

    @app.view(Callback.SCHEMA_CHECK)
    def on_schema_modal(ack: Ack, view: dict[str, Any]) -> None:
        error, work = schema_command.submitted(ctx, modals.answer("schema_check", view), modals.metadata(view))
        if error:
            ack(**modals.errors("schema_check", error))
            return
        ack()
        ctx.work.submit(work)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            # A well-formed request for something this app does not have (an action,
            # view or command of another app): Bolt's own answer would log the body
            # and a code suggestion; ours is one line and a reason.
            kind = _kind(body)
            log.info("no handler for a Slack %s request", kind)
            return _refusal(404, "Not Found", f"this app has no handler for this {kind} request")
        try:
            inbound.check_parsed(body)
        except inbound.BadRequest as bad:
            # The request was not one Slack sends (the entry points refuse those before
            # Bolt, so this is a path that skipped them): the sender's fault, a 400.
            log.warning("refused a Slack request Bolt could not read: %s", bad.reason)
            return _refusal(400, "Bad Request", bad.reason)
        # A request Slack could send, failing in our code: Bolt answers 500 and the
        # person sees Slack's "failed" notice; the traceback is for us.
        log.error("unhandled error in a Slack handler: %s", type(error).__name__, exc_info=error)
        return None

    return app


def _kind(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        return body["type"] if body["type"] in (*inbound.INTERACTION_TYPES, *inbound.EVENT_TYPES) else "unknown"
    return "slash command" if isinstance(body, dict) and "command" in body else "unknown"


def _refusal(status: int, error: str, reason: str) -> BoltResponse:
    return BoltResponse(status=status, body=json.dumps({"error": error, "reason": reason}),
                        headers={"content-type": "application/json"})


def _run_later(ctx: BotContext, name: str, outcome: Deferred, respond: Callable[..., object], started: float,
               inv: Invocation) -> None:
    def work() -> None:
        reply = outcome.run()
        if reply is not None:
            deliver(reply)
        metrics.command_latency.labels(name, "work").observe(time.perf_counter() - started)

    def deliver(reply: Reply) -> None:
        if reply.form is not None:
            ctx.slack.views_open(trigger_id=inv.trigger_id, view=modals.build(reply.form))
            return
        # A summary asked for in an incident's thread (or channel) belongs to the incident:
        # it goes into the thread and its timeline, with its attachment. Anything else
        # answers the person, the attachment beside it.
        shared = reply.in_channel or reply.outage
        incident = service.in_thread(ctx.engine, inv.channel_id, inv.thread_ts) if shared else None
        if incident is None:
            respond(**_message(reply))
            if reply.attachment is not None:
                ctx.chat.upload(Place(inv.channel_id, inv.thread_ts), reply.attachment)
            return
        flows.post(ctx, incident, reply.content or reply.text)
        if reply.attachment is not None:
            ctx.chat.upload(flows.parent(flows.ensure_parent(ctx, incident)).thread(), reply.attachment)
        service.record(ctx.engine, incident, actor=inv.user_id, kind="outage" if reply.outage else "check",
                       now=time.time(),
                       text=f"/{name}: {reply.text.splitlines()[0]}", data={"report": reply.text})

    def failed(ref: str) -> None:
        respond(
            text=f"Sorry, `{name}` failed before it could answer. The error is in the bot's log as ref {ref}.",
            response_type="ephemeral",
        )

    ctx.work.submit(work, on_error=failed)
