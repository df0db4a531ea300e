"""Slack over Socket Mode, through the local stand-in's WebSocket: the hello, the
acknowledgements, reconnecting after Slack's `disconnect`, and the HTTP surface
that stays (alerts, health, readiness, metrics) while /slack/events goes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bot.app.localbot import LocalBot
from bot.localslack.sender import SlackSender, slash_payload
from bot.localslack.server import LocalSlack
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import TOKEN, make_settings, send, start_bot

HELP_LINE = "/incident help"


@pytest.fixture
def socket_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    # A short ping interval: a connection that cannot be reopened is retried quickly.
    settings = make_settings(tmp_path, slack={"bot_token": "xoxb-test-0000-token", "socket_ping_interval_s": 0.5},
                             alerts={"sources": {"alertmanager": {"bearer_token": TOKEN}}})
    running = start_bot(settings, local_slack, "socket")
    yield running
    running.close()


def seen_by(bot: LocalBot, user: str = "U0ALICE") -> str:
    """Everything only `user` sees at the stand-in (acknowledgements, replies), oldest first."""
    return "\n".join(e.text for e in bot.slack.state.ephemerals(user=user))


def readyz(bot: LocalBot) -> tuple[int, dict[str, dict[str, object]]]:
    response = requests.get(bot.url + "/readyz", timeout=15)
    return response.status_code, {c["name"]: c for c in response.json()["checks"]}


def test_hello_is_received_and_the_bot_is_ready(socket_bot: LocalBot) -> None:
    [link] = socket_bot.slack.socket.links()
    assert link.hello["type"] == "hello" and link.hello["num_connections"] == 1
    assert link.hello["connection_info"] == {"app_id": "A0LOCAL"}
    assert "host" in link.hello["debug_info"]
    # The bot asked for the URL with its app-level token, and greeted, says it is ready.
    assert [c.response["ok"] for c in socket_bot.slack.state.calls("apps.connections.open")] == [True]
    status, checks = readyz(socket_bot)
    assert status == 200 and checks["slack-socket"]["ok"]
    assert checks["slack-socket"]["detail"] == "Socket Mode connection open (connections opened: 1)"


def test_a_slash_command_is_answered_in_the_envelope_ack(socket_bot: LocalBot) -> None:
    socket_bot.slash(HELP_LINE, user="U0BOB")
    assert "/incident help" in seen_by(socket_bot, "U0BOB") and "/ops status" in seen_by(socket_bot, "U0BOB")
    [envelope] = socket_bot.slack.socket.envelopes()
    assert envelope.type == "slash_commands" and envelope.accepts_response_payload
    assert envelope.acked and envelope.ack_payload is not None
    assert envelope.ack_payload["response_type"] == "ephemeral"


def test_envelopes_are_acknowledged_by_their_envelope_id(socket_bot: LocalBot) -> None:
    # Eight commands from eight people in flight on one connection at once: each
    # person sees the answer to their own command, so each ack found its envelope.
    expected = {HELP_LINE: "/ops status", "/ops frobnicate now": "I don't know `frobnicate`",
                "/incident explode": "not a subcommand I know", "/ops help": "/incident help"}
    typed = [(f"U0P{i}", line) for i, line in enumerate(list(expected) * 2)]
    with ThreadPoolExecutor(max_workers=len(typed)) as pool:
        answers = list(pool.map(lambda job: socket_bot.slash(job[1], user=job[0], wait=False), typed))
    socket_bot.ctx.work.wait_idle(30)
    assert [a.status_code for a in answers] == [200] * len(typed)
    for user, line in typed:
        assert expected[line] in seen_by(socket_bot, user)
    envelopes = socket_bot.slack.socket.envelopes()
    assert len({e.envelope_id for e in envelopes}) == len(typed) and all(e.acked for e in envelopes)
    assert socket_bot.slack.socket.unacked() == [] and socket_bot.slack.socket.ledger.stray_acks() == []


def test_an_envelope_nobody_acknowledges_is_recorded_and_the_person_told(socket_bot: LocalBot) -> None:
    # Bolt answers no command it has no listener for, so Slack's deadline passes.
    command = slash_payload("/not-ours", "x", user_id="U0ALICE", channel_id="C0INCIDENTS")
    envelope = socket_bot.slack.socket.deliver("slash_commands", command, accepts_response_payload=True,
                                               ack_timeout=0.5)
    assert not envelope.acked
    assert [e.envelope_id for e in socket_bot.slack.socket.unacked()] == [envelope.envelope_id]
    assert seen_by(socket_bot).endswith('/not-ours failed with the error "operation_timeout"')


def test_after_disconnect_the_bot_reconnects_and_the_next_command_works(socket_bot: LocalBot) -> None:
    socket = socket_bot.slack.socket
    assert socket.disconnect("refresh_requested") == 1
    newest = socket.wait_for_links(2)
    socket.wait(lambda: not socket.links()[0].open)
    assert socket.links()[0].disconnect_reason == "refresh_requested"
    # A fresh URL from apps.connections.open: the first one works only once.
    assert len(socket_bot.slack.state.calls("apps.connections.open")) == 2
    assert socket_bot.socket is not None and socket_bot.socket.wait_ready(10, after_hellos=1)
    socket_bot.slash("/ops status")
    assert "Checking" in seen_by(socket_bot)
    assert "All connections are up." in socket_bot.slack.state.response_url_posts()[-1]["text"]
    assert socket.envelopes()[-1].link_id == newest.id


def test_a_dropped_connection_is_noticed_and_reopened(socket_bot: LocalBot) -> None:
    socket_bot.slack.socket.drop()  # no close frame, no disconnect: the line just goes
    socket_bot.slack.socket.wait_for_links(2, timeout=30)
    socket_bot.slash(HELP_LINE)
    assert "/ops status" in seen_by(socket_bot)


def test_readyz_says_not_ready_while_the_connection_is_down(socket_bot: LocalBot) -> None:
    # Slack refuses the next few apps.connections.open calls, so the link stays down a while.
    socket_bot.slack.state.fail_next("apps.connections.open", error="internal_error", status=200, times=4)
    socket_bot.slack.socket.disconnect("warning")
    deadline = time.monotonic() + 15
    status, checks = readyz(socket_bot)
    while status == 200 and time.monotonic() < deadline:
        status, checks = readyz(socket_bot)
    assert status == 503 and not checks["slack-socket"]["ok"]
    assert "Socket Mode connection to Slack is not open" in str(checks["slack-socket"]["error"])
    assert checks["database"]["ok"]  # only the link is down
    assert socket_bot.socket is not None and socket_bot.socket.wait_ready(30, after_hellos=1)
    assert readyz(socket_bot)[0] == 200


def test_http_serves_alerts_health_and_metrics_but_not_slack_events(socket_bot: LocalBot, unique: str) -> None:
    signed = SlackSender(socket_bot.url, "0" * 32).slash("/incident", "help", user_id="U0ALICE", channel_id="C0X")
    assert signed.status_code == 404
    assert "Socket Mode" in signed.json()["reason"]
    assert requests.get(socket_bot.url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert readyz(socket_bot)[0] == 200
    metrics = requests.get(socket_bot.url + "/metrics", timeout=5)
    assert metrics.status_code == 200 and 'route="/slack/events"' in metrics.text
    labels = {"alertname": "KafkaConsumerLagHigh", "severity": "warning", "consumergroup": f"g-{unique}"}
    alert = alertmanager(f"gk-{unique}", [am_alert(f"fp-{unique}", labels, summary="lagging")])
    answer = send(socket_bot, alert)
    assert answer.status_code == 200
    ref = answer.json()["incident"]
    assert any(ref in m.text for m in socket_bot.slack.state.messages("C0INCIDENTS"))


def test_the_app_token_only_opens_connections(local_slack: LocalSlack) -> None:
    def call(method: str, token: str) -> dict[str, object]:
        answer: dict[str, object] = requests.post(local_slack.url + method, headers={"Authorization": f"Bearer {token}"},
                                                  data={"channel": "C0INCIDENTS", "text": "hi"}, timeout=5).json()
        return answer

    assert call("apps.connections.open", "xoxb-test-0000-token") == {"ok": False, "error": "not_allowed_token_type"}
    assert call("apps.connections.open", "xapp-1-A0LOCAL-wrong") == {"ok": False, "error": "invalid_auth"}
    assert call("chat.postMessage", local_slack.app_token) == {"ok": False, "error": "not_allowed_token_type"}
    opened = call("apps.connections.open", local_slack.app_token)
    assert opened["ok"] is True and str(opened["url"]).startswith("ws://127.0.0.1:")
    assert "/link/?ticket=" in str(opened["url"])
