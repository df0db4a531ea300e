"""Sends slash commands and button clicks to the bot exactly as Slack does over
HTTP: form-encoded bodies signed with `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`.
The payloads themselves are built by functions that Socket Mode's envelopes share."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import requests

from bot.slack.signing import signature


def slash_payload(command: str, text: str = "", *, user_id: str, channel_id: str, team_id: str = "T0LOCAL",
                  user_name: str = "", channel_name: str = "", response_url: str = "", trigger_id: str = "",
                  thread_ts: str | None = None) -> dict[str, str]:
    """A slash command's fields as Slack sends them: the form of an HTTP request, or
    the payload of a Socket Mode envelope."""
    form = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": "local",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0LOCAL",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    if thread_ts:  # typed inside a thread
        form["thread_ts"] = thread_ts
    return form


def block_action_payload(*, user_id: str, channel_id: str, message_ts: str, action: dict[str, Any],
                         team_id: str = "T0LOCAL", message: dict[str, Any] | None = None,
                         response_url: str = "", trigger_id: str = "") -> dict[str, Any]:
    """A button press on a message, as Slack's ``block_actions`` payload."""
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "local"},
        "user": {"id": user_id, "team_id": team_id},
        "api_app_id": "A0LOCAL",
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "channel": {"id": channel_id},
        "message": message or {"ts": message_ts},
        "response_url": response_url,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }


class SlackSender:
    def __init__(self, bot_url: str, signing_secret: str, *, team_id: str = "T0LOCAL") -> None:
        self.events_url = bot_url.rstrip("/") + "/slack/events"
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.session = requests.Session()

    def post_signed(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None,
                    content_type: str = "application/x-www-form-urlencoded") -> requests.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret or self.signing_secret, ts, body),
        }
        return self.session.post(self.events_url, data=body, headers=headers, timeout=10)

    def slash(self, command: str, text: str = "", *, user_id: str, channel_id: str,
              user_name: str = "", channel_name: str = "", response_url: str = "",
              trigger_id: str = "", thread_ts: str | None = None, **signing: Any) -> requests.Response:
        form = slash_payload(command, text, user_id=user_id, channel_id=channel_id, team_id=self.team_id,
                             user_name=user_name, channel_name=channel_name, response_url=response_url,
                             trigger_id=trigger_id, thread_ts=thread_ts)
        return self.post_signed(urlencode(form).encode(), **signing)

    def interaction(self, payload: dict[str, Any], **signing: Any) -> requests.Response:
        """A block_actions or view_submission payload, sent as Slack sends it: one
        form field named `payload` holding JSON."""
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        return self.post_signed(body, **signing)

    def block_action(self, *, user_id: str, channel_id: str, message_ts: str, action: dict[str, Any],
                     message: dict[str, Any] | None = None, response_url: str = "",
                     trigger_id: str = "", **signing: Any) -> requests.Response:
        payload = block_action_payload(user_id=user_id, channel_id=channel_id, message_ts=message_ts,
                                       action=action, team_id=self.team_id, message=message,
                                       response_url=response_url, trigger_id=trigger_id)
        return self.interaction(payload, **signing)
