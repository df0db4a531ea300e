"""Which broker a DLQ name means: /replay-dlq and /purge-dlq take a bare name."""

from __future__ import annotations

from typing import Literal

from bot.actions.base import ActionContext, ActionError
from bot.actions.kafka_util import topic_partitions
from bot.actions.rabbit_util import mgmt, vhost_path


def which_broker(ctx: ActionContext, cluster: str, name: str) -> Literal["kafka", "rabbitmq"]:
    """"kafka" when ``name`` is a topic of the Kafka cluster, "rabbitmq" when it is a
    queue of the RabbitMQ one; ActionError when it is neither, or both."""
    settings = ctx.clients.settings
    in_kafka = cluster in settings.kafka and name in topic_partitions(
        ctx.clients.kafka_admin(cluster), settings.kafka[cluster].request_timeout_s)
    in_rabbit = (cluster in settings.rabbitmq
                 and mgmt(ctx, cluster, f"queues/{vhost_path(ctx, cluster, name)}") is not None)
    if in_kafka and in_rabbit:
        raise ActionError(f"{name} is both a Kafka topic and a RabbitMQ queue on {cluster}: add --broker kafka "
                          f"or --broker rabbitmq.")
    if not (in_kafka or in_rabbit):
        raise ActionError(f"There is no Kafka topic or RabbitMQ queue named {name} on {cluster}.")
    return "kafka" if in_kafka else "rabbitmq"


def check_cluster(ctx: ActionContext, cluster: str, broker: str) -> None:
    configured = ctx.clients.settings.kafka if broker == "kafka" else ctx.clients.settings.rabbitmq
    if cluster not in configured:
        label = "Kafka" if broker == "kafka" else "RabbitMQ"
        raise ActionError(f"No {label} cluster named {cluster} is configured.")
