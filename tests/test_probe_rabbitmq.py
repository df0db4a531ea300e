"""The RabbitMQ queue probe against the real broker: DLQ depth from the management
API, x-death parsing for rejected and expired messages, sampling that leaves the
queue exactly as it was, and the AMQP fallback when the management API is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pika
import pytest

from bot.probes.clients import Clients
from bot.probes.dlq_models import QueueSnapshot, RabbitMessage
from bot.probes.rabbitmq import (
    QueueNotFound,
    group_deaths,
    parse_x_death,
    rabbit_dead_letter_queues,
    rabbit_queue_snapshot,
    sampling_blocker,
)
from tests.conftest import RABBIT_PORT, free_port, make_settings


@pytest.fixture
def channel(brokers: None) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    yield connection.channel()
    connection.close()


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    return Clients(make_settings(tmp_path))


@dataclass
class Topology:
    work: str
    dlx: str
    dlq: str


@pytest.fixture
def topology(channel: Any, unique: str) -> Iterator[Topology]:
    t = Topology(work=f"work-{unique}", dlx=f"work-{unique}.dlx", dlq=f"work-{unique}.dlq")
    channel.exchange_declare(t.dlx, "fanout")
    channel.queue_declare(t.dlq)
    channel.queue_bind(t.dlq, t.dlx)
    channel.queue_declare(t.work, arguments={"x-dead-letter-exchange": t.dlx})
    yield t
    channel.queue_delete(t.work)
    channel.queue_delete(t.dlq)
    channel.exchange_delete(t.dlx)


def wait_for(take: Callable[[], QueueSnapshot], done: Callable[[QueueSnapshot], bool],
             deadline_s: float = 15.0) -> QueueSnapshot:
    """The management API's counters trail the broker by up to ~5 s: poll with a deadline."""
    end = time.monotonic() + deadline_s
    while True:
        snapshot = take()
        if done(snapshot) or time.monotonic() > end:
            return snapshot
        time.sleep(0.5)


def _dead_letter_five(channel: Any, t: Topology) -> None:
    """2 messages expire (per-message TTL), 3 are rejected, 1 stays in the work queue."""
    for i in range(2):
        channel.basic_publish("", t.work, f"expire {i}".encode(), pika.BasicProperties(expiration="50"))
    for i in range(3):
        channel.basic_publish("", t.work, f"reject {i}".encode(), pika.BasicProperties(message_id=f"r{i}"))
    channel.basic_publish("", t.work, b"keep", pika.BasicProperties(message_id="keep"))
    time.sleep(0.3)  # past the TTL: the expired ones are dead-lettered on their way out
    rejected = 0
    while rejected < 3:
        method, _, body = channel.basic_get(t.work, auto_ack=False)
        assert method is not None, "the work queue ran dry before three rejections"
        assert body.startswith(b"reject")
        channel.basic_nack(method.delivery_tag, requeue=False)
        rejected += 1


