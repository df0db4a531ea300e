"""What the paging tools send back: PagerDuty's v3 webhooks (signed with
X-PagerDuty-Signature) and Opsgenie's outgoing webhooks (unsigned by Opsgenie; the
integration is given a custom header carrying a shared token). Checking and
reading them is pure; bot.paging.http answers and bot.paging.callbacks acts."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

REF = re.compile(r"\bINC-\d{4}-\d{4,}\b")
PAGERDUTY_SIGNATURE = "X-PagerDuty-Signature"


class BadPayload(ValueError):
    """A body that is not what the vendor sends; the message names what is wrong."""


@dataclass(frozen=True)
class Callback:
    action: Literal["acknowledge", "resolve"] | None  # None: an event the bot does not act on
    ref: str | None  # the incident's id, from the dedup key (PagerDuty) or alias (Opsgenie)
    by: str | None  # who did it there
    what: str  # the vendor's name of the event, for the answer


def pagerduty_refusal(secrets: list[str], header: str | None, body: bytes) -> str | None:
    """None when one of the v1 signatures is the HMAC-SHA256 of the raw body under
    one of the secrets (several during a rotation), else the reason for a 401.
    Every pair is compared, in constant time, without stopping at the first match."""
    if not secrets:
        return ("no PagerDuty webhook secret is configured (paging.inbound.pagerduty_secrets), so this endpoint "
                "accepts nothing")
    if not header:
        return f"missing {PAGERDUTY_SIGNATURE} header"
    given = [part.strip()[3:].lower() for part in header.split(",") if part.strip().startswith("v1=")]
    if not given:
        return f"{PAGERDUTY_SIGNATURE} holds no v1= signature"
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets]
    matched = False
    for signature in given:
        for candidate in expected:
            matched |= hmac.compare_digest(signature.encode(), candidate.encode())
    return None if matched else f"{PAGERDUTY_SIGNATURE} matches no configured secret (forged, or a rotated secret)"


def token_refusal(token: str | None, header_name: str, given: str | None) -> str | None:
    if token is None:
        return ("no Opsgenie webhook token is configured (paging.inbound.opsgenie_token), so this endpoint accepts "
                "nothing")
    if not given:
        return f"missing {header_name} header"
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return f"wrong {header_name}"
    return None


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class PdReference(_Open):
    summary: str | None = None


class PdEvent(_Open):
    id: str
    event_type: str
    resource_type: str
    agent: PdReference | None = None
    data: dict[str, Any] | None = None  # null in pings (pagey.ping), which are answered "ignored"


class PdWebhook(_Open):
    event: PdEvent


class OgAlert(_Open):
    alias: str | None = None
    message: str | None = None
    username: str | None = None


class OgWebhook(_Open):
    action: str
    alert: OgAlert


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadPayload(f"malformed JSON: {exc}"[:300]) from None


def _invalid(exc: ValidationError) -> BadPayload:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return BadPayload(f"{where}: {first['msg']}")


def _ref(*candidates: str | None) -> str | None:
    for value in candidates:
        if value:
            found = REF.search(value)
            if found:
                return found.group(0)
    return None


PAGERDUTY_ACTIONS = {"incident.acknowledged": "acknowledge", "incident.resolved": "resolve"}


def pagerduty(body: bytes) -> Callback:
    """An incident's dedup key is its `incident_key` in PagerDuty; the bot's pages
    also start the title with the id, which is read when the key is missing."""
    try:
        hook = PdWebhook.model_validate(_load(body))
    except ValidationError as exc:
        raise _invalid(exc) from None
    event = hook.event
    action = PAGERDUTY_ACTIONS.get(event.event_type)
    data = event.data or {}
    ref = _ref(str(data.get("incident_key") or ""), str(data.get("title") or ""))
    by = event.agent.summary if event.agent else None
    return Callback(action, ref, by, event.event_type)  # type: ignore[arg-type]


OPSGENIE_ACTIONS = {"Acknowledge": "acknowledge", "Close": "resolve"}


def opsgenie(body: bytes) -> Callback:
    try:
        hook = OgWebhook.model_validate(_load(body))
    except ValidationError as exc:
        raise _invalid(exc) from None
    action = OPSGENIE_ACTIONS.get(hook.action)
    return Callback(action, _ref(hook.alert.alias, hook.alert.message), hook.alert.username,  # type: ignore[arg-type]
                    hook.action)
