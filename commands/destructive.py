"""What every destructive command shares: it runs inside an incident (unless the
configuration allows otherwise), plans a dry run after the acknowledgement, and
posts the plan as an approval card for a second person."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.actions.base import ActionContext, ActionError, Plan
from bot.actions.reset_spec import SpecError
from bot.approvals import flow
from bot.incidents import service
from bot.incidents.model import Incident
from commands import args
from commands.base import Deferred, Invocation, Reply, UsageError
from commands.common import kafka_cluster, problem

if TYPE_CHECKING:
    from bot.app.context import BotContext

Planner = Callable[[ActionContext, str, str], Plan]  # (context, cluster, the rest of the text) -> plan


def take(words: list[str], flag: str) -> str | None:
    """Remove `--flag value` from words; the value, or None."""
    if flag not in words:
        return None
    at = words.index(flag)
    if at + 1 >= len(words):
        raise UsageError(f"`{flag}` needs a value.")
    value = words[at + 1]
    del words[at:at + 2]
    return value


def incident_for(inv: Invocation, ctx: BotContext, ref: str | None) -> Incident | None:
    if ref:
        found = service.get(ctx.engine, ref)
        if found is None:
            raise UsageError(f"There is no incident {ref.upper()}.")
        return found
    return service.in_thread(ctx.engine, inv.channel_id, inv.thread_ts)


def request(inv: Invocation, ctx: BotContext, *, kind: str, usage: str, planner: Planner,
            allow_empty: bool = False) -> Deferred:
    words = args.split(inv.text)
    incident = incident_for(inv, ctx, take(words, "--incident"))
    cluster = kafka_cluster(ctx, take(words, "--cluster"))
    if not words and not allow_empty:
        raise UsageError(f"Usage: `{usage}`")
    if incident is None and ctx.settings.approvals.require_incident:
        raise UsageError("Destructive actions belong to an incident: run this in the incident's thread, or add "
                         "`--incident INC-…`.")
    if kind in ctx.settings.approvals.disabled.get(cluster, []):
        raise UsageError(f"`{kind.replace('_', '-')}` is switched off for cluster `{cluster}` by the configuration.")
    rest = " ".join(f'"{w}"' if " " in w else w for w in words)

    def run() -> Reply:
        actx = flow.action_context(ctx, inv.user_id, incident)
        try:
            plan = planner(actx, cluster, rest)
        except (SpecError, ActionError) as exc:
            return problem(str(exc))
        req = flow.request_approval(ctx, plan, requester=inv.user_id, incident=incident, channel=inv.channel_id)
        if plan.refused:
            return Reply(text=f"{req.id}: the dry run refuses this; the reasons are on the card.")
        if plan.nothing_to_do:
            return Reply(text=f"{req.id}: the dry run found nothing to do; the card says why.")
        return Reply(text=f"{req.id} is waiting for a second person from {flow.approvers_label(ctx)}: "
                          "the dry-run plan is on the card.")

    return Deferred(run=run, ack=Reply(text="Planning a dry run…"))
