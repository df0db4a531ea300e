"""The shape check in front of Bolt: what Slack sends passes, the rest is refused
naming the field (never quoting its value)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.slack.inbound import BadRequest, check_body, check_payload

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
FORM = "application/x-www-form-urlencoded"


def interaction(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_the_documented_bodies_pass() -> None:
    assert check_body((PAYLOADS / "slack_slash_command.urlencoded").read_bytes(), FORM)["command"] == "/weather"
    for name in ("slack_block_actions.json", "slack_view_submission.json"):
        payload = json.loads((PAYLOADS / name).read_text())
        assert check_body(interaction(payload), FORM) == payload
    assert check_body((PAYLOADS / "slack_url_verification.json").read_bytes(), "application/json")["type"] == \
        "url_verification"


ACTION = {"action_id": "a"}
REFUSED = [
    ("payload not JSON", b"payload=%7Bnot", FORM, "payload: not JSON"),
    ("payload a list", interaction([1]), FORM, "payload: must be a JSON object"),
    ("no type", interaction({}), FORM, "payload.type: missing (the payload must say which kind it is)"),
    ("type a number", interaction({"type": 5}), FORM, "payload.type: not a type this app handles"),
    ("view without type", interaction({"type": "view_submission", "view": {"callback_id": "c",
                                                                           "state": {"values": {}}}}),
     FORM, "payload.view.type: Field required"),
    ("view without state", interaction({"type": "view_closed", "view": {"type": "modal", "callback_id": "c"}}),
     FORM, "payload.view.state: Field required"),
    ("no view", interaction({"type": "view_submission"}), FORM, "payload.view: Field required"),
    ("actions empty", interaction({"type": "block_actions", "actions": []}), FORM, "payload.actions: List should"),
    ("action without id", interaction({"type": "block_actions", "actions": [{}]}), FORM,
     "payload.actions.0.action_id: Field required"),
    ("user a number", interaction({"type": "block_actions", "actions": [ACTION], "user": 5}), FORM,
     "payload.user: must be a string or an object whose `id` is a string"),
    ("authorizations of numbers", interaction({"type": "block_actions", "actions": [ACTION], "authorizations": [1]}),
     FORM, "payload.authorizations.0: must be a JSON object"),
    ("shortcut without callback", interaction({"type": "shortcut"}), FORM, "payload.callback_id: Field required"),
    ("message_action without callback", interaction({"type": "message_action"}), FORM,
     "payload.callback_id: Field required"),
    ("event without event", b'{"type": "event_callback"}', "application/json", "body.event: Field required"),
    ("event without its type", b'{"type": "event_callback", "event": {}}', "application/json",
     "body.event.type: Field required"),
    ("json not an object", b"[]", "application/json", "body: must be a JSON object"),
    ("form without command", b"text=hi", FORM, "form.command: Field required"),
    ("form with odd authorizations", b"command=/ops&authorizations=x", FORM, "form.authorizations:"),
    ("not utf-8", b"\xff\xfe", FORM, "body: not UTF-8"),
    ("another content type", b"x", "text/plain", "Content-Type: not one Slack sends"),
]


@pytest.mark.parametrize(("body", "content_type", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_naming_the_field(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(BadRequest) as refused:
        check_body(body, content_type)
    assert refused.value.reason.startswith(reason)


def test_a_refusal_never_quotes_the_value() -> None:
    with pytest.raises(BadRequest) as refused:
        check_body(interaction({"type": "block_actions", "actions": [{"action_id": ["secret-words"]}]}), FORM)
    assert "secret-words" not in refused.value.reason


def test_a_slash_command_that_says_payload_stays_a_slash_command() -> None:
    # Bolt's own parser would take this body for an (empty) interaction.
    assert check_body(b"command=%2Fops&text=payload+%7B", FORM) == {"command": "/ops", "text": "payload {"}


ENVELOPES = [
    ("interactive ok", "interactive", {"type": "shortcut", "callback_id": "c"}, None),
    ("interactive no type", "interactive", {"view": {}}, "payload.type: missing"),
    ("events ok", "events_api", {"type": "event_callback", "event": {"type": "app_mention"}}, None),
    ("events bad", "events_api", {"type": "event_callback", "event": []}, "payload.event: must be a JSON object"),
    ("slash ok", "slash_commands", {"command": "/ops", "text": ""}, None),
    ("slash without command", "slash_commands", {"text": "x"}, "payload.command: Field required"),
    ("unknown envelope", "hello_there", {}, "type: not an envelope type"),
]


@pytest.mark.parametrize(("kind", "payload", "reason"), [c[1:] for c in ENVELOPES], ids=[c[0] for c in ENVELOPES])
def test_socket_mode_payloads(kind: str, payload: Any, reason: str | None) -> None:
    if reason is None:
        assert check_payload(kind, payload) == payload
        return
    with pytest.raises(BadRequest) as refused:
        check_payload(kind, payload)
    assert refused.value.reason.startswith(reason)


def test_a_refusal_never_quotes_the_senders_block_ids() -> None:
    view = {"type": "modal", "callback_id": "c", "state": {"values": {"what alice typed": {"a": 5}}}}
    with pytest.raises(BadRequest) as refused:
        check_body(interaction({"type": "view_submission", "view": view}), FORM)
    assert refused.value.reason == "payload.view.state.values.*.*: must be a JSON object"
