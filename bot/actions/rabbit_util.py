"""RabbitMQ helpers the actions share: management API reads with a timeout, exact
AMQP queue counts, and whether an (exchange, routing key) reaches any queue."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import requests
from pika.adapters.blocking_connection import BlockingConnection

from bot.actions.base import ActionContext, ActionError
from bot.probes import rabbitmq


def mgmt(ctx: ActionContext, cluster: str, path: str) -> Any:
    """GET /api/<path> as JSON; None for 404; ActionError for anything else that fails."""
    try:
        return rabbitmq.management_get(ctx.clients, cluster, path)
    except (rabbitmq.ManagementDown, rabbitmq.RabbitUnavailable, requests.HTTPError) as exc:
        raise ActionError(f"The RabbitMQ management API could not answer for {path}: {exc}.") from None


def vhost_path(ctx: ActionContext, cluster: str, *names: str) -> str:
    return "/".join(quote(n, safe="") for n in (ctx.clients.settings.rabbitmq[cluster].vhost, *names))


def connect(ctx: ActionContext, cluster: str) -> BlockingConnection:
    try:
        return ctx.clients.amqp(cluster)
    except pika.exceptions.AMQPError as exc:
        raise ActionError(f"Could not open an AMQP connection to RabbitMQ {cluster} ({type(exc).__name__}).") from None


def queue_counts(connection: BlockingConnection, queue: str) -> tuple[int, int] | None:
    """(ready messages, consumers) from a passive declare, exact at this instant (the
    management API's figures can be seconds old); None when the queue does not exist."""
    channel = connection.channel()
    try:
        ok = channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            return None
        raise ActionError(f"RabbitMQ refused to describe queue {queue}: {exc.reply_text}.") from None
    channel.close()
    return ok.method.message_count, ok.method.consumer_count


def topic_match(pattern: str, key: str) -> bool:
    """AMQP topic matching: * is one word, # is zero or more."""
    words = pattern.split(".")
    regex = ""
    for i, word in enumerate(words):
        sep = r"\." if i else ""
        if word == "#":
            regex += r"(?:\.?.*)?" if i else r"(?:.*)?"
        elif word == "*":
            regex += sep + r"[^.]+"
        else:
            regex += sep + re.escape(word)
    return re.fullmatch(regex, key) is not None


def routes_somewhere(ctx: ActionContext, cluster: str, exchange: str, routing_key: str) -> str | None:
    """None when a message published to (exchange, routing_key) reaches at least one
    queue; otherwise a sentence saying why not. Headers exchanges are assumed to route
    (their match depends on each message's headers)."""
    if exchange == "":
        if mgmt(ctx, cluster, f"queues/{vhost_path(ctx, cluster, routing_key)}") is None:
            return f"There is no queue {routing_key} to send messages back to."
        return None
    info = mgmt(ctx, cluster, f"exchanges/{vhost_path(ctx, cluster, exchange)}")
    if info is None:
        return f"There is no exchange {exchange}."
    bindings = mgmt(ctx, cluster, f"exchanges/{vhost_path(ctx, cluster, exchange)}/bindings/source") or []
    kind = info.get("type")
    keys = [b.get("routing_key", "") for b in bindings]
    if not bindings:
        return f"Exchange {exchange} has no bindings: messages sent there would be dropped."
    if kind in ("fanout", "headers") or (kind == "direct" and routing_key in keys) or (
            kind == "topic" and any(topic_match(k, routing_key) for k in keys)):
        return None
    if kind not in ("direct", "topic"):
        return None  # plugin exchange types (consistent hash, delayed): trust them
    return f"Exchange {exchange} has no binding for routing key {routing_key!r}: messages would be dropped."
