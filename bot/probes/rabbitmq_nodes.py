"""RabbitMQ node health through the management HTTP API, with an AMQP fallback.

When the management API cannot be read, an AMQP connection still tells whether the
broker accepts clients; the snapshot then says that only reachability is known.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pika.exceptions
import requests
from pydantic import BaseModel, Field

from bot.probes.clients import Clients


class RabbitNode(BaseModel):
    name: str
    running: bool
    # A stopped cluster member is listed with its name and running=false only, so
    # every measurement may be missing.
    mem_used: int | None = None
    mem_limit: int | None = None
    mem_alarm: bool = False
    disk_free: int | None = None
    disk_free_limit: int | None = None
    disk_free_alarm: bool = False
    fd_used: int | None = None
    fd_total: int | None = None

    @property
    def fd_percent(self) -> float | None:
        return _percent(self.fd_used, self.fd_total)


class RabbitAlarm(BaseModel):
    node: str
    resource: str  # "memory", "disk space", "file descriptors"


class HealthCheck(BaseModel):
    """One /api/health/checks/... endpoint: 200 passes, 503 fails with a reason."""

    name: str  # the path after /api/health/checks/
    ok: bool | None  # None: could not be evaluated (request failed, endpoint missing)
    status_code: int | None = None
    reason: str | None = None
    alarms: list[RabbitAlarm] = Field(default_factory=list)


class RabbitOverview(BaseModel):
    rabbitmq_version: str | None = None
    node: str | None = None  # the node that answered the API
    connections: int | None = None
    channels: int | None = None
    queues: int | None = None
    consumers: int | None = None
    messages: int | None = None
    messages_ready: int | None = None
    messages_unacknowledged: int | None = None
    publish_rate: float | None = None  # messages per second, as the API averages it
    deliver_rate: float | None = None


class AmqpReachability(BaseModel):
    host: str
    port: int
    connected: bool
    product: str | None = None
    version: str | None = None
    error: str | None = None


class RabbitNodesSnapshot(BaseModel):
    cluster: str  # the configured name
    taken_at: datetime  # UTC
    management_url: str
    management_ok: bool  # overview and nodes were both read
    management_error: str | None = None
    overview: RabbitOverview | None = None
    nodes: list[RabbitNode] = Field(default_factory=list)
    checks: list[HealthCheck] = Field(default_factory=list)
    amqp: AmqpReachability | None = None  # only filled in when the management API failed
    elapsed_ms: float = 0.0

    @property
    def alarms(self) -> list[RabbitAlarm]:
        """Alarms reported by the health checks, without duplicates."""
        seen: dict[tuple[str, str], RabbitAlarm] = {}
        for check in self.checks:
            for alarm in check.alarms:
                seen.setdefault((alarm.node, alarm.resource), alarm)
        return list(seen.values())

    @property
    def connections(self) -> int | None:
        return self.overview.connections if self.overview else None


def _percent(used: int | None, total: int | None) -> float | None:
    return 100.0 * used / total if used is not None and total else None


# --- parsing the management API's JSON (pure) ------------------------------------


def _rate(stats: dict[str, Any], key: str) -> float | None:
    details = stats.get(f"{key}_details")
    return float(details["rate"]) if isinstance(details, dict) and "rate" in details else None


def parse_overview(data: dict[str, Any]) -> RabbitOverview:
    totals = data.get("object_totals") or {}
    queued = data.get("queue_totals") or {}
    stats = data.get("message_stats") or {}
    return RabbitOverview(
        rabbitmq_version=data.get("rabbitmq_version"),
        node=data.get("node"),
        connections=totals.get("connections"),
        channels=totals.get("channels"),
        queues=totals.get("queues"),
        consumers=totals.get("consumers"),
        messages=queued.get("messages"),
        messages_ready=queued.get("messages_ready"),
        messages_unacknowledged=queued.get("messages_unacknowledged"),
        publish_rate=_rate(stats, "publish"),
        deliver_rate=_rate(stats, "deliver_get"),
    )


def parse_nodes(data: list[dict[str, Any]]) -> list[RabbitNode]:
    return [
        RabbitNode(
            name=n["name"], running=bool(n.get("running", False)),
            mem_used=n.get("mem_used"), mem_limit=n.get("mem_limit"), mem_alarm=bool(n.get("mem_alarm", False)),
            disk_free=n.get("disk_free"), disk_free_limit=n.get("disk_free_limit"),
            disk_free_alarm=bool(n.get("disk_free_alarm", False)),
            fd_used=n.get("fd_used"), fd_total=n.get("fd_total"),
        )
        for n in data
    ]


def parse_check(name: str, status_code: int, body: Any) -> HealthCheck:
    body = body if isinstance(body, dict) else {}
    alarms = [RabbitAlarm(node=str(a.get("node", "?")), resource=str(a.get("resource", "?")))
              for a in body.get("alarms", []) if isinstance(a, dict)]
    if status_code == 200:
        return HealthCheck(name=name, ok=True, status_code=status_code)
    if status_code == 503:
        return HealthCheck(name=name, ok=False, status_code=status_code,
                           reason=str(body.get("reason", "health check failed")), alarms=alarms)
    # 404 on versions without the endpoint, 401/403 without the monitoring tag.
    return HealthCheck(name=name, ok=None, status_code=status_code,
                       reason=str(body.get("reason") or body.get("error") or f"HTTP {status_code}"))


# --- the probe -------------------------------------------------------------------


class _ManagementUnavailable(Exception):
    """The overview or node list could not be read; the message says why."""


def rabbit_nodes_snapshot(clients: Clients, cluster: str) -> RabbitNodesSnapshot:
    rabbit = clients.settings.rabbitmq[cluster]
    timeout = rabbit.request_timeout_s
    session = clients.rabbit_http(cluster)
    base = f"{rabbit.management_url}/api"
    taken_at = datetime.now(UTC)
    started = time.monotonic()

    def get_json(path: str) -> Any:
        try:
            response = session.get(f"{base}/{path}", timeout=timeout)
        except requests.RequestException as exc:
            raise _ManagementUnavailable(f"GET /api/{path}: {_short(exc)}") from exc
        if response.status_code != 200:
            raise _ManagementUnavailable(f"GET /api/{path}: HTTP {response.status_code} {_error_body(response)}")
        try:
            return response.json()
        except requests.JSONDecodeError as exc:
            raise _ManagementUnavailable(f"GET /api/{path}: response is not JSON") from exc

    overview: RabbitOverview | None = None
    try:
        overview = parse_overview(get_json("overview"))
        nodes = parse_nodes(get_json("nodes"))
    except _ManagementUnavailable as exc:
        return RabbitNodesSnapshot(
            cluster=cluster, taken_at=taken_at, management_url=rabbit.management_url, management_ok=False,
            management_error=str(exc), overview=overview, amqp=amqp_reachability(clients, cluster),
            elapsed_ms=(time.monotonic() - started) * 1000,
        )

    checks: list[HealthCheck] = []
    for name in ("alarms", "local-alarms", f"port-listener/{rabbit.port}", "protocol-listener/amqp"):
        try:
            response = session.get(f"{base}/health/checks/{name}", timeout=timeout)
        except requests.RequestException as exc:
            checks.append(HealthCheck(name=name, ok=None, reason=_short(exc)))
            continue
        checks.append(parse_check(name, response.status_code, _json_or_none(response)))
    return RabbitNodesSnapshot(
        cluster=cluster, taken_at=taken_at, management_url=rabbit.management_url, management_ok=True,
        overview=overview, nodes=nodes, checks=checks, elapsed_ms=(time.monotonic() - started) * 1000,
    )


def amqp_reachability(clients: Clients, cluster: str) -> AmqpReachability:
    """Can a client open an AMQP connection? The server's version comes for free."""
    rabbit = clients.settings.rabbitmq[cluster]
    try:
        connection = clients.amqp(cluster)
    except pika.exceptions.AMQPError as exc:
        return AmqpReachability(host=rabbit.host, port=rabbit.port, connected=False,
                                error=f"{type(exc).__name__}: {exc!r}")
    try:
        # BlockingConnection does not expose the handshake's server properties; the
        # underlying connection object does.
        props = connection._impl.server_properties or {}
        return AmqpReachability(host=rabbit.host, port=rabbit.port, connected=True,
                                product=_text(props.get("product")), version=_text(props.get("version")))
    finally:
        try:
            connection.close()
        except pika.exceptions.AMQPError:
            pass  # already closed by the server; nothing left to release


def _short(exc: requests.RequestException) -> str:
    # requests wraps urllib3's retry error around the cause; the cause is what a
    # person needs ("Connection refused", "Read timed out").
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    return f"{type(exc).__name__}: {cause or exc}"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return None if value is None else str(value)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except requests.JSONDecodeError:
        return None


def _error_body(response: requests.Response) -> str:
    body = _json_or_none(response)
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("error") or "")
    return ""
