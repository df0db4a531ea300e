"""The guard of tests/unit/conftest.py really refuses connections: without it a unit
test that reached for Kafka would pass while the services run and fail only when they
do not."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.unit.conftest import NetworkUsed

CASES = [
    ("kafka", ("127.0.0.1", 9092), "Kafka"),
    ("rabbitmq", ("127.0.0.1", 5672), "RabbitMQ"),
    ("rabbitmq-management", ("127.0.0.1", 15672), "RabbitMQ management"),
    ("postgresql", ("127.0.0.1", 5433), "PostgreSQL"),
    ("schema-registry", ("127.0.0.1", 8081), "Schema Registry"),
    ("anything-else", ("127.0.0.1", 1), "a network service"),
]


@pytest.mark.parametrize(("address", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_socket_connect_is_refused(address: tuple[str, int], named: str) -> None:
    with socket.socket() as s, pytest.raises(NetworkUsed, match=f"tried to connect to {named} at"):
        s.connect(address)
    with socket.socket() as s, pytest.raises(NetworkUsed):
        s.connect_ex(address)
    with pytest.raises(NetworkUsed):
        socket.create_connection(address, timeout=1)


def test_http_clients_are_refused() -> None:
    with pytest.raises(NetworkUsed, match="tried to connect to RabbitMQ management"):
        requests.get("http://127.0.0.1:15672/api/overview", timeout=1)
