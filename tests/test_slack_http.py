"""The bot's HTTP surface, through the real server: Slack signatures, slash command
round trips to the local Slack stand-in, health, readiness and metrics."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from bot.app.localbot import LocalBot
from bot.incidents import ladder, service
from bot.localslack.server import LocalSlack
from tests.conftest import SIGNING_SECRET, free_port, make_settings, start_bot


def test_valid_signature_is_accepted(bot: LocalBot) -> None:
    response = bot.slash("/incident help")
    assert response.status_code == 200
    assert response.json()["text"].startswith(
        "Incident bot commands\n\n*incident*: open, acknowledge, resolve and follow incidents\n")


def test_wrong_signature_is_rejected(bot: LocalBot) -> None:
    response = bot.slash("/incident help", secret="0" * 32)
    assert response.status_code == 401


def test_stale_timestamp_is_rejected(bot: LocalBot) -> None:
    six_minutes_ago = int(time.time()) - 6 * 60
    response = bot.slash("/incident help", timestamp=six_minutes_ago)
    assert response.status_code == 401


def test_unsigned_request_is_rejected(bot: LocalBot) -> None:
    response = requests.post(bot.url + "/slack/events", data={"command": "/incident", "text": "help"}, timeout=5)
    assert response.status_code == 401


@pytest.mark.both_transports
def test_help_lists_commands_directly_and_through_the_umbrella(bot: LocalBot) -> None:
    direct = bot.slash("/incident help").json()
    umbrella = bot.slash("/ops incident help").json()
    assert direct["response_type"] == "ephemeral"
    assert direct["text"] == umbrella["text"]
    assert "/incident help" in direct["text"] and "/ops status" in direct["text"]
    assert any(b["type"] == "header" for b in direct["blocks"])


@pytest.mark.both_transports
def test_unknown_command_gets_a_usage_message(bot: LocalBot) -> None:
    reply = bot.slash("/ops frobnicate now").json()
    assert reply["response_type"] == "ephemeral"
    assert "I don't know `frobnicate`" in reply["text"] and "/ops help" in reply["text"]
    reply = bot.slash("/incident explode").json()
    assert "not a subcommand I know" in reply["text"]


@pytest.mark.both_transports
def test_status_round_trip_reaches_slack_after_the_ack(bot: LocalBot) -> None:
    response = bot.slash("/ops status")
    assert response.status_code == 200
    assert "Checking" in response.json()["text"]
    posts = bot.slack.state.response_url_posts()
    assert len(posts) == 1
    text = posts[0]["text"]
    assert text.startswith("Bot status: OK: All connections are up.")
    rows = {line.split()[1]: line.split(None, 2)[2] for line in text.splitlines()[2:] if line.startswith(("OK ", "DOWN "))}
    assert all(line.startswith("OK ") for line in text.splitlines()[2:-1]), text
    assert rows["kafka:local"].startswith("1 broker")
    assert rows["rabbitmq:local"].startswith("RabbitMQ")
    assert rows["database"].startswith("sqlite")


def test_healthz_and_readyz(bot: LocalBot) -> None:
    assert requests.get(bot.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(bot.url + "/readyz", timeout=15)
    assert ready.status_code == 200
    checks = {c["name"]: c for c in ready.json()["checks"]}
    assert checks["kafka:local"]["ok"] and checks["rabbitmq:local"]["ok"] and checks["database"]["ok"]
    assert checks["escalation-timers"]["ok"]
    assert checks["escalation-timers"]["detail"].startswith("running the escalation timers (process ")


def test_a_dead_timer_process_is_reported_and_replaced(bot: LocalBot) -> None:
    escalator = bot.ctx.escalator
    assert escalator is not None and escalator.timers is not None and escalator.timers.pid
    first = escalator.timers.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.time() + 10
    while True:
        timers = {c["name"]: c for c in requests.get(bot.url + "/readyz", timeout=15).json()["checks"]}[
            "escalation-timers"]
        if timers["ok"] and str(first) not in timers["detail"]:
            break  # the timer owner started another one at its next tick
        assert time.time() < deadline, timers
        time.sleep(0.05)
    assert escalator.timers is not None and escalator.timers.alive and escalator.timers.pid != first


def test_steps_a_dead_timer_process_claimed_but_never_handed_over_fire_again(bot: LocalBot) -> None:
    """The timer process dies between claiming a step and handing it to the bot:
    the step must not stay claimed forever (its page would never be sent)."""
    opened = bot.slash("/incident open Timer process dies --group tp-dies").json()["text"]
    ref = opened.split()[1]
    incident = service.get(bot.ctx.engine, ref)
    escalator = bot.ctx.escalator
    assert incident is not None and escalator is not None and escalator.timers is not None
    dying = escalator.timers
    # What the child does first: claim the step (its timer fell due)...
    assert ladder.claim(bot.ctx.engine, [(incident.id, 5.0)], time.time(), dying.owner)
    os.kill(dying.pid or 0, signal.SIGKILL)  # ...and dies before handing it over
    deadline = time.time() + 10
    while True:
        with bot.ctx.engine.connect() as conn:
            step = next(s for s in ladder.steps(conn, incident.id) if s.minute == 5.0)
        if step.status == "pending" and escalator.timers is not dying and escalator.store.lookup_job(step.job_id):
            break  # pending again, with a timer again
        assert time.time() < deadline, step
        time.sleep(0.05)
    assert step.attempts == 1  # it was claimed once, and fires when due


def test_readyz_names_kafka_when_it_is_unreachable(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> None:
    closed = f"127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, kafka={"local": {"bootstrap_servers": closed, "request_timeout_s": 1}})
    running = start_bot(settings, local_slack)
    try:
        ready = requests.get(running.url + "/readyz", timeout=15)
    finally:
        running.close()
    assert ready.status_code == 503
    body = ready.json()
    assert body["ready"] is False
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["kafka:local"]["ok"] is False
    assert "Broker transport failure" in checks["kafka:local"]["error"]
    assert checks["rabbitmq:local"]["ok"] and checks["database"]["ok"]


def metric(bot: LocalBot, name: str, **labels: str) -> float:
    """The value of one sample of the bot's /metrics, 0 when it has never been counted
    (prometheus-client prints HELP and TYPE for every metric, even one never used)."""
    text = requests.get(bot.url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_count_requests_and_commands(bot: LocalBot) -> None:
    # The registry lives as long as the test process, so each count is read before and after.
    ok = {"method": "POST", "route": "/slack/events", "status": "200"}
    refused = {"method": "POST", "route": "/slack/events", "status": "401"}
    acked = {"command": "incident", "phase": "ack"}
    failed = {"method": "chat.postMessage", "error": "channel_not_found"}
    before = {
        "ok": metric(bot, "incidentbot_http_requests_total", **ok),
        "refused": metric(bot, "incidentbot_http_requests_total", **refused),
        "acked": metric(bot, "incidentbot_command_seconds_count", **acked),
        "failed": metric(bot, "incidentbot_slack_api_errors_total", **failed),
    }
    assert bot.slash("/incident help").status_code == 200
    assert bot.slash("/incident help", secret="f" * 32).status_code == 401
    with pytest.raises(SlackApiError):
        bot.ctx.slack.chat_postMessage(channel="C0NOSUCHCHANNEL", text="lost")
    assert metric(bot, "incidentbot_http_requests_total", **ok) == before["ok"] + 1
    assert metric(bot, "incidentbot_http_requests_total", **refused) == before["refused"] + 1
    assert metric(bot, "incidentbot_command_seconds_count", **acked) == before["acked"] + 1
    assert metric(bot, "incidentbot_slack_api_errors_total", **failed) == before["failed"] + 1


def test_oversized_body_gets_413_with_a_reason(bot: LocalBot) -> None:
    body = b"x" * (bot.ctx.settings.http.max_body_bytes + 1)
    response = bot.sender.post_signed(body)
    assert response.status_code == 413
    assert response.json()["error"] == "Request Entity Too Large"


def test_unknown_route_is_json_404(bot: LocalBot) -> None:
    response = requests.get(bot.url + "/nope", timeout=5)
    assert response.status_code == 404 and response.json()["error"] == "Not Found"


def test_slack_secret_never_in_responses(bot: LocalBot) -> None:
    bodies = [bot.slash("/incident help").text, requests.get(bot.url + "/readyz", timeout=15).text,
              requests.get(bot.url + "/metrics", timeout=5).text]
    assert not any(SIGNING_SECRET in b or "xoxb-test" in b for b in bodies)
