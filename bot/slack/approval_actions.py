"""The Approve, Deny and Abort buttons of approval cards, and their modals: a reason
for a deny, the resource's name typed out to confirm a purge."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.actions import registry
from bot.approvals import flow, rules, store
from bot.chat import Form
from bot.slack import modals
from bot.slack.ids import Action, Callback
from bot.slack.interaction import Interaction, slack_may_refuse

if TYPE_CHECKING:
    from bot.app.context import BotContext


def register(app: App, ctx: BotContext) -> None:
    def tell(body: dict[str, Any], text: str) -> None:
        who = Interaction.of(body)
        ctx.slack.chat_postEphemeral(channel=who.channel, user=who.user, text=text, thread_ts=who.thread_ts)

    @app.action(Action.APPROVE)
    def on_approve(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, request_id = Interaction.of(body).user, action.get("value", "")

        def work() -> None:
            request = store.get(ctx.engine, request_id)
            if request is not None and registry.confirms_by_name(request.plan.kind):
                refusal = rules.may_approve(request, user, time.time(),
                                            is_approver=flow.is_approver(ctx, user, request.plan),
                                            approvers=flow.approvers_label(ctx, request.plan))
                if refusal:
                    tell(body, refusal)
                    return
                ctx.slack.views_open(trigger_id=Interaction.of(body).trigger_id, view=modals.build(Form(
                    kind="confirm_purge", title="Confirm the purge", submit="Purge", label="Name of the DLQ",
                    prompt=f"Purging deletes what is in `{request.plan.target}` for good. Type its name to approve.",
                    metadata={"request": request_id})))
                return
            refusal = flow.approve(ctx, request_id, user)
            if refusal:
                tell(body, refusal)

        ctx.work.submit(slack_may_refuse(work))

    @app.action(Action.DENY)
    def on_deny(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = action.get("value", "")
        ctx.work.submit(slack_may_refuse(lambda: ctx.slack.views_open(
            trigger_id=Interaction.of(body).trigger_id, view=modals.build(Form(
                kind="deny_reason", title="Deny the request", submit="Deny", label="Reason", multiline=True,
                prompt="Say why, for the requester and the timeline.", metadata={"request": request_id})))))

    @app.action(Action.ABORT)
    def on_abort(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        stopped = flow.abort(ctx, action.get("value", ""))
        ctx.work.submit(slack_may_refuse(lambda: tell(body, "Stopping after the current batch." if stopped else
                                                      "Nothing of that is running in this bot process.")))

    @app.view(Callback.DENY_REASON)
    def on_deny_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = modals.answer("deny_reason", view)
        if len(reason) < 3:
            ack(**modals.errors("deny_reason", "Give a reason of a few words."))
            return
        ack()
        user = Interaction.of(body).user
        request_id = modals.metadata(view).get("request", "")

        def work() -> None:
            refusal = flow.deny(ctx, request_id, user, reason)
            if refusal:
                request = store.get(ctx.engine, request_id)
                if request is not None and request.channel:
                    ctx.slack.chat_postEphemeral(channel=request.channel, user=user, text=refusal,
                                                 thread_ts=request.thread_ts)

        ctx.work.submit(slack_may_refuse(work))

    @app.view(Callback.CONFIRM_PURGE)
    def on_confirm_purge(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        request_id = modals.metadata(view).get("request", "")
        request = store.get(ctx.engine, request_id)
        if request is None or modals.answer("confirm_purge", view) != request.plan.target:
            ack(**modals.errors("confirm_purge", "That is not the DLQ's name; nothing was approved."))
            return
        ack()
        user = Interaction.of(body).user

        def work() -> None:
            refusal = flow.approve(ctx, request_id, user)
            if refusal and request.channel:
                ctx.slack.chat_postEphemeral(channel=request.channel, user=user, text=refusal,
                                             thread_ts=request.thread_ts)

        ctx.work.submit(slack_may_refuse(work))
