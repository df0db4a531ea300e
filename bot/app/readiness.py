"""Is the bot able to work? Kafka, RabbitMQ, the database, the escalation timers
and (in Socket Mode) the WebSocket to Slack, each checked with a deadline,
concurrently, for /readyz and `/ops status`."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel
from sqlalchemy import Engine

from bot import db
from bot.db import writable
from bot.probes.clients import Clients
from bot.text import plural


class Check(BaseModel):
    name: str
    ok: bool
    error: str | None = None
    detail: str | None = None
    latency_ms: float


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


def _kafka(clients: Clients, cluster: str) -> str:
    timeout = clients.settings.kafka[cluster].request_timeout_s
    metadata = clients.kafka_admin(cluster).list_topics(timeout=timeout)
    return f"{plural(len(metadata.brokers), 'broker')}, {plural(len(metadata.topics), 'topic')}"


def _rabbitmq(clients: Clients, cluster: str) -> str:
    connection = clients.amqp(cluster)
    try:
        props = connection._impl.server_properties  # noqa: SLF001 (pika keeps them there only)
        version = props.get("version", b"")
        return f"RabbitMQ {version.decode() if isinstance(version, bytes) else version}".strip()
    finally:
        connection.close()


def _database(engine: Engine) -> str:
    db.ping(engine)
    refused = writable.problem(engine)
    if refused:
        raise RuntimeError(refused)
    return engine.url.get_backend_name()


def _run(name: str, fn: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = fn()
        ok, error = True, None
    except Exception as exc:  # every failure of a dependency is a "not ready" answer
        detail, ok, error = None, False, _one_line(exc)
    return Check(name=name, ok=ok, error=error, detail=detail,
                 latency_ms=round((time.perf_counter() - started) * 1000, 1))


def _one_line(exc: Exception) -> str:
    first = exc.args[0] if exc.args else None
    # confluent-kafka wraps a KafkaError whose str() is the readable part.
    text = first.str() if hasattr(first, "str") else (str(exc) or type(exc).__name__)
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}"


def probe_dependencies(clients: Clients, engine: Engine, timers: Callable[[], str] | None = None, *,
                       socket_link: Callable[[], str] | None = None) -> Readiness:
    """`timers` reports on the escalation timers: a bot that owns them but cannot
    run them would let every ladder stall silently. `socket_link` reports on the
    Socket Mode WebSocket: while it is down, Slack cannot reach the bot at all."""
    jobs: list[tuple[str, Callable[[], str]]] = []
    for cluster in clients.settings.kafka:
        jobs.append((f"kafka:{cluster}", lambda c=cluster: _kafka(clients, c)))
    for cluster in clients.settings.rabbitmq:
        jobs.append((f"rabbitmq:{cluster}", lambda c=cluster: _rabbitmq(clients, c)))
    jobs.append(("database", lambda: _database(engine)))
    if timers is not None:
        jobs.append(("escalation-timers", timers))
    if socket_link is not None:
        jobs.append(("slack-socket", socket_link))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        checks = list(pool.map(lambda job: _run(*job), jobs))
    return Readiness(ready=all(c.ok for c in checks), checks=checks)
