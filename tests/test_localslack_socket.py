"""The stand-in's Socket Mode, spoken to as Slack documents it, with a plain
WebSocket client: the one-time URL, hello, envelopes, acks by envelope_id, retries
of unacknowledged events, and disconnect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bot.localslack.envelopes import Envelope
from bot.localslack.server import LocalSlack
from tests.conftest import APP_TOKEN


def open_url(slack: LocalSlack) -> str:
    answer = requests.post(slack.url + "apps.connections.open", headers={"Authorization": f"Bearer {APP_TOKEN}"},
                           timeout=5).json()
    assert answer["ok"] is True
    return str(answer["url"])


@pytest.fixture
def app(local_slack: LocalSlack) -> Iterator[ClientConnection]:
    """A Socket Mode app reduced to its WebSocket, already greeted."""
    with connect(open_url(local_slack)) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        yield ws


def deliver_in_background(slack: LocalSlack, **kwargs: object) -> tuple[threading.Thread, list[Envelope]]:
    done: list[Envelope] = []
    thread = threading.Thread(target=lambda: done.append(slack.socket.deliver(**kwargs)))  # type: ignore[arg-type]
    thread.start()
    return thread, done


def test_a_url_opens_one_connection_and_is_greeted_with_hello(local_slack: LocalSlack) -> None:
    url = open_url(local_slack)
    with connect(url) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"]["app_id"] == "A0LOCAL"
        with pytest.raises(InvalidStatus) as refused:
            connect(url)  # the same URL again
        assert refused.value.response.status_code == 401
        with connect(open_url(local_slack)) as second:
            assert json.loads(second.recv(timeout=5))["num_connections"] == 2


def test_acks_are_matched_by_envelope_id_not_by_order(local_slack: LocalSlack, app: ClientConnection) -> None:
    command = {"command": "/lag", "text": "", "user_id": "U0ALICE", "channel_id": "C0INCIDENTS"}
    first, first_done = deliver_in_background(local_slack, type="slash_commands", payload=command,
                                              accepts_response_payload=True)
    one = json.loads(app.recv(timeout=5))
    second, second_done = deliver_in_background(local_slack, type="interactive", payload={"type": "block_actions"},
                                                accepts_response_payload=False)
    two = json.loads(app.recv(timeout=5))
    assert (one["type"], one["accepts_response_payload"], two["type"]) == ("slash_commands", True, "interactive")
    app.send(json.dumps({"envelope_id": "not-one-of-them"}))
    app.send(json.dumps({"envelope_id": two["envelope_id"]}))  # the later one first
    app.send(json.dumps({"envelope_id": one["envelope_id"], "payload": {"text": "Reading the lag..."}}))
    first.join(5)
    second.join(5)
    assert first_done[0].acked and first_done[0].ack_payload == {"text": "Reading the lag..."}
    assert second_done[0].acked and second_done[0].ack_payload is None
    assert local_slack.socket.ledger.stray_acks() == [{"envelope_id": "not-one-of-them", "payload": None}]
    # A slash command's ack is what the person sees, as in Slack.
    assert local_slack.state.ephemerals(user="U0ALICE")[-1].text == "Reading the lag..."


def test_an_unacknowledged_event_is_retried_then_recorded(local_slack: LocalSlack, app: ClientConnection) -> None:
    thread, done = deliver_in_background(local_slack, type="events_api", accepts_response_payload=False,
                                         payload={"type": "event_callback", "event": {"type": "app_home_opened"}},
                                         ack_timeout=0.2)
    attempts = [json.loads(app.recv(timeout=5)) for _ in range(4)]  # the first and three retries
    thread.join(5)
    assert [(a["retry_attempt"], a["retry_reason"]) for a in attempts] == [
        (0, ""), (1, "timeout"), (2, "timeout"), (3, "timeout")]
    assert not done[0].acked
    assert len(local_slack.socket.unacked()) == 4


def test_disconnect_says_why_then_closes(local_slack: LocalSlack, app: ClientConnection) -> None:
    assert local_slack.socket.disconnect("link_disabled") == 1
    message = json.loads(app.recv(timeout=5))
    assert message["type"] == "disconnect" and message["reason"] == "link_disabled"
    with pytest.raises(ConnectionClosed):
        app.recv(timeout=5)  # and the stand-in closed the connection
    local_slack.socket.wait(lambda: not local_slack.socket.links()[0].open)
