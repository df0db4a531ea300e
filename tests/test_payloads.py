"""The platforms' own example request bodies (tests/payloads/, see its README),
replayed through the bot's real HTTP server. Slack requests are signed here with
Slack's documented algorithm, not with our sender, so a misunderstanding shared by
our sender and our Slack stand-in cannot hide. Only ids that must match this
installation are substituted, each one named where it is made."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.slack.ids import SCHEMA_BLOCK, SCHEMA_INPUT, Action, Callback
from tests.conftest import GRAFANA_SECRET, SIGNING_SECRET, TOKEN, send

PAYLOADS = Path(__file__).parent / "payloads"


def raw(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def documented(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def slack_post(bot: LocalBot, body: bytes, content_type: str) -> requests.Response:
    """POST as Slack does: `X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))`
    (https://docs.slack.dev/authentication/verifying-requests-from-slack), then wait
    until the bot has done everything it does after answering."""
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    response = requests.post(f"{bot.url}/slack/events", data=body, timeout=10, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
    bot.ctx.work.wait_idle(60)
    return response


def interaction(payload: dict[str, Any]) -> bytes:
    """Interactivity arrives as a form with one field, `payload`, holding the JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def with_fields(form: bytes, **changes: str) -> bytes:
    """The documented form body with some fields' values replaced; every other byte,
    order and escape kept as the documentation wrote it."""
    out = []
    for pair in form.decode().split("&"):
        key = pair.split("=", 1)[0]
        out.append(f"{key}={quote(changes.pop(key), safe='')}" if key in changes else pair)
    assert not changes, f"fields not in the documented body: {sorted(changes)}"
    return "&".join(out).encode()


def parent_of(bot: LocalBot, ref: str) -> Any:
    return next(m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith("[") and ref in m.text
                and m.thread_ts in (None, m.ts))


def fields_of(message: Any) -> list[str]:
    return [f["text"] for b in message.blocks if b["type"] == "section" for f in b.get("fields", [])]


def buttons_of(message: Any) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_url_verification_answers_the_challenge(bot: LocalBot) -> None:
    body = raw("slack_url_verification.json")
    response = slack_post(bot, body, "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_url_verification_with_a_wrong_signature_is_refused(bot: LocalBot) -> None:
    body = raw("slack_url_verification.json")
    response = requests.post(f"{bot.url}/slack/events", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64})
    assert response.status_code == 401
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" not in response.text


def test_slash_command_gets_its_reply(bot: LocalBot) -> None:
    body = with_fields(raw("slack_slash_command.urlencoded"), command="/ops", text="help",
                       channel_id="C0INCIDENTS", user_id="U0ALICE",
                       response_url=bot.slack.response_url(), trigger_id=bot.slack.issue_trigger_id())
    response = slack_post(bot, body, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    reply = response.json()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Incident bot commands\n\n*incident*: open, acknowledge, resolve and follow "
                                    "incidents\n  `/incident open <title> [--severity critical|warning|info]")
    assert reply["text"].endswith("Every command also works through `/ops`, e.g. `/ops incident help`, for "
                                  "workspaces where another app already owns the name.")
    assert reply["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Incident bot commands",
                                                             "emoji": True}}


def test_slash_command_answers_later_through_its_response_url(bot: LocalBot) -> None:
    body = with_fields(raw("slack_slash_command.urlencoded"), command="/ops", text="status",
                       channel_id="C0INCIDENTS", user_id="U0ALICE",
                       response_url=bot.slack.response_url(), trigger_id=bot.slack.issue_trigger_id())
    response = slack_post(bot, body, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.json()["text"] == "Checking Kafka, RabbitMQ and the database…"
    [later] = bot.slack.state.response_url_posts(channel="C0INCIDENTS", user="U0ALICE")
    assert later["response_type"] == "ephemeral"
    assert later["text"].splitlines()[0] == "Bot status: OK: All connections are up."


def test_block_actions_press_acknowledges_a_real_incident(bot: LocalBot, unique: str) -> None:
    opened = bot.slash(f"/incident open Orders lag {unique} --group billing-{unique}").json()["text"]
    ref = opened.split()[1]
    parent = parent_of(bot, ref)
    [acknowledge] = [b for b in buttons_of(parent) if b["action_id"] == Action.ACKNOWLEDGE]
    [actions_block] = [b for b in parent.blocks if b["type"] == "actions"]

    payload = copy.deepcopy(documented("slack_block_actions.json"))
    payload["user"]["id"] = "U0BOB"
    payload["channel"]["id"] = payload["container"]["channel_id"] = parent.channel
    payload["container"]["message_ts"] = payload["message"]["ts"] = parent.ts
    press = payload["actions"][0]
    press.update(action_id=acknowledge["action_id"], block_id=actions_block["block_id"],
                 value=acknowledge["value"], text=acknowledge["text"], action_ts=f"{time.time():.6f}")
    response = slack_post(bot, interaction(payload), "application/x-www-form-urlencoded")

    assert response.status_code == 200
    after = parent_of(bot, ref)
    assert after.text == f"[WARNING] {ref}: Orders lag {unique} (acknowledged)"
    assert "*Status*\n:eyes: Acknowledged" in fields_of(after)
    assert "*Commander*\n<@U0BOB>" in fields_of(after)
    assert [b["text"]["text"] for b in buttons_of(after)] == ["Run checks", "Resolve"]
    thread = [m.text for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)]
    assert f"{ref} acknowledged by <@U0BOB>; they are the incident commander." in thread
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None and incident.commander == "U0BOB"


