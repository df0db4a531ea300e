"""RabbitMQ queues and their dead-letter queues: depth, rates, arguments, and a look
at the messages at the head of the queue without losing or reordering them.

Depth comes from the management HTTP API; when that is down (refused, timed out,
5xx) a passive AMQP queue.declare still gives the ready and consumer counts.

Sampling uses AMQP basic.get without acknowledging, then closes the channel, which
hands every unacknowledged message back. Verified on RabbitMQ 3.10:
- classic queues put them back at their original positions (only the redelivered
  flag changes), whether the channel is closed or the messages are nacked;
- quorum queues keep the order only when the channel is closed: basic.nack with
  requeue=true moves the messages to the BACK of the queue (when no delivery-limit
  is set), and the management API's "reject_requeue_true" does the same;
- quorum queues count every such return as a delivery attempt (x-delivery-count),
  so with a delivery-limit a few looks drop or dead-letter the messages looked at.
  Quorum queues with a delivery-limit, and all quorum queues on RabbitMQ 4+ (where
  a limit of 20 is the default), are therefore never sampled; streams cannot be.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import requests

from bot.config import DlqSettings
from bot.probes.clients import Clients
from bot.probes.dlq_models import (
    REPLAY_HEADER,
    QueueSnapshot,
    QueueSummary,
    RabbitMessage,
    decode_text,
    group_deaths,
    growth_per_minute,
    parse_x_death,
    preview,
    replay_count,
)

# Names people give dead-letter queues; used only when no DLX binding says so.
# RabbitMQ has no naming rule for dead-letter queues, only habits: orders.dlq, orders-dlq,
# dlq.orders, orders_dlx, orders.dead, orders.dead-letter, parking-lot. The alert
# routing reads names with the same rule, so a queue routed to the DLQ runbook is one
# /dlq lists.
DLQ_NAME = re.compile(r"(^|[._:-])(dlq|dlx|dead|dead[._-]?letters?|deadletters?|parking[._-]?lot)([._:-]|$)", re.I)
_DEATH_HEADERS = ("x-death", "x-first-death-reason", "x-first-death-queue", "x-first-death-exchange",
                  "x-last-death-reason", "x-last-death-queue", "x-last-death-exchange")


class QueueNotFound(LookupError):
    def __init__(self, name: str, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = suggestions


class RabbitUnavailable(Exception):
    """Neither the management API nor AMQP answered; the message says what each said."""


class ManagementDown(Exception):
    """The management API could not answer (refused, timed out, 5xx): fall back to AMQP."""


# ---------------------------------------------------------------- management API


def management_get(clients: Clients, cluster: str, path: str) -> Any:
    """GET one management API path as JSON; None for 404. Raises ManagementDown for
    what AMQP can stand in for, RabbitUnavailable for what it cannot (bad credentials)."""
    rabbit = clients.settings.rabbitmq[cluster]
    try:
        response = clients.rabbit_http(cluster).get(f"{rabbit.management_url}/api/{path}",
                                                    timeout=rabbit.request_timeout_s)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ManagementDown(f"the management API at {rabbit.management_url} did not answer "
                              f"({type(exc).__name__})") from exc
    if response.status_code == 404:
        return None
    if response.status_code >= 500:
        raise ManagementDown(f"the management API answered HTTP {response.status_code}")
    if response.status_code in (401, 403):
        raise RabbitUnavailable(f"The RabbitMQ management API refused user {rabbit.username} "
                                f"(HTTP {response.status_code}): check rabbitmq.{cluster}.username/password "
                                f"and that the user has the monitoring tag.")
    response.raise_for_status()
    try:
        return response.json()
    except requests.JSONDecodeError as exc:
        raise ManagementDown("the management API answered with something that is not JSON") from exc


def _rate(stats: dict[str, Any], key: str) -> float | None:
    details = stats.get(f"{key}_details")
    return float(details["rate"]) if isinstance(details, dict) and "rate" in details else None


def _dead_letter_target(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """Where the queue dead-letters to: its arguments win over a policy, as in RabbitMQ."""
    args = data.get("arguments") or {}
    policy = data.get("effective_policy_definition") or {}
    if not isinstance(policy, dict):  # older versions send [] for "no policy"
        policy = {}
    exchange = args.get("x-dead-letter-exchange", policy.get("dead-letter-exchange"))
    key = args.get("x-dead-letter-routing-key", policy.get("dead-letter-routing-key"))
    return exchange, key


def parse_queue(data: dict[str, Any]) -> dict[str, Any]:
    """QueueSnapshot fields from one management API queue object (GET /api/queues/...)."""
    stats = data.get("message_stats") or {}
    exchange, key = _dead_letter_target(data)
    return {
        "vhost": data.get("vhost", "/"), "name": data["name"], "type": data.get("type"),
        "state": data.get("state"), "messages_ready": int(data.get("messages_ready") or 0),
        "messages_unacknowledged": _int(data.get("messages_unacknowledged")),
        "messages": _int(data.get("messages")), "consumers": int(data.get("consumers") or 0),
        "publish_rate": _rate(stats, "publish"), "deliver_rate": _rate(stats, "deliver_get"),
        "arguments": dict(data.get("arguments") or {}),
        "dead_letter_exchange": exchange, "dead_letter_routing_key": key,
    }


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def list_queues(clients: Clients, cluster: str) -> list[QueueSummary]:
    """Every queue of the configured vhost, for discovery and "did you mean".
    Raises RabbitUnavailable when the management API cannot be read."""
    try:
        return [_summary(q) for q in _list_raw(clients, cluster)]
    except ManagementDown as exc:
        raise RabbitUnavailable(f"Cannot list queues: {exc}.") from exc


def _list_raw(clients: Clients, cluster: str, columns: str | None = None) -> list[dict[str, Any]]:
    """The vhost's queues; ``columns`` keeps the answer small on brokers with thousands."""
    vhost = quote(clients.settings.rabbitmq[cluster].vhost, safe="")
    query = f"?columns={columns}" if columns else ""
    return list(management_get(clients, cluster, f"queues/{vhost}{query}") or [])


