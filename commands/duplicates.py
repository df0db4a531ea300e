"""`/duplicates <topic> [--key header:<name> | --key json:<path> | --key message-key]
[--window 1h]`: event ids that arrived more than once in a time window of a topic."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from pydantic import BaseModel

from bot.actions.base import ActionError
from bot.digests import duplicates
from bot.evidence.dlq import kafka_error
from commands import args
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import kafka_cluster, problem, report_reply

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = f"/duplicates <topic> [--key {duplicates.KEY_SHAPES}] [--window 1h] [--cluster NAME]"


class DuplicatesArgs(BaseModel):
    topic: str | None = None
    key: str | None = None
    window: str | None = None
    cluster: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, DuplicatesArgs, positional=["topic"], usage=USAGE)
    if not a.topic:
        raise UsageError(f"Name one topic. Usage: `{USAGE}`")
    try:
        key = duplicates.parse_key(a.key)
        window = duplicates.parse_window(a.window)
    except duplicates.BadKey as exc:
        raise UsageError(f"{exc} Usage: `{USAGE}`") from None
    cluster = kafka_cluster(ctx, a.cluster)
    topic = a.topic

    def run() -> Reply:
        now = datetime.now(timezone.utc)
        try:
            found = duplicates.scan(ctx.settings.kafka[cluster], ctx.clients.kafka_admin(cluster), topic, key, window,
                                    ctx.settings.digests.duplicates_max_messages, now)
        except LookupError as exc:
            return problem(str(exc))
        except KafkaException as exc:
            return problem(f"Kafka `{cluster}` could not be read: {kafka_error(exc)}.")
        except ActionError as exc:
            return problem(str(exc))
        return report_reply(duplicates.report(found, window, now))

    return Deferred(run=run, ack=Reply(text=f"Reading `{topic}` for repeated {key.label} values…"))


SPEC = CommandSpec(name="duplicates", summary="event ids that arrived more than once in a window of a topic",
                   usage=[USAGE], handle=handle)
