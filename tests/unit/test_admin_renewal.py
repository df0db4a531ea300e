"""bot.probes.clients: an AdminClient that found its cluster unreachable is replaced
at the next use (librdkafka's client stays wedged on a coordinator that died with
requests in flight), the old one kept until its operations have ended, and a cluster
that stays down does not make a new client per question past a bound."""

from __future__ import annotations

from bot import config
from bot.probes import clients as kafka_clients


def _clients() -> kafka_clients.Clients:
    settings = config.load(kafka={"local": {"bootstrap_servers": "127.0.0.1:1", "request_timeout_s": 1}},
                           rabbitmq={}, schema_registry={})
    return kafka_clients.Clients(settings)


def test_a_client_is_kept_until_it_finds_its_cluster_unreachable() -> None:
    clients = _clients()
    first = clients.kafka_admin("local")
    assert clients.kafka_admin("local") is first
    kafka_clients.admin_failed(first)
    second = clients.kafka_admin("local")
    assert second is not first
    assert clients.kafka_admin("local") is second  # renewed once, not at every use
    assert [admin for _, admin in clients._retired] == [first]  # noqa: SLF001 - kept until its operations end


def test_renewals_are_bounded_while_a_cluster_stays_down() -> None:
    clients = _clients()
    seen = set()
    for _ in range(kafka_clients.MAX_RETIRED + 3):
        admin = clients.kafka_admin("local")
        seen.add(id(admin))
        kafka_clients.admin_failed(admin)
    assert len(clients._retired) == kafka_clients.MAX_RETIRED  # noqa: SLF001
    assert len(seen) == kafka_clients.MAX_RETIRED + 1