def _summary(data: dict[str, Any]) -> QueueSummary:
    return QueueSummary(vhost=data.get("vhost", "/"), name=data["name"], messages=_int(data.get("messages")),
                        consumers=_int(data.get("consumers")), dead_letter_exchange=_dead_letter_target(data)[0])


def dead_letter_map(clients: Clients, cluster: str, queues: list[dict[str, Any]]) -> dict[str, list[str]]:
    """DLQ name -> the queues that dead-letter into it, following each DLX's bindings
    (and the default exchange, where the dead-letter routing key is the queue name)."""
    by_exchange: dict[str, list[dict[str, Any]]] = {}
    for q in queues:
        exchange, _ = _dead_letter_target(q)
        if exchange is not None:
            by_exchange.setdefault(exchange, []).append(q)
    vhost = quote(clients.settings.rabbitmq[cluster].vhost, safe="")
    found: dict[str, list[str]] = {}
    for exchange, sources in by_exchange.items():
        if exchange == "":
            for q in sources:
                target = _dead_letter_target(q)[1] or q["name"]
                found.setdefault(target, []).append(q["name"])
            continue
        bindings = management_get(clients, cluster, f"exchanges/{vhost}/{quote(exchange, safe='')}/bindings/source") or []
        for binding in bindings:
            if binding.get("destination_type") == "queue":
                keys = {binding.get("routing_key", "")}
                found.setdefault(binding["destination"], []).extend(
                    q["name"] for q in sources if _may_route(_dead_letter_target(q)[1], keys))
    return {k: sorted(set(v)) for k, v in found.items()}


def dead_letter_sources(clients: Clients, cluster: str, name: str) -> list[str]:
    """The queues that dead-letter into ``name``: two requests (its bindings, and the
    queues' arguments), however many DLX exchanges the vhost has. Approximate for
    topic exchanges: a binding pattern other than "#" is taken to match."""
    vhost = quote(clients.settings.rabbitmq[cluster].vhost, safe="")
    bindings = management_get(clients, cluster, f"queues/{vhost}/{quote(name, safe='')}/bindings") or []
    bound: dict[str, set[str]] = {}
    for binding in bindings:
        if binding.get("source"):  # "" is the default exchange's implicit binding
            bound.setdefault(binding["source"], set()).add(binding.get("routing_key", ""))
    sources = []
    for q in _list_raw(clients, cluster, "name,arguments,effective_policy_definition"):
        exchange, key = _dead_letter_target(q)
        if exchange == "":
            if (key or q["name"]) == name:
                sources.append(q["name"])
        elif exchange in bound and _may_route(key, bound[exchange]):
            sources.append(q["name"])
    return sorted(sources)


