"""`incidentbot serve` behind its HTTP front (bot/app/front.py), against the real
brokers: Slack's commands and button presses are answered at once with an empty
200 and then done by the bot, a command's first message and its reply arriving on
its response_url in that order; forged and malformed requests are refused by the
front; everything else passes through to the bot and back unchanged; the front
ends with the bot, and a stopping bot first finishes what the front answered."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from bot import db
from bot.incidents import service
from bot.localslack.sender import SlackSender
from bot.localslack.server import LocalSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TOKEN, free_port
from tests.test_escalation_restart import kill_with_children, serve

CHANNEL, ALICE, BOB = "C0INCIDENTS", "U0ALICE", "U0BOB"


class Bot:
    def __init__(self, folder: Path, slack: LocalSlack, process: subprocess.Popen[bytes], port: int) -> None:
        self.folder, self.slack, self.process = folder, slack, process
        self.url = f"http://127.0.0.1:{port}"
        self.sender = SlackSender(self.url, SIGNING_SECRET)

    def posts(self, url: str) -> list[dict[str, Any]]:
        url_id = url.rsplit("/", 1)[1]
        return [p.payload for p in self.slack.state.response_url_posts() if p.url_id == url_id]

    def wait_posts(self, url: str, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        return self.slack.state.wait_for(lambda: (found := self.posts(url)) and len(found) >= n and found,
                                         timeout=timeout)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("serve-*.log")))


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, brokers: None) -> Iterator[Bot]:
    folder = tmp_path_factory.mktemp("front")
    slack = LocalSlack(token=BOT_TOKEN)
    slack.start()
    port = free_port()
    process = serve(folder, slack, port)
    yield Bot(folder, slack, process, port)
    process.terminate()
    process.wait(30)
    slack.stop()


def test_a_command_is_answered_empty_then_its_first_message_and_reply_arrive_in_order(bot: Bot) -> None:
    url = bot.slack.response_url(CHANNEL, ALICE)
    answer = bot.sender.slash("/lag", "", user_id=ALICE, channel_id=CHANNEL, response_url=url)
    assert (answer.status_code, answer.content) == (200, b"")
    first, reply = bot.wait_posts(url, 2)[:2]
    assert first["text"] == "Reading the lag of every consumer group on `local`…"
    assert "blocks" not in first
    assert reply["blocks"], reply
    assert "Consumer lag" in reply["text"] or "lag" in reply["text"].lower()


def test_a_usage_error_and_an_immediate_reply_come_on_the_response_url(bot: Bot) -> None:
    url = bot.slack.response_url(CHANNEL, ALICE)
    answer = bot.sender.slash("/lag", "a b c", user_id=ALICE, channel_id=CHANNEL, response_url=url)
    assert (answer.status_code, answer.content) == (200, b"")
    (said,) = bot.wait_posts(url, 1)
    assert said["text"] == "Too many arguments: `c`. Usage: `/lag [group] [topic] [--cluster NAME] [--chart]`"
    assert said["response_type"] == "ephemeral"
    url = bot.slack.response_url(CHANNEL, ALICE)
    bot.sender.slash("/incident", "status", user_id=ALICE, channel_id=CHANNEL, response_url=url)
    (said,) = bot.wait_posts(url, 1)
    assert said["text"].startswith("Which incident? Run this in its thread, or name it: `/incident status INC-…`.")


def test_forged_stale_and_malformed_requests_are_refused_by_the_front(bot: Bot) -> None:
    form = urlencode({"command": "/lag", "text": "", "user_id": ALICE, "channel_id": CHANNEL}).encode()
    unsigned = requests.post(bot.url + "/slack/events", data=form, timeout=10)
    assert unsigned.status_code == 401
    assert unsigned.json()["reason"] == "X-Slack-Request-Timestamp or X-Slack-Signature is missing"
    for signing in ({"secret": "not-the-secret"}, {"timestamp": int(time.time()) - 301}):
        refused = bot.sender.post_signed(form, **signing)
        assert refused.status_code == 401, signing
        assert "does not match" in refused.json()["reason"]
    broken = bot.sender.post_signed(urlencode({"payload": "{not json"}).encode())
    assert broken.status_code == 400
    assert "payload" in broken.json()["reason"]
    too_big = bot.sender.post_signed(b"text=" + b"x" * (1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert too_big.json()["reason"].startswith("the limit is ")
    assert "Traceback" not in bot.log()


def test_everything_else_passes_through_to_the_bot(bot: Bot, unique: str) -> None:
    alert = requests.post(bot.url + "/alerts/generic", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10,
                          json={"title": f"Front {unique}", "dedup_key": unique,
                                "labels": {"consumergroup": f"front-{unique}"}})
    assert alert.status_code == 200
    assert alert.json()["status"] == "accepted" and alert.json()["incident"].startswith("INC-")
    wrong = requests.post(bot.url + "/alerts/generic", headers={"Authorization": "Bearer wrong"}, timeout=10,
                          json={"title": "x"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    unknown = requests.post(bot.url + "/alerts/nosuch", json={}, timeout=10)
    assert unknown.status_code == 404 and "no enabled alert source 'nosuch'" in unknown.json()["reason"]
    assert requests.get(bot.url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(bot.url + "/readyz", timeout=10)
    assert ready.status_code == (200 if ready.json()["ready"] else 503), ready.text  # the bot's own answer
    metrics = requests.get(bot.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert "incidentbot_http_requests_total" in metrics.text
    # Slack's own requests whose answer carries something go to the bot and back.
    challenge = json.loads((Path(__file__).parent / "payloads" / "slack_url_verification.json").read_text())
    verified = bot.sender.post_signed(json.dumps(challenge).encode(), content_type="application/json")
    assert verified.status_code == 200 and challenge["challenge"] in verified.text


def test_a_button_press_is_answered_empty_and_done(bot: Bot, unique: str) -> None:
    ref = requests.post(bot.url + "/alerts/generic", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10,
                        json={"title": f"Press {unique}", "dedup_key": f"press-{unique}",
                              "labels": {"consumergroup": f"press-{unique}"}}).json()["incident"]

    def card() -> Any:
        for message in bot.slack.state.messages(CHANNEL):
            for block in message.blocks or []:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("action_id") == "incident_acknowledge" and element.get("value") == ref:
                        return message, {**element, "block_id": block.get("block_id", "")}
        return None

    message, element = bot.slack.state.wait_for(card, timeout=30)
    answer = bot.sender.block_action(user_id=BOB, channel_id=CHANNEL, message_ts=message.ts, action=element)
    assert (answer.status_code, answer.content) == (200, b"")
    engine = db.create(f"sqlite:///{bot.folder / 'bot.db'}")
    try:
        deadline = time.time() + 30
        while (incident := service.get(engine, ref)) is None or incident.acknowledged_at is None:
            assert time.time() < deadline, "the press was not done"
            time.sleep(0.1)
    finally:
        engine.dispose()
    assert bot.slack.state.wait_for(lambda: any("acknowledged" in m.text.lower() and BOB in m.text
                                                for m in bot.slack.state.messages(CHANNEL, message.ts)), timeout=30)


def test_a_stopping_bot_first_does_what_the_front_answered(tmp_path: Path, local_slack: LocalSlack,
                                                          brokers: None) -> None:
    port = free_port()
    process = serve(tmp_path, local_slack, port)
    sender = SlackSender(f"http://127.0.0.1:{port}", SIGNING_SECRET)
    urls = [local_slack.response_url(CHANNEL, ALICE) for _ in range(20)]
    for url in urls:
        assert sender.slash("/incident", "status", user_id=ALICE, channel_id=CHANNEL,
                            response_url=url).status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    answered = {p.url_id for p in local_slack.state.response_url_posts()}
    assert answered >= {u.rsplit("/", 1)[1] for u in urls}, "a command the front answered was dropped"


def test_the_front_ends_with_a_killed_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> None:
    port = free_port()
    process = serve(tmp_path, local_slack, port)
    kill_with_children(process, "no front process")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_a_port_in_use_is_said_in_one_line(tmp_path: Path, local_slack: LocalSlack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_")}
        env.update({"INCIDENTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
                    "INCIDENTBOT_SLACK__BOT_TOKEN": BOT_TOKEN, "INCIDENTBOT_SLACK__SIGNING_SECRET": SIGNING_SECRET,
                    "INCIDENTBOT_SLACK__API_URL": local_slack.url, "INCIDENTBOT_HTTP__PORT": str(port)})
        done = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"incidentbot: http: cannot listen on 127.0.0.1:{port} (Address already in use)" in done.stderr
    assert "Traceback" not in done.stderr
