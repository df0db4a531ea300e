"""The RabbitMQ node probe against the real broker, its AMQP fallback, and the
parsing of management API answers."""

from __future__ import annotations

import time
from pathlib import Path

import pika

from bot.health.brokers import rabbit_nodes_verdict
from bot.health.verdict import Level
from bot.probes.clients import Clients
from bot.probes.rabbitmq_nodes import RabbitAlarm, parse_check, parse_nodes, parse_overview, rabbit_nodes_snapshot
from tests.conftest import RABBIT_PORT, free_port, make_settings


def test_real_node_is_running_without_alarms(brokers: None, tmp_path: Path) -> None:
    snap = rabbit_nodes_snapshot(Clients(make_settings(tmp_path)), "local")
    assert snap.management_ok and snap.management_error is None and snap.amqp is None
    assert snap.taken_at.utcoffset() is not None and snap.taken_at.utcoffset().total_seconds() == 0
    assert snap.overview is not None and snap.overview.rabbitmq_version
    assert snap.nodes and all(n.running for n in snap.nodes)
    node = snap.nodes[0]
    assert not node.mem_alarm and not node.disk_free_alarm
    assert node.mem_used and node.mem_limit and node.fd_total and node.fd_percent is not None
    assert {c.name for c in snap.checks} == {"alarms", "local-alarms", f"port-listener/{RABBIT_PORT}",
                                             "protocol-listener/amqp"}
    assert all(c.ok for c in snap.checks) and snap.alarms == []
    assert rabbit_nodes_verdict(snap).level == Level.OK


def test_connection_count_sees_a_held_connection(brokers: None, tmp_path: Path) -> None:
    clients = Clients(make_settings(tmp_path))
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    try:
        # The management API's statistics refresh about every 5 seconds.
        deadline = time.monotonic() + 20
        while True:
            snap = rabbit_nodes_snapshot(clients, "local")
            if (snap.connections or 0) >= 1 or time.monotonic() > deadline:
                break
            connection.sleep(0.5)
        assert snap.connections is not None and snap.connections >= 1
        held = f"{snap.connections} connection{'s' if snap.connections != 1 else ''}"  # others may hold some too
        assert f"no alarms, {held}, " in rabbit_nodes_verdict(snap).reasons[0]
    finally:
        connection.close()


def test_management_down_falls_back_to_amqp(brokers: None, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, rabbitmq={"local": {"port": RABBIT_PORT, "management_url": url,
                                                           "request_timeout_s": 2}})
    started = time.monotonic()
    snap = rabbit_nodes_snapshot(Clients(settings), "local")
    assert time.monotonic() - started < 5
    assert not snap.management_ok and "Connection" in (snap.management_error or "")
    assert snap.amqp is not None and snap.amqp.connected and snap.amqp.version
    v = rabbit_nodes_verdict(snap)
    assert v.level == Level.WARNING
    assert "only reachability is known" in v.reasons[0] and url in v.reasons[0]


def test_management_and_amqp_down_is_critical(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rabbitmq={"local": {
        "port": free_port(), "management_url": f"http://127.0.0.1:{free_port()}", "request_timeout_s": 2}})
    snap = rabbit_nodes_snapshot(Clients(settings), "local")
    assert snap.amqp is not None and not snap.amqp.connected and snap.amqp.error
    v = rabbit_nodes_verdict(snap)
    assert v.level == Level.CRITICAL and "unreachable" in v.reasons[0]


def test_parse_failed_alarm_check() -> None:
    body = {"status": "failed", "reason": "There are alarms in effect in the cluster",
            "alarms": [{"node": "rabbit@a", "resource": "memory"}, {"node": "rabbit@b", "resource": "disk space"}]}
    check = parse_check("alarms", 503, body)
    assert check.ok is False and check.reason == body["reason"]
    assert check.alarms == [RabbitAlarm(node="rabbit@a", resource="memory"),
                            RabbitAlarm(node="rabbit@b", resource="disk space")]
    assert parse_check("alarms", 200, {"status": "ok"}).ok is True
    missing = parse_check("protocol-listener/amqp", 404, {"error": "Object Not Found", "reason": "Not Found"})
    assert missing.ok is None and missing.reason == "Not Found"


def test_parse_stopped_node_and_empty_overview() -> None:
    nodes = parse_nodes([{"name": "rabbit@down", "running": False},
                         {"name": "rabbit@up", "running": True, "fd_used": 95, "fd_total": 100}])
    assert not nodes[0].running and nodes[0].fd_percent is None and nodes[0].mem_used is None
    assert nodes[1].fd_percent == 95.0
    overview = parse_overview({"object_totals": {"connections": 3}, "message_stats": {
        "publish_details": {"rate": 1.5}}, "queue_totals": {}})
    assert overview.connections == 3 and overview.publish_rate == 1.5 and overview.deliver_rate is None