def test_dlq_depth_and_x_death(channel: Any, topology: Topology, clients: Clients) -> None:
    _dead_letter_five(channel, topology)
    dlq = wait_for(lambda: rabbit_queue_snapshot(clients, "local", topology.dlq), lambda s: s.messages == 5)
    assert (dlq.source, dlq.messages, dlq.messages_ready, dlq.consumers) == ("management", 5, 5, 0)
    assert dlq.is_dead_letter_queue and dlq.dead_letter_sources == [topology.work]
    assert dlq.note is None

    work = wait_for(lambda: rabbit_queue_snapshot(clients, "local", topology.work), lambda s: s.messages == 1)
    assert work.messages == 1 and work.dead_letter_exchange == topology.dlx
    assert work.arguments == {"x-dead-letter-exchange": topology.dlx}
    assert not work.is_dead_letter_queue
    assert work.publish_rate is not None  # message_stats exist once something was published

    sampled = rabbit_queue_snapshot(clients, "local", topology.dlq, sample_size=10)
    assert len(sampled.samples) == 5
    by_reason: dict[str, list[RabbitMessage]] = {}
    for message in sampled.samples:
        by_reason.setdefault(message.first_death_reason or "", []).append(message)
    assert sorted(by_reason) == ["expired", "rejected"]
    assert [m.preview for m in by_reason["expired"]] == ["expire 0", "expire 1"]
    assert [m.message_id for m in by_reason["rejected"]] == ["r0", "r1", "r2"]
    for reason, messages in by_reason.items():
        for m in messages:
            [death] = m.deaths
            assert (death.reason, death.count, death.queue, death.exchange) == (reason, 1, topology.work, "")
            assert death.routing_keys == [topology.work] and death.time is not None
            assert m.first_death_queue == topology.work and m.first_death_exchange == ""
            assert "x-death" not in m.headers
    assert by_reason["expired"][0].deaths[0].original_expiration == "50"
    assert [(g.reason, g.queue, g.count, g.deaths) for g in sampled.death_groups] == [
        ("rejected", topology.work, 3, 3), ("expired", topology.work, 2, 2)]

    # Looking did not take anything away.
    assert channel.queue_declare(topology.dlq, passive=True).method.message_count == 5


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_sampling_keeps_order_and_count(channel: Any, clients: Clients, unique: str, queue_type: str) -> None:
    queue = f"order-{queue_type}-{unique}"
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": queue_type})
    try:
        for i in range(20):
            channel.basic_publish("", queue, f"m{i:02d}".encode(),
                                  pika.BasicProperties(message_id=str(i), headers={"n": i}))
        snapshot = rabbit_queue_snapshot(clients, "local", queue, sample_size=5)
        assert [m.preview for m in snapshot.samples] == [f"m{i:02d}" for i in range(5)]  # the head, oldest first
        # A queue this new may have no management figures yet (then the counts come
        # from AMQP and the note says so); sampling itself must not have been skipped.
        assert "sampl" not in (snapshot.note or "").lower()

        after = []
        while (got := channel.basic_get(queue, auto_ack=True))[0] is not None:
            method, props, body = got
            after.append((body.decode(), props.message_id, method.redelivered, dict(props.headers or {})))
        assert [a[0] for a in after] == [f"m{i:02d}" for i in range(20)]
        assert [a[1] for a in after] == [str(i) for i in range(20)]
        assert [a[2] for a in after] == [True] * 5 + [False] * 15  # the only trace of the look
        for i, (_, _, _, headers) in enumerate(after):
            delivery_count = headers.pop("x-delivery-count", None)
            assert headers == {"n": i}
            # Quorum queues also count the look as a delivery attempt.
            assert delivery_count == ((1 if i < 5 else 0) if queue_type == "quorum" else None)
    finally:
        channel.queue_delete(queue)


def test_quorum_queue_with_delivery_limit_is_not_sampled(channel: Any, clients: Clients, unique: str) -> None:
    queue = f"limited-{unique}"
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 2})
    try:
        for i in range(3):
            channel.basic_publish("", queue, f"m{i}".encode())
        for _ in range(3):  # three looks would have dropped them with a limit of 2
            snapshot = rabbit_queue_snapshot(clients, "local", queue, sample_size=5)
            assert snapshot.samples == [] and snapshot.note is not None and "delivery limit of 2" in snapshot.note
        assert channel.queue_declare(queue, passive=True).method.message_count == 3
    finally:
        channel.queue_delete(queue)


def test_fallback_to_amqp_when_management_is_refused(channel: Any, topology: Topology, tmp_path: Path) -> None:
    _dead_letter_five(channel, topology)
    down = Clients(make_settings(tmp_path, rabbitmq={"local": {
        "port": RABBIT_PORT, "management_url": f"http://127.0.0.1:{free_port()}", "request_timeout_s": 2}}))
    snapshot = rabbit_queue_snapshot(down, "local", topology.dlq, sample_size=2)
    assert (snapshot.source, snapshot.messages_ready, snapshot.consumers) == ("amqp-fallback", 5, 0)
    assert snapshot.messages is None and snapshot.messages_unacknowledged is None and snapshot.depth == 5
    assert snapshot.note is not None and "management API" in snapshot.note and "AMQP" in snapshot.note
    assert len(snapshot.samples) == 2  # sampling is AMQP anyway
    assert snapshot.is_dead_letter_queue  # known by its name even without the bindings

    with pytest.raises(QueueNotFound):
        rabbit_queue_snapshot(down, "local", topology.dlq + "-nope")


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b'{"error":"service_unavailable"}')

    def log_message(self, *args: object) -> None:
        pass


