"""Slack's request signature: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with the
app's signing secret, refused when the timestamp is more than five minutes away.

Standard library only: the HTTP front (bot/app/front.py) checks it too, and stays
small by importing nothing of Slack's SDK."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

# Slack's own window: a request older (or newer) than this is a replay or a bad clock.
MAX_AGE_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def refusal(secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None) -> str | None:
    """Why the request is not Slack's, or None when it is."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    given = headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not given:
        return "X-Slack-Request-Timestamp or X-Slack-Signature is missing"
    stale = abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_S
    # Compared even when stale, in constant time, so the answer's timing says nothing.
    matches = hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode("utf-8", "replace"))
    if stale or not matches:
        return "X-Slack-Signature does not match, or the timestamp is more than five minutes away"
    return None
