"""Generated Slack request bodies, shaped like and unlike what Slack sends, for the
property tests (tests/test_slack_fuzz.py) and the benchmark (bench/fuzz_slack.py).

Bodies are signed with Slack's documented algorithm (v0 HMAC-SHA256 over
`v0:{timestamp}:{body}`, as tests/test_payloads.py does), so they pass the
signature check and reach the shape check and Bolt behind it."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from hypothesis import strategies as st

from bot.slack.ids import (
    CONFIRM_BLOCK,
    CONFIRM_INPUT,
    REASON_BLOCK,
    REASON_INPUT,
    SCHEMA_BLOCK,
    SCHEMA_INPUT,
    Action,
    Callback,
    step_action,
)

PAYLOADS = Path(__file__).parent / "payloads"
# What hypothesis may put where Slack puts ids and text: short, any character.
TEXT = st.text(max_size=40)
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON_TREE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=16)
KNOWN_TYPES = ["block_actions", "view_submission", "view_closed", "shortcut", "message_action",
               "block_suggestion", "interactive_message", "event_callback", "url_verification"]


def _templates() -> list[dict[str, Any]]:
    """Interaction payloads as Slack documents them, one of each kind the bot gets."""
    actions = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
    submission = json.loads((PAYLOADS / "slack_view_submission.json").read_text())
    closed = {**copy.deepcopy(submission), "type": "view_closed", "is_cleared": False}
    shortcut = {"type": "shortcut", "token": "x", "action_ts": "1.2", "team": {"id": "T1", "domain": "d"},
                "user": {"id": "U1", "username": "u", "team_id": "T1"}, "callback_id": "cb", "trigger_id": "1.2.a"}
    message_action = {**shortcut, "type": "message_action", "channel": {"id": "C1", "name": "c"},
                      "message": {"type": "message", "user": "U1", "ts": "1.2", "text": "hi"},
                      "response_url": "https://example.invalid/r"}
    return [actions, submission, closed, shortcut, message_action]


TEMPLATES = _templates()
# This app's own buttons and modals, so that generated payloads reach its handlers too.
OUR_ACTIONS = [str(a) for a in Action] + [step_action(Action.RUN_STEP, "consumer-logs"),
                                          step_action(Action.STEP_DONE, "consumer-logs")]
OUR_CALLBACKS = [str(c) for c in Callback]


@st.composite
def ours(draw: st.DrawFn) -> dict[str, Any]:
    """A press of one of this app's buttons, or a submission of one of its modals,
    with any value: what a handler of ours reads, shaped right, holding anything."""
    if draw(st.booleans()):
        payload = copy.deepcopy(TEMPLATES[0])
        payload["actions"][0].update(action_id=draw(st.sampled_from(OUR_ACTIONS)), value=draw(TEXT))
    else:
        payload = copy.deepcopy(TEMPLATES[1])
        payload["view"].update(callback_id=draw(st.sampled_from(OUR_CALLBACKS)),
                               private_metadata=draw(st.one_of(TEXT, JSON_TREE.map(json.dumps))))
        payload["view"]["state"]["values"] = draw(st.dictionaries(
            st.sampled_from([SCHEMA_BLOCK, REASON_BLOCK, CONFIRM_BLOCK]),
            st.dictionaries(st.sampled_from([SCHEMA_INPUT, REASON_INPUT, CONFIRM_INPUT]),
                            st.fixed_dictionaries({"type": st.just("plain_text_input"), "value": JSON_TREE}),
                            max_size=2), max_size=2))
    return payload


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def slack_like(draw: st.DrawFn) -> dict[str, Any]:
    """A documented payload with a few fields deleted or replaced by anything at all."""
    payload = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(payload)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_TREE)
    return payload


@st.composite
def typed_junk(draw: st.DrawFn) -> dict[str, Any]:
    """A known `type` with whatever fields around it."""
    payload = draw(st.dictionaries(st.text(max_size=12), JSON_TREE, max_size=5))
    payload["type"] = draw(st.sampled_from(KNOWN_TYPES))
    return payload


def _payload_field(payload: Any) -> str:
    return json.dumps(payload)


# The `payload` form field: JSON of a payload shaped like Slack's or unlike it, or no JSON at all.
PAYLOAD_FIELD = st.one_of(
    ours().map(_payload_field),
    slack_like().map(_payload_field),
    typed_junk().map(_payload_field),
    JSON_TREE.map(_payload_field),
    st.text(max_size=60),
)
INTERACTION_BODY = PAYLOAD_FIELD.map(lambda field: urlencode({"payload": field}).encode())
# What the person types after a command: anything, including words Bolt's own parser
# would mistake ("payload", a leading "{").
COMMAND_TEXT = st.one_of(TEXT, st.sampled_from(["", "help", "payload", "{", "{\"a\": 1}", "payload=1",
                                                "incident help", "frobnicate now"]),
                         st.tuples(TEXT, st.sampled_from(["payload", "{", "&", "=", "%"]), TEXT).map("".join))
ANSWERING_COMMANDS = ["/ops", "/incident"]  # answered in the ack itself for text they do not know


@st.composite
def slash_form(draw: st.DrawFn, *, user_id: str = "U0ALICE", channel_id: str = "C0INCIDENTS",
               response_url: str = "") -> dict[str, str]:
    """A slash command as Slack sends it, with any text."""
    return {"token": "x", "team_id": "T0LOCAL", "team_domain": "local", "channel_id": channel_id,
            "channel_name": "incidents", "user_id": user_id, "user_name": "alice",
            "command": draw(st.sampled_from(ANSWERING_COMMANDS)), "text": draw(COMMAND_TEXT),
            "api_app_id": "A0LOCAL", "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": "1.2.a"}


@st.composite
def any_form(draw: st.DrawFn) -> bytes:
    """A form body: a slash command with fields changed, dropped or added, or any fields at all."""
    form: dict[str, str] = draw(slash_form())
    for key in draw(st.lists(st.sampled_from(sorted(form)), max_size=3, unique=True)):
        del form[key]
    form.update(draw(st.dictionaries(st.sampled_from(["command", "text", "user", "team", "channel", "enterprise",
                                                      "authorizations", "response_urls", "thread_ts", "type"])
                                     | st.text(max_size=10), TEXT, max_size=3)))
    if draw(st.booleans()):
        return urlencode(form).encode()
    # Hand-made bodies: odd separators, stray escapes, repeated fields.
    return draw(st.text(max_size=80)).encode() if draw(st.booleans()) else \
        (urlencode(form) + draw(st.sampled_from(["&", "&&", "&text=again", "%", "=", "&=x"]))).encode()


def signed_post(url: str, secret: str, body: bytes, content_type: str = "application/x-www-form-urlencoded",
                session: requests.Session | None = None) -> requests.Response:
    """POST `body` to the bot's Slack endpoint as Slack does, signed."""
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    return (session or requests).post(f"{url}/slack/events", data=body, timeout=10, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
