"""`/export-offsets <group>`: save the group's committed offsets as a restore point
now (read-only: no approval), attached as Kafka's --export CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions import restore_points
from bot.actions.base import ActionError
from bot.approvals import flow
from bot.text import plural
from commands import args, destructive
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import kafka_cluster, problem

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/export-offsets <group> [--cluster NAME] [--incident ID]"


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    words = args.split(inv.text)
    incident = destructive.incident_for(inv, ctx, destructive.take(words, "--incident"))
    cluster = kafka_cluster(ctx, destructive.take(words, "--cluster"))
    if len(words) != 1:
        raise UsageError(f"Name one consumer group. Usage: `{USAGE}`")

    def run() -> Reply:
        try:
            point = restore_points.export_offsets(flow.action_context(ctx, inv.user_id, incident), cluster, words[0])
        except ActionError as exc:
            return problem(str(exc))
        channel = incident.channel if incident and incident.channel else inv.channel_id
        partitions = plural(len(point.offsets), 'partition')
        ctx.slack.files_upload_v2(channel=channel, thread_ts=incident.thread_ts if incident else None,
                                  content=point.csv, filename=f"{point.id}-{point.group}.csv",
                                  title=f"Committed offsets of {point.group} ({point.id})",
                                  initial_comment=f"Restore point {point.id} of `{point.group}`: "
                                                  f"{partitions}. `/restore-offsets {point.id}` "
                                                  "puts them back, with approval.")
        return Reply(text=f"Saved restore point {point.id} of `{point.group}` ({partitions}).")

    return Deferred(run=run, ack=Reply(text=f"Reading the committed offsets of `{words[0]}`…"))


SPEC = CommandSpec(name="export-offsets", summary="save a group's committed offsets as a restore point (CSV)",
                   usage=[USAGE], handle=handle)
