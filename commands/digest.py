"""`/digest daily|weekly|monthly|quarterly`: the digest now, posted where it was asked
(the summary, its sections in the thread, the charts beside them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.chat import Place
from bot.digests import run
from bot.digests.schedule import KINDS
from commands import args
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import kafka_cluster

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/digest daily|weekly|monthly|quarterly [--cluster NAME]"


class DigestArgs(BaseModel):
    kind: str | None = None
    cluster: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, DigestArgs, positional=["kind"], usage=USAGE)
    if a.kind not in KINDS:
        said = f"`{a.kind}` is not a digest. " if a.kind else ""
        raise UsageError(f"{said}Usage: `{USAGE}`")
    kind = a.kind
    cluster = kafka_cluster(ctx, a.cluster)

    def work() -> Reply:
        posted = run.publish(ctx, kind, Place(inv.channel_id, inv.thread_ts), cluster)
        return Reply(text=f"The {kind} digest is posted: {ctx.chat.link(posted)}")

    return Deferred(run=work, ack=Reply(text=f"Building the {kind} digest of `{cluster}`…"))


SPEC = CommandSpec(name="digest", summary="the daily, weekly, monthly or quarterly digest, now",
                   usage=[USAGE], handle=handle)
