"""`/export-offsets <group>`: save the group's committed offsets as a restore point
now (read-only: no approval), attached as Kafka's --export CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.actions import restore_points
from bot.actions.base import ActionError
from bot.approvals import flow
from bot.chat import Attachment, Place
from bot.text import plural
from commands import args, destructive
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import kafka_cluster, problem

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = f"/export-offsets <group> {destructive.COMMON_USAGE}"


class ExportArgs(BaseModel):
    group: str | None = None
    cluster: str | None = None
    incident: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, ExportArgs, positional=["group"], usage=USAGE)
    if not a.group:
        raise UsageError(f"Name one consumer group. Usage: `{USAGE}`")
    group = a.group
    incident = destructive.incident_for(inv, ctx, a.incident)
    cluster = kafka_cluster(ctx, a.cluster)

    def run() -> Reply:
        try:
            point = restore_points.export_offsets(flow.action_context(ctx, inv.user_id, incident), cluster, group)
        except ActionError as exc:
            return problem(str(exc))
        channel = incident.channel if incident and incident.channel else inv.channel_id
        partitions = plural(len(point.offsets), "partition")
        ctx.chat.upload(Place(channel, incident.thread_ts if incident else None), Attachment(
            filename=f"{point.id}-{point.group}.csv", content=point.csv,
            title=f"Committed offsets of {point.group} ({point.id})",
            comment=f"Restore point {point.id} of `{point.group}`: {partitions}. "
                    f"`/restore-offsets {point.id} --reason \"…\"` puts them back, with approval."))
        return Reply(text=f"Saved restore point {point.id} of `{point.group}` ({partitions}).")

    return Deferred(run=run, ack=Reply(text=f"Reading the committed offsets of `{group}`…"))


SPEC = CommandSpec(name="export-offsets", summary="save a group's committed offsets as a restore point (CSV)",
                   usage=[USAGE], handle=handle)