def _may_route(dead_letter_key: str | None, binding_keys: set[str]) -> bool:
    """Whether a dead letter sent with ``dead_letter_key`` can follow one of these
    bindings. Without a key the message keeps its original routing keys, which only
    the messages know, so it may; fanout bindings ("") and patterns are taken to match."""
    if dead_letter_key is None:
        return True
    return dead_letter_key in binding_keys or any(k == "" or "*" in k or "#" in k for k in binding_keys)


# ---------------------------------------------------------------- messages (pure)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return decode_text(value) if isinstance(value, bytes) else str(value)


def describe_message(body: bytes, headers: dict[str, Any] | None, *, redelivered: bool,
                     routing_key: str | None, exchange: str | None, message_id: str | None,
                     timestamp: int | None, dlq: DlqSettings, replay_header: str = REPLAY_HEADER) -> RabbitMessage:
    headers = headers or {}
    wanted = {h.lower() for h in dlq.error_headers}
    error = next((_text(v) for k, v in headers.items() if k.lower() in wanted and v), None)
    shown = {k: (_text(v) or "")[: dlq.preview_chars] for k, v in headers.items()
             if k not in _DEATH_HEADERS and "stacktrace" not in k.lower()}
    return RabbitMessage(
        size=len(body), preview=preview(body, dlq.preview_chars), redelivered=redelivered,
        routing_key=routing_key, exchange=exchange, message_id=message_id,
        timestamp=datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None,
        deaths=parse_x_death(headers),
        first_death_reason=_text(headers.get("x-first-death-reason")),
        first_death_queue=_text(headers.get("x-first-death-queue")),
        first_death_exchange=_text(headers.get("x-first-death-exchange")),
        error_message=error.strip().splitlines()[0][: dlq.preview_chars] if error and error.strip() else None,
        headers=shown, replays=replay_count(headers, replay_header),
    )


def sampling_blocker(queue_type: str | None, arguments: dict[str, Any], broker_version: str | None) -> str | None:
    """Why sampling this queue could change it, or None when a look is harmless."""
    if queue_type == "stream":
        return "Streams cannot be sampled with basic.get; read them with a stream consumer."
    if queue_type == "quorum":
        limit = arguments.get("x-delivery-limit")
        major = int(broker_version.split(".")[0]) if broker_version and broker_version[0].isdigit() else 0
        if limit is not None or major >= 4:
            shown = limit if limit is not None else "20 (the default since RabbitMQ 4)"
            return (f"Not sampled: this quorum queue has a delivery limit of {shown}, and every look "
                    f"counts as a delivery attempt, so sampling could drop or dead-letter messages.")
    return None


# ---------------------------------------------------------------- AMQP


def _amqp_depth(clients: Clients, cluster: str, name: str, why: str) -> dict[str, Any]:
    try:
        connection = clients.amqp(cluster)
    except pika.exceptions.AMQPError as exc:
        raise RabbitUnavailable(f"RabbitMQ cannot be read: {why}, and AMQP failed too ({type(exc).__name__}).") from exc
    try:
        ok = connection.channel().queue_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            raise QueueNotFound(name, f"No queue named {name} in vhost "
                                      f"{clients.settings.rabbitmq[cluster].vhost}.", []) from exc
        raise RabbitUnavailable(f"RabbitMQ refused to describe queue {name}: {exc.reply_text} "
                                f"({why}).") from exc
    except pika.exceptions.AMQPError as exc:
        raise RabbitUnavailable(f"RabbitMQ cannot be read: {why}, and AMQP failed too "
                                f"({type(exc).__name__}).") from exc
    finally:
        if connection.is_open:
            connection.close()
    return {"messages_ready": ok.method.message_count, "consumers": ok.method.consumer_count,
            "source": "amqp-fallback",
            "note": f"Only the ready count and consumers are known: {why}, so this comes from AMQP."}


