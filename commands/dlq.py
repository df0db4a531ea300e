"""`/dlq [topic-or-queue] [--sample N]`: DLQ depth, growth, error patterns and the
newest (Kafka) or oldest (RabbitMQ) messages, sampled without consuming them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from pydantic import BaseModel, Field

from bot.evidence import dlq
from bot.probes import kafka_dlq, rabbitmq
from bot.reports import dlq as render_dlq
from commands import args, common
from commands.base import CommandSpec, Deferred, Invocation, Reply

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/dlq [topic-or-queue] [--sample N] [--cluster NAME] [--rabbit NAME]"


class DlqArgs(BaseModel):
    name: str | None = None
    sample: int | None = Field(None, ge=1, le=100)
    cluster: str | None = None
    rabbit: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, DlqArgs, positional=["name"], usage=USAGE)
    cluster = common.kafka_cluster(ctx, a.cluster)
    rabbit = common.rabbit_cluster(ctx, a.rabbit)
    bootstrap = ctx.settings.kafka[cluster].bootstrap_servers
    t = ctx.settings.thresholds

    def one(name: str) -> Reply:
        close: set[str] = set()
        kafka_problem = ""
        try:
            found = dlq.kafka_dlqs(ctx.clients, ctx.engine, t, cluster=cluster, name=name, sample_size=a.sample)
        except kafka_dlq.DlqNotFound as missing:
            close.update(missing.suggestions)
        except KafkaException as exc:
            kafka_problem = f"Kafka `{cluster}` could not be read ({dlq.kafka_error(exc)}). "
        else:
            if len(found) == 1:
                return common.report_reply(render_dlq.kafka_dlq_report(found[0], bootstrap))
            return common.report_reply(render_dlq.overview_report(found, [], [], datetime.now(timezone.utc), bootstrap))
        try:
            queue = dlq.rabbit_queue(ctx.clients, ctx.engine, t, cluster=rabbit, name=name, sample_size=a.sample)
        except rabbitmq.QueueNotFound as missing:
            close.update(missing.suggestions)
            hint = f" Did you mean {', '.join(f'`{c}`' for c in sorted(close))}?" if close else ""
            return common.problem(f"{kafka_problem}No Kafka DLQ topic or RabbitMQ queue named `{name}`.{hint}")
        except rabbitmq.RabbitUnavailable as exc:
            kafka_side = kafka_problem or f"`{name}` is no Kafka DLQ here, and "
            return common.problem(f"{kafka_side}RabbitMQ `{rabbit}` is unavailable: {exc}")
        report = render_dlq.rabbit_queue_report(queue)
        if kafka_problem:
            # Found in RabbitMQ; the person should still know Kafka was not looked at.
            report.notes.insert(0, f"{kafka_problem}A Kafka DLQ named `{name}` was not looked for.")
        return common.report_reply(report)

    def overview() -> Reply:
        found = dlq.overview(ctx.clients, ctx.engine, t, kafka_cluster=cluster, rabbit_cluster=rabbit)
        return common.report_reply(render_dlq.overview_report(found.kafka, found.rabbit, found.unseen,
                                                              datetime.now(timezone.utc), bootstrap,
                                                              saw_anything=found.saw_anything))

    what = f"`{a.name}`" if a.name else "every dead-letter queue"
    return Deferred(run=(lambda: one(a.name)) if a.name else overview, ack=Reply(text=f"Looking at {what}…"))


SPEC = CommandSpec(
    name="dlq",
    summary="dead-letter queues: depth, growth, error patterns and sampled messages (Kafka and RabbitMQ)",
    usage=[USAGE, "/dlq orders.dlq --sample 20"],
    handle=handle,
    shared=True,
)
