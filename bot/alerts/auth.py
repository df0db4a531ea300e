"""Is a webhook really from the alert source? A bearer token, an HMAC-SHA256
signature of the body, or both, as configured per source; compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping

from bot.config import AlertSourceSettings

MAX_SKEW_SECONDS = 300


def refusal_reason(source: AlertSourceSettings, headers: Mapping[str, str], body: bytes,
                   now: float | None = None) -> str | None:
    """None when the request is authentic, else the reason to answer 401 with."""
    if source.bearer_token is None and source.hmac_secret is None:
        return "this alert source has no bearer token or HMAC secret configured, so it accepts nothing"
    if source.bearer_token is not None:
        given = headers.get("Authorization", "")
        expected = f"Bearer {source.bearer_token.get_secret_value()}"
        if not given:
            return "missing Authorization: Bearer header"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return "wrong bearer token"
    if source.hmac_secret is not None:
        signature = headers.get(source.hmac_header, "").strip()
        if not signature:
            return f"missing {source.hmac_header} header"
        message = body
        if source.hmac_timestamp_header:
            stamp = headers.get(source.hmac_timestamp_header, "")
            try:
                skew = abs((now or time.time()) - float(stamp))
            except ValueError:
                return f"missing or unreadable {source.hmac_timestamp_header} header"
            if not math.isfinite(skew):  # "nan" compares false with everything: a signature that never expires
                return f"missing or unreadable {source.hmac_timestamp_header} header"
            if skew > MAX_SKEW_SECONDS:
                return f"{source.hmac_timestamp_header} is more than 5 minutes off: replayed or clock skew"
            message = stamp.encode() + b":" + body
        expected = hmac.new(source.hmac_secret.get_secret_value().encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.removeprefix("sha256=").lower().encode(), expected.encode()):
            return f"{source.hmac_header} does not match the body"
    return None