def sample_head(clients: Clients, cluster: str, name: str, n: int, dlq: DlqSettings,
                queue_type: str | None, arguments: dict[str, Any],
                replay_header: str = REPLAY_HEADER) -> tuple[list[RabbitMessage], str | None]:
    """Up to ``n`` messages from the head of the queue (oldest first), all handed back
    in their original order, and a sentence when sampling was skipped or cut short."""
    if n <= 0:
        return [], None
    try:
        connection = clients.amqp(cluster)
    except pika.exceptions.AMQPError as exc:
        return [], f"Messages not sampled: AMQP connection failed ({type(exc).__name__})."
    try:
        version = _text((connection._impl.server_properties or {}).get("version"))
        blocker = sampling_blocker(queue_type, arguments, version)
        if blocker:
            return [], blocker
        channel = connection.channel()
        samples: list[RabbitMessage] = []
        try:
            for _ in range(n):
                method, props, body = channel.basic_get(name, auto_ack=False)
                if method is None:
                    break
                samples.append(describe_message(
                    body, props.headers, redelivered=method.redelivered, routing_key=method.routing_key,
                    exchange=method.exchange, message_id=props.message_id, timestamp=props.timestamp, dlq=dlq,
                    replay_header=replay_header))
        except pika.exceptions.ChannelClosedByBroker as exc:
            return samples, f"Sampling stopped: RabbitMQ closed the channel ({exc.reply_code} {exc.reply_text})."
        except pika.exceptions.AMQPError as exc:
            # The broker requeues whatever a lost connection held, in order.
            return samples, f"Sampling stopped: the AMQP connection failed ({type(exc).__name__})."
        # No ack and no nack: closing the channel is the one return path that keeps
        # the order on both classic and quorum queues (see the module docstring).
        channel.close()
        return samples, None
    finally:
        if connection.is_open:
            connection.close()


# ---------------------------------------------------------------- the probe


def rabbit_queue_snapshot(clients: Clients, cluster: str, name: str, *, sample_size: int | None = 0,
                          previous: tuple[int, datetime] | None = None) -> QueueSnapshot:
    """One queue's depth, rates and arguments, and optionally its head messages.

    ``sample_size`` None means dlq.sample_size; 0 skips sampling. ``previous`` is an
    earlier ``(snapshot.depth, snapshot.taken_at)`` for growth per minute. Raises
    QueueNotFound (with close matches when the API can list queues) and RabbitUnavailable.
    """
    settings = clients.settings
    vhost = settings.rabbitmq[cluster].vhost
    fields: dict[str, Any]
    sources: list[str] = []
    try:
        data = management_get(clients, cluster, f"queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
        if data is None:
            names = [q["name"] for q in _list_raw(clients, cluster, "name")]
            suggestions = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise QueueNotFound(name, f"No queue named {name} in vhost {vhost}.{hint}", suggestions)
        if "messages_ready" not in data:
            # A queue the stats collector has not reported yet: counts are unknown, not 0.
            fields = {**parse_queue(data), **_amqp_depth(clients, cluster, name, "the management API has no "
                                                          "figures for this queue yet")}
        else:
            fields = {**parse_queue(data), "source": "management"}
        sources = dead_letter_sources(clients, cluster, name)
    except ManagementDown as exc:
        fields = {"vhost": vhost, "name": name, **_amqp_depth(clients, cluster, name, str(exc))}
    snapshot = QueueSnapshot(cluster=cluster, taken_at=datetime.now(UTC), **fields)
    snapshot.dead_letter_sources = sources
    snapshot.is_dead_letter_queue = bool(sources) or bool(DLQ_NAME.search(name))
    if previous is not None:
        snapshot.window_seconds = (snapshot.taken_at - previous[1]).total_seconds()
        snapshot.growth_per_minute = growth_per_minute(previous, (snapshot.depth, snapshot.taken_at))
    n = settings.dlq.sample_size if sample_size is None else sample_size
    snapshot.samples, skipped = sample_head(clients, cluster, name, n, settings.dlq, snapshot.type, snapshot.arguments,
                                            settings.dlq_hygiene.replay_count_header)
    snapshot.death_groups = group_deaths(snapshot.samples)
    if skipped:
        snapshot.note = f"{snapshot.note} {skipped}" if snapshot.note else skipped
    return snapshot


def rabbit_dead_letter_queues(clients: Clients, cluster: str) -> list[QueueSnapshot]:
    """Every dead-letter queue of the configured vhost (by DLX binding or by name),
    without samples: the overview for a bare /dlq. Raises RabbitUnavailable."""
    try:
        raw = _list_raw(clients, cluster)
        targets = dead_letter_map(clients, cluster, raw)
    except ManagementDown as exc:
        raise RabbitUnavailable(f"Cannot list dead-letter queues: {exc}.") from exc
    taken_at = datetime.now(UTC)
    found = []
    for q in raw:
        if q["name"] in targets or DLQ_NAME.search(q["name"]):
            snapshot = QueueSnapshot(cluster=cluster, taken_at=taken_at, source="management", **parse_queue(q))
            snapshot.dead_letter_sources = targets.get(q["name"], [])
            snapshot.is_dead_letter_queue = True
            found.append(snapshot)
    return sorted(found, key=lambda s: s.name)