def test_view_submission_with_an_invalid_schema_returns_errors(bot: LocalBot) -> None:
    bot.slash("/schema orders-value --check")
    [modal] = bot.slack.state.views(user_id="U0ALICE", type="modal")
    assert modal.payload["callback_id"] == Callback.SCHEMA_CHECK

    payload = copy.deepcopy(documented("slack_view_submission.json"))
    payload["user"]["id"] = "U0ALICE"
    view = payload["view"]
    view.update(id=modal.id, hash=modal.hash, callback_id=modal.payload["callback_id"],
                private_metadata=modal.payload["private_metadata"])
    values = view["state"]["values"]
    values[SCHEMA_BLOCK] = {SCHEMA_INPUT: values.pop("multiline").pop("mlvalue")}
    assert values[SCHEMA_BLOCK][SCHEMA_INPUT]["value"] == "This is my example inputted value"  # as documented
    response = slack_post(bot, interaction(payload), "application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert response.json() == {"response_action": "errors",
                               "errors": {SCHEMA_BLOCK: "Not valid JSON: Expecting value (line 1, column 1)."}}
    assert bot.slack.state.messages() == []  # nothing was checked, nothing was posted


def test_alertmanager_example_becomes_an_incident(alerting_bot: LocalBot) -> None:
    answer = send(alerting_bot, None, source="alertmanager", token=TOKEN, raw=raw("alertmanager_webhook_v4.json"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "accepted" and body["created"] is True and body["duplicate"] is False
    ref = body["incident"]
    parent = parent_of(alerting_bot, ref)
    assert parent.text == f"[CRITICAL] {ref}: Consumer group billing lags on orders (open)"
    assert "*Subject*\ncluster `local`, group `billing`, topic `orders`" in fields_of(parent)
    assert "*Runbook*\nHigh consumer lag" in fields_of(parent)
    incident = service.get(alerting_bot.ctx.engine, ref)
    assert incident is not None and incident.runbook_id == "high-consumer-lag"
    again = send(alerting_bot, None, source="alertmanager", token=TOKEN, raw=raw("alertmanager_webhook_v4.json"))
    assert again.json() == {"status": "accepted", "incident": ref, "created": False, "duplicate": True}


def test_grafana_example_becomes_an_incident(alerting_bot: LocalBot) -> None:
    body = raw("grafana_webhook.json")
    stamp = str(int(time.time()))
    signature = hmac.new(GRAFANA_SECRET.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    answer = send(alerting_bot, None, source="grafana", token=None, raw=body, headers={
        "X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Signature-Timestamp": stamp})
    assert answer.status_code == 200 and answer.json()["created"] is True
    ref = answer.json()["incident"]
    parent = parent_of(alerting_bot, ref)
    # The documented labels name no cluster, group, topic or queue: nothing for the checks to inspect,
    # so no runbook matches and the labels are posted for a person to read.
    assert parent.text == f"[WARNING] {ref}: This alert was triggered for zone us-1 (open)"
    assert "*Subject*\nno subject named" in fields_of(parent)
    assert "*Runbook*\nTriage an unrecognised alert" in fields_of(parent)
    thread = [m.text for m in alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)]
    assert ("No runbook matched this alert, so it follows generic triage. Labels seen: "
            "alertname=High memory usage, team=blue, zone=us-1. No runbook's matcher fits "
            "`alertname=High memory usage`, and no label names a DLQ, consumer group, queue or broker "
            "(such as consumergroup, group_id, topic, queue, instance or pod).") in thread


MISSING = [
    ("signature", "X-Grafana-Alerting-Signature", "missing X-Grafana-Alerting-Signature header"),
    ("timestamp", "X-Grafana-Alerting-Signature-Timestamp",
     "missing or unreadable X-Grafana-Alerting-Signature-Timestamp header"),
]


@pytest.mark.parametrize(("header", "reason"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_grafana_example_without_a_signature_header_is_refused(alerting_bot: LocalBot, header: str,
                                                               reason: str) -> None:
    body = raw("grafana_webhook.json")
    stamp = str(int(time.time()))
    headers = {"X-Grafana-Alerting-Signature": hmac.new(GRAFANA_SECRET.encode(), stamp.encode() + b":" + body,
                                                        hashlib.sha256).hexdigest(),
               "X-Grafana-Alerting-Signature-Timestamp": stamp}
    del headers[header]
    answer = send(alerting_bot, None, source="grafana", token=None, raw=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "unauthorized", "reason": reason}
    assert alerting_bot.slack.state.messages() == []