def test_fallback_on_a_5xx_answer(channel: Any, clients: Clients, unique: str, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    queue = f"plain-{unique}"
    channel.queue_declare(queue)
    try:
        channel.basic_publish("", queue, b"x")
        failing = Clients(make_settings(tmp_path, rabbitmq={"local": {
            "port": RABBIT_PORT, "management_url": f"http://127.0.0.1:{server.server_port}"}}))
        snapshot = rabbit_queue_snapshot(failing, "local", queue)
        assert (snapshot.source, snapshot.messages_ready) == ("amqp-fallback", 1)
        assert snapshot.note is not None and "HTTP 503" in snapshot.note
    finally:
        channel.queue_delete(queue)
        server.shutdown()
        server.server_close()


def test_unknown_queue_suggests_close_matches(topology: Topology, clients: Clients) -> None:
    with pytest.raises(QueueNotFound) as caught:
        rabbit_queue_snapshot(clients, "local", topology.dlq[:-1] + "x")
    assert topology.dlq in caught.value.suggestions and "Did you mean" in str(caught.value)


def test_dead_letter_queues_are_discovered(channel: Any, topology: Topology, clients: Clients, unique: str) -> None:
    # A DLQ reached through the default exchange: x-dead-letter-routing-key names it.
    parked, jobs = f"parked-{unique}", f"jobs-{unique}"
    channel.queue_declare(parked)
    channel.queue_declare(jobs, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": parked})
    # One direct DLX feeding two DLQs, told apart by the dead-letter routing key.
    direct = f"direct-{unique}.dlx"
    channel.exchange_declare(direct, "direct")
    for side in ("a", "b"):
        channel.queue_declare(f"failed-{side}-{unique}")
        channel.queue_bind(f"failed-{side}-{unique}", direct, routing_key=side)
        channel.queue_declare(f"work-{side}-{unique}", arguments={"x-dead-letter-exchange": direct,
                                                                  "x-dead-letter-routing-key": side})
    try:
        found = {s.name: s for s in rabbit_dead_letter_queues(clients, "local")}
        assert found[topology.dlq].dead_letter_sources == [topology.work]
        assert found[parked].dead_letter_sources == [jobs]
        assert found[f"failed-a-{unique}"].dead_letter_sources == [f"work-a-{unique}"]
        assert found[f"failed-b-{unique}"].dead_letter_sources == [f"work-b-{unique}"]
        assert not {topology.work, jobs, f"work-a-{unique}"} & set(found)

        one = rabbit_queue_snapshot(clients, "local", f"failed-b-{unique}")
        assert one.is_dead_letter_queue and one.dead_letter_sources == [f"work-b-{unique}"]
        assert rabbit_queue_snapshot(clients, "local", parked).dead_letter_sources == [jobs]
    finally:
        for name in (jobs, parked, *(f"{kind}-{side}-{unique}" for kind in ("work", "failed") for side in "ab")):
            channel.queue_delete(name)
        channel.exchange_delete(direct)


# ---------------------------------------------------------------- pure parts


def test_x_death_as_the_management_api_shows_it() -> None:
    headers = {
        "x-death": [
            {"count": 2, "reason": "expired", "queue": "retry", "exchange": "retry.dlx",
             "routing-keys": ["orders"], "time": 1714557600, "original-expiration": "5000"},
            {"count": 1, "reason": "rejected", "queue": "orders", "exchange": "", "routing-keys": ["orders"],
             "time": 1714557500},
        ],
        "x-first-death-reason": "rejected", "x-first-death-queue": "orders", "x-first-death-exchange": "",
    }
    deaths = parse_x_death(headers)
    assert [(d.reason, d.count, d.queue) for d in deaths] == [("expired", 2, "retry"), ("rejected", 1, "orders")]
    assert deaths[0].time is not None and deaths[0].time.isoformat() == "2024-05-01T10:00:00+00:00"
    assert parse_x_death({"x-death": "garbage"}) == [] and parse_x_death(None) == []


def test_deaths_group_by_first_reason_and_queue() -> None:
    def message(reason: str | None, queue: str | None, deaths: list[tuple[str, str, int]]) -> RabbitMessage:
        return RabbitMessage(size=1, preview="x", redelivered=False, first_death_reason=reason, first_death_queue=queue,
                             deaths=parse_x_death({"x-death": [{"reason": r, "queue": q, "count": c}
                                                               for r, q, c in deaths]}))
    groups = group_deaths([
        message("rejected", "orders", [("rejected", "orders", 3)]),
        message("rejected", "orders", [("expired", "retry", 1), ("rejected", "orders", 1)]),
        message(None, None, [("maxlen", "payments", 1)]),  # no x-first-death-*: the oldest entry
        message(None, None, []),
    ])
    assert [(g.reason, g.queue, g.count, g.deaths) for g in groups] == [
        ("rejected", "orders", 2, 4), ("(no x-death)", "", 1, 0), ("maxlen", "payments", 1, 1)]


@pytest.mark.parametrize(("queue_type", "arguments", "version", "blocked"), [
    ("classic", {}, "3.10.8", False),
    ("classic", {"x-delivery-limit": 3}, "4.1.0", False),  # classic queues ignore it
    ("quorum", {}, "3.10.8", False),
    ("quorum", {"x-delivery-limit": 5}, "3.10.8", True),
    ("quorum", {}, "4.0.2", True),
    ("stream", {}, "3.10.8", True),
    (None, {}, None, False),
])
def test_sampling_blocker(queue_type: str | None, arguments: dict[str, Any], version: str | None,
                          blocked: bool) -> None:
    assert (sampling_blocker(queue_type, arguments, version) is not None) == blocked
