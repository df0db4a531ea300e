"""Who pressed what, where: the few fields every button press and form submission
is read for, taken from Slack's interactivity payload in one place. Missing or
odd-shaped fields read as empty rather than failing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Interaction:
    user: str
    channel: str
    thread_ts: str | None
    trigger_id: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> Interaction:
        channel = _text(_dict(body.get("channel")).get("id")) or _text(_dict(body.get("container")).get("channel_id"))
        thread = _text(_dict(body.get("message")).get("thread_ts")) or None
        return cls(user=_text(_dict(body.get("user")).get("id")), channel=channel, thread_ts=thread,
                   trigger_id=_text(body.get("trigger_id")))


def slack_may_refuse(fn: Callable[[], None]) -> Callable[[], None]:
    """Work after an acknowledgement that answers the person through Slack's Web API.
    Slack refusing the call (`channel_not_found` for a channel the request named, an
    expired `trigger_id`) is Slack's word on that request, not a fault in the bot: one
    log line with Slack's error code, no traceback."""

    def run() -> None:
        try:
            fn()
        except SlackApiError as exc:
            method = str(getattr(exc.response, "api_url", "")).rsplit("/", 1)[-1] or "a Web API call"
            log.warning("Slack refused %s: %s", method, exc.response.get("error", "no error code"))

    return run
