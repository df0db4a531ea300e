"""Shared fixtures: the real Kafka and RabbitMQ started by scripts/services, a
local Slack stand-in, and the bot served over real HTTP with real signing, or over
Socket Mode: a test marked ``both_transports`` runs once over each."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from bot import config
from bot.app.localbot import LocalBot, Transport
from bot.config import Settings
from bot.localslack.server import LocalSlack

KAFKA = os.environ.get("INCIDENTBOT_TEST_KAFKA", "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092"))
RABBIT_PORT = int(os.environ.get("RABBITMQ_PORT", "5672"))
RABBIT_MGMT = f"http://127.0.0.1:{os.environ.get('RABBITMQ_MANAGEMENT_PORT', '15672')}"
SCHEMA_REGISTRY = f"http://127.0.0.1:{os.environ.get('SCHEMA_REGISTRY_PORT', '8081')}/apis/ccompat/v7"
POSTGRES = f"postgresql+psycopg://postgres@127.0.0.1:{os.environ.get('POSTGRES_PORT', '5433')}"
BOT_TOKEN = "xoxb-test-0000-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A0LOCAL-0000-apptoken"
TRANSPORTS = ("http", "socket")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_transports: run the test with Slack over HTTP and over Socket Mode")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_transports") and "transport" in metafunc.fixturenames:
        metafunc.parametrize("transport", TRANSPORTS, indirect=True)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> Transport:
    """How Slack reaches the bot: "http" unless the test is marked both_transports."""
    return getattr(request, "param", "http")  # type: ignore[no-any-return]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def brokers() -> None:
    """The tests run against real brokers; a missing one is a failure, not a skip."""
    host, port = KAFKA.rsplit(":", 1)
    down = [name for name, ok in (("Kafka", _port_open(host, int(port))),
                                  ("RabbitMQ", _port_open("127.0.0.1", RABBIT_PORT))) if not ok]
    if down:
        pytest.fail(f"{' and '.join(down)} not reachable: start them with `scripts/services up`", pytrace=False)


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a database of its own on the shared PostgreSQL, dropped afterwards."""
    name = f"bot_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - a missing server is a failure with its reason, not a skip
        pytest.fail(f"PostgreSQL at {POSTGRES} is not reachable ({type(exc).__name__}); run scripts/services up",
                    pytrace=False)
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'bot.db'}",
        "kafka": {"local": {"bootstrap_servers": KAFKA, "request_timeout_s": 3}},
        "rabbitmq": {"local": {"port": RABBIT_PORT, "management_url": RABBIT_MGMT, "request_timeout_s": 3}},
        "slack": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET},
        "schema_registry": {"local": {"url": SCHEMA_REGISTRY, "request_timeout_s": 3}},
    }
    base.update(overrides)
    return config.load(**base)


@pytest.fixture
def local_slack() -> Iterator[LocalSlack]:
    slack = LocalSlack(token=BOT_TOKEN, app_token=APP_TOKEN)
    slack.start()
    yield slack
    slack.stop()


def start_bot(settings: Settings, slack: LocalSlack, transport: Transport = "http") -> LocalBot:
    return LocalBot(settings, slack, transport=transport)


@pytest.fixture
def quiet_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    """A bot taking generic alerts, with no first checks (they would only slow the test down)."""
    settings = make_settings(tmp_path, alerts={"sources": {"generic": {"bearer_token": TOKEN}}},
                             incidents={"first_checks": 0})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, transport: Transport) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path), local_slack, transport)
    yield running
    running.close()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


TOKEN = "am-token-0123456789"
GRAFANA_SECRET = "grafana-hmac-secret-42"


@pytest.fixture
def alerting_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, transport: Transport) -> Iterator[LocalBot]:
    """A bot whose alert sources are configured: Alertmanager and generic by bearer
    token, Grafana by HMAC."""
    settings = make_settings(tmp_path, alerts={"sources": {
        "alertmanager": {"bearer_token": TOKEN},
        "grafana": {"hmac_secret": GRAFANA_SECRET},
        "generic": {"bearer_token": TOKEN},
    }})
    running = start_bot(settings, local_slack, transport)
    yield running
    running.close()


def send(bot: LocalBot, body: object, source: str = "alertmanager", token: str | None = TOKEN,
         raw: bytes | None = None, headers: dict[str, str] | None = None) -> requests.Response:
    """POST a webhook as the sender would, then wait for the bot's Slack work."""
    data = raw if raw is not None else json.dumps(body).encode()
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    response = requests.post(f"{bot.url}/alerts/{source}", data=data, headers=h, timeout=10)
    bot.ctx.work.wait_idle(60)
    return response
