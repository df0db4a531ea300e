"""`incidentbot serve` with `slack.socket_mode: true`, as its own process: what it
needs (an app-level token, no signing secret), what it says when the token is
missing or refused, and that the token stays out of its output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from bot.localslack.sender import slash_payload
from bot.localslack.server import LocalSlack
from tests.conftest import APP_TOKEN, BOT_TOKEN, KAFKA, RABBIT_MGMT, RABBIT_PORT, free_port

CLI = [sys.executable, "-m", "bot.cli"]


def env_for(tmp_path: Path, slack: LocalSlack | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_")}
    env.update({
        "INCIDENTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "INCIDENTBOT_SLACK__SOCKET_MODE": "true", "INCIDENTBOT_SLACK__BOT_TOKEN": BOT_TOKEN,
        "INCIDENTBOT_KAFKA__LOCAL__BOOTSTRAP_SERVERS": KAFKA, "INCIDENTBOT_RABBITMQ__LOCAL__PORT": str(RABBIT_PORT),
        "INCIDENTBOT_RABBITMQ__LOCAL__MANAGEMENT_URL": RABBIT_MGMT,
    })
    if slack is not None:
        env["INCIDENTBOT_SLACK__API_URL"] = slack.url
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


def test_socket_mode_without_an_app_token_stops_with_one_line(tmp_path: Path) -> None:
    result = run(["serve"], env_for(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "incidentbot: slack.app_token: required for Socket Mode (slack.socket_mode: true): set "
        "INCIDENTBOT_SLACK__APP_TOKEN, or INCIDENTBOT_SLACK__SOCKET_MODE=false to receive Slack over HTTP"]


def test_a_refused_app_token_stops_with_one_line(tmp_path: Path, local_slack: LocalSlack) -> None:
    wrong = "xapp-1-A0LOCAL-not-the-one-slack-knows"
    result = run(["serve"], env_for(tmp_path, local_slack, INCIDENTBOT_SLACK__APP_TOKEN=wrong,
                                    INCIDENTBOT_HTTP__PORT=str(free_port())))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "incidentbot: slack.app_token: Slack did not accept it (invalid_auth)"
    assert wrong not in result.stderr + result.stdout


def test_check_config_masks_the_app_token(tmp_path: Path) -> None:
    result = run(["check-config"], env_for(tmp_path, INCIDENTBOT_SLACK__APP_TOKEN=APP_TOKEN))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["slack"]
    assert shown["socket_mode"] is True and shown["app_token"] == "********"
    assert APP_TOKEN not in result.stdout + result.stderr


def test_serve_answers_over_the_socket_without_a_signing_secret(tmp_path: Path, local_slack: LocalSlack,
                                                               brokers: None) -> None:
    port = free_port()
    env = env_for(tmp_path, local_slack, INCIDENTBOT_SLACK__APP_TOKEN=APP_TOKEN, INCIDENTBOT_HTTP__PORT=str(port),
                  INCIDENTBOT_LOG_LEVEL="DEBUG")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        local_slack.socket.wait_for_links(1, timeout=30)
        command = slash_payload("/incident", "help", user_id="U0ALICE", channel_id="C0INCIDENTS")
        envelope = local_slack.socket.deliver("slash_commands", command, accepts_response_payload=True)
        assert envelope.acked
        assert "/ops status" in local_slack.state.ephemerals(user="U0ALICE")[-1].text
        base = f"http://127.0.0.1:{port}"
        assert requests.post(base + "/slack/events", data=b"command=/incident", timeout=5).status_code == 404
        # The timers start after the socket link, and /readyz says 503 until their process runs.
        deadline = time.time() + 30
        while (ready := requests.get(base + "/readyz", timeout=15)).status_code != 200:
            assert time.time() < deadline, ready.text
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0
    text = log.read_text()
    assert "incidentbot receiving Slack over Socket Mode" in text
    assert APP_TOKEN not in text and BOT_TOKEN not in text
    # The stand-in saw the bot leave: its connection is closed.
    local_slack.socket.wait(lambda: not any(link.open for link in local_slack.socket.links()), timeout=10)
