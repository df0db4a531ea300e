"""tests/unit: pure functions only. Nothing here may reach a broker, a database
server or any other process over the network: every test runs with outbound
connections refused, so `python -m pytest tests/unit` passes with Kafka, RabbitMQ,
PostgreSQL and the Schema Registry stopped.

The parent tests/conftest.py is loaded too; it only defines fixtures (none of them
autouse) and opens no connection at import, so it costs an import and nothing else.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

# The shared services' ports, named in the error so a failure says what was reached for.
SERVICES = {9092: "Kafka", 5672: "RabbitMQ", 15672: "RabbitMQ management", 5432: "PostgreSQL",
            5433: "PostgreSQL", 8081: "Schema Registry"}


class NetworkUsed(AssertionError):
    """A unit test tried to open a network connection."""


def _refuse(address: Any) -> None:
    port = address[1] if isinstance(address, tuple) and len(address) > 1 else None
    what = SERVICES.get(port, "a network service") if isinstance(port, int) else "a network service"
    raise NetworkUsed(f"a unit test tried to connect to {what} at {address!r}; tests/unit must need no server")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse every outbound TCP/UDP connection (Unix sockets stay allowed)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(address)
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        _refuse(address)
        raise AssertionError("unreachable")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield
