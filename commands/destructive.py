"""The slash command of every destructive action, built from its registry entry: it
runs inside an incident (unless the configuration allows otherwise), plans a dry run
after the acknowledgement, and posts the plan as an approval card for a second
person. An action needs no command module of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.actions.base import ActionError, ActionKind
from bot.actions.reset_spec import SpecError
from bot.approvals import flow, policy, rules
from bot.incidents import service
from bot.incidents.model import Incident
from commands import args
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import kafka_cluster, problem

if TYPE_CHECKING:
    from bot.app.context import BotContext

COMMON_USAGE = '--reason "why" [--cluster NAME] [--incident ID]'


class Common(BaseModel):
    """What every destructive command takes; the action reads `words` itself."""

    cluster: str | None = None
    incident: str | None = None
    reason: str | None = None  # why: required, shown on the card and kept in the audit trail
    words: str = ""


def incident_for(inv: Invocation, ctx: BotContext, ref: str | None) -> Incident | None:
    if ref:
        found = service.get(ctx.engine, ref)
        if found is None:
            raise UsageError(f"There is no incident {ref.upper()}.")
        return found
    return service.in_thread(ctx.engine, inv.channel_id, inv.thread_ts)


def missing_reason(action: ActionKind, words: str, given: str | None, usage: str) -> str:
    """The ephemeral answer to a destructive command without a usable reason."""
    what = "has no reason" if given is None or not given.strip() else f"has too short a reason (`{given.strip()}`)"
    example = f"/{action.command} {words} --reason \"consumer fixed in 2.4.1\"".replace("  ", " ")
    return (f"This request {what}. Every destructive request says why, for the approvers and the audit trail: add "
            f"`--reason \"…\"`, for example `{example}`. Usage: `{usage}`")


def command(action: ActionKind) -> CommandSpec:
    """The slash command of `action`, as /ops help lists it and Slack sends it."""
    usage = f"/{action.command} {action.usage} {COMMON_USAGE}"
    return CommandSpec(name=action.command, summary=action.summary, usage=[usage],
                       handle=lambda inv, ctx: request(inv, ctx, action, usage))


def request(inv: Invocation, ctx: BotContext, action: ActionKind, usage: str) -> Deferred:
    a = args.parse(inv.text, Common, usage=usage, others="words")
    if not a.words and action.needs_words:
        raise UsageError(f"Usage: `{usage}`")
    incident = incident_for(inv, ctx, a.incident)
    cluster = kafka_cluster(ctx, a.cluster)
    if incident is None and ctx.settings.approvals.require_incident:
        raise UsageError("Destructive actions belong to an incident: run this in the incident's thread, or add "
                         "`--incident INC-…`.")
    if action.kind in ctx.settings.approvals.disabled.get(cluster, []):
        raise UsageError(f"`{action.command}` is switched off for cluster `{cluster}` by the configuration.")
    if rules.reason_problem(a.reason):
        raise UsageError(missing_reason(action, a.words, a.reason, usage))

    def run() -> Reply:
        actx = flow.action_context(ctx, inv.user_id, incident)
        try:
            plan = action.plan(actx, cluster, a.words)
        except (SpecError, ActionError) as exc:
            return problem(str(exc))
        req = flow.request_approval(ctx, plan, requester=inv.user_id, incident=incident, channel=inv.channel_id,
                                    why=(a.reason or "").strip())
        if plan.refused:
            return Reply(text=f"{req.id}: the dry run refuses this; the reasons are on the card.")
        if plan.nothing_to_do:
            return Reply(text=f"{req.id}: the dry run found nothing to do; the card says why.")
        chosen = flow.policy_of(ctx, plan)
        return Reply(text=f"{req.id} is waiting for {policy.needs(chosen)} from {flow.approvers_label(ctx, plan)}: "
                          "the dry-run plan is on the card.")

    return Deferred(run=run, ack=Reply(text="Planning a dry run…"))
