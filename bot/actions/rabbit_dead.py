"""A RabbitMQ replay's reading of dead letters: where each one goes back to (from
x-death, --to, or the parking queue of the loop guard), what its error says, how to
recognise the head of the queue, and the properties it is republished with."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pika.adapters.blocking_connection import BlockingConnection
from pika.spec import Basic, BasicProperties

from bot.actions.base import ActionContext
from bot.actions.replay_guard import parks, replay_count
from bot.actions.replay_spec import MARKER, pattern_of, split_error
from bot.probes.dlq_models import decode_text, parse_x_death

WINDOW_CAP = 65_535  # basic.qos prefetch-count is 16 bits: the most a replay can hold unacked
Delivery = tuple[Basic.Deliver, BasicProperties, bytes]


def progress_queue(replay_id: str) -> str:
    return f"incidentbot.replay.{replay_id}"


def route(headers: dict[str, Any] | None, to: str | None, to_kind: str | None, mode: str) -> tuple[str, str] | None:
    """(exchange, routing key) to send one dead letter to, or None when nothing says."""
    deaths = parse_x_death(headers)
    last = deaths[0] if deaths else None  # RabbitMQ keeps the most recent death first
    original_key = (last.routing_keys[0] if last.routing_keys else last.queue) if last else None
    if to is not None:
        if to_kind == "queue":
            return "", to
        return (to, original_key) if original_key is not None else None
    if last is None or not last.queue:
        return None
    if mode == "queue":
        return "", last.queue
    return last.exchange or "", original_key or last.queue


def describe(ctx: ActionContext, headers: dict[str, Any] | None) -> tuple[str, str | None, str | None]:
    """(pattern, error class, error message): an error header when the app set one, else
    why and where the message died ("rejected in orders")."""
    wanted = {h.lower() for h in ctx.clients.settings.dlq.error_headers}
    raw = next((v for k, v in (headers or {}).items() if k.lower() in wanted and v), None)
    cls, msg = split_error(decode_text(raw) if isinstance(raw, bytes) else (str(raw) if raw is not None else None))
    deaths = parse_x_death(headers)
    fallback = f"{deaths[0].reason} in {deaths[0].queue}" if deaths else "(no x-death)"
    return pattern_of(cls, msg, fallback), cls, msg


def fingerprint(props: BasicProperties, body: bytes) -> str:
    """Enough to tell one message from another at the head of the queue."""
    deaths = parse_x_death(props.headers)
    # The deaths counted and the replays carried tell a message that came back after a
    # replay from its earlier self: a new replay of it is a new plan, not one already done.
    parts = [body, str(props.message_id).encode(), str(props.timestamp).encode(), str(props.correlation_id).encode(),
             str(deaths[-1].time if deaths else None).encode(), str(sum(d.count for d in deaths)).encode(),
             str(replay_count(props.headers)).encode()]
    return hashlib.sha256(b"\x00".join(parts)).hexdigest()[:16]


def look(connection: BlockingConnection, queue: str, n: int, stall_s: float) -> list[Delivery]:
    """The first n messages of the queue, handed back in place: consumed without ack on
    a channel that is then closed (see bot.probes.rabbitmq on why closing keeps order)."""
    channel = connection.channel()
    got: list[Delivery] = []
    if n > 0:
        channel.basic_qos(prefetch_count=min(n, WINDOW_CAP))
        channel.basic_consume(queue, lambda _c, m, p, b: got.append((m, p, b)), auto_ack=False, exclusive=True)
        last, seen = time.monotonic(), 0
        while len(got) < n and time.monotonic() - last < stall_s:
            connection.process_data_events(time_limit=0.05)
            if len(got) != seen:
                last, seen = time.monotonic(), len(got)
    channel.close()
    return got[:n]


def route_text(r: tuple[str, str] | None) -> str:
    return "(unknown)" if r is None else f"queue {r[1]}" if r[0] == "" else f"exchange {r[0]} key {r[1]}"


def properties(props: BasicProperties, replay_id: str, username: str,
               count: tuple[str, int] | None = None) -> BasicProperties:
    """The message's own properties, plus the marker and (unless it is parked) the
    replay count `count` = (header, value). expiration was already moved into x-death by
    dead-lettering (restoring it could expire the message at once), and a user_id other
    than ours would be refused by the broker."""
    headers = {**(props.headers or {}), MARKER: replay_id}
    if count is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != count[0].lower()} | {count[0]: count[1]}
    return BasicProperties(
        content_type=props.content_type, content_encoding=props.content_encoding,
        headers=headers, delivery_mode=props.delivery_mode,
        priority=props.priority, correlation_id=props.correlation_id, reply_to=props.reply_to,
        message_id=props.message_id, timestamp=props.timestamp, type=props.type,
        user_id=props.user_id if props.user_id == username else None, app_id=props.app_id,
        cluster_id=props.cluster_id)


def target(headers: dict[str, Any] | None, details: dict[str, Any]) -> tuple[tuple[str, str] | None, bool]:
    """(exchange, routing key) for one dead letter, and whether it is parked: one that
    came back after the plan's max_replays replays goes to the parking queue instead."""
    limit = details.get("max_replays")  # absent in plans made before the guard: nothing parks
    if limit and parks(replay_count(headers, details["count_header"]), int(limit)):
        return ("", details["parking"]), True
    return route(headers, details["to"], details["to_kind"], details["route"]), False
