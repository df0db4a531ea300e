"""What each paging tool is sent, as bytes and headers: PagerDuty's Events API v2,
Opsgenie's Alert API, Grafana OnCall's formatted webhook and the bot's own signed
webhook (docs/paging.md). Field names follow the vendors' published descriptions;
tests/payloads/paging/*.schema.json hold them and the test stand-ins check every
body against them.

Every page of an incident carries the incident's id (INC-2026-0042) as its key:
PagerDuty's dedup_key, Opsgenie's alias, Grafana OnCall's alert_uid. A page sent
again after an outcome nobody recorded (a process killed mid-request) therefore
lands on the same alert instead of opening a second one."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import quote

from bot.config import PagerSettings

Action = Literal["trigger", "acknowledge", "resolve"]
CLIENT = "incidentbot"

# Severity of the incident -> the vendor's scale.
PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
OPSGENIE_PRIORITY = {"critical": "P1", "warning": "P3", "info": "P5"}

SIGNATURE_HEADER = "X-Incidentbot-Signature"
TIMESTAMP_HEADER = "X-Incidentbot-Timestamp"


@dataclass(frozen=True)
class PageEvent:
    """What a page says, whatever the tool."""

    action: Action
    ref: str  # the incident's id: the dedup key everywhere
    title: str
    severity: str  # critical, warning, info
    status: str  # the incident's status in the bot
    step: str  # platform, lead, manual:platform...; "*" for acknowledge and resolve
    reason: str  # why it pages: the step's evidence summary
    link: str | None  # the Slack thread
    subject: dict[str, str] = field(default_factory=dict)  # cluster, group, topic, queue
    by: str | None = None  # who acknowledged or resolved
    at: float = 0.0


@dataclass(frozen=True)
class Outgoing:
    url: str
    data: bytes
    headers: dict[str, str]
    # False: this tool has no such action (Grafana OnCall cannot be acknowledged from outside).
    supported: bool = True


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _link(event: PageEvent) -> str | None:
    return event.link if event.link and event.link.startswith(("http://", "https://")) else None


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _summary(event: PageEvent) -> str:
    return f"{event.ref} ({event.severity}): {event.title}"


def _details(event: PageEvent) -> dict[str, str]:
    details = {"incident": event.ref, "status": event.status, "step": event.step, "evidence": event.reason}
    if _link(event):
        details["slack_thread"] = str(event.link)
    details.update({k: v for k, v in event.subject.items() if v})
    return details


def pagerduty(pager: PagerSettings, event: PageEvent) -> Outgoing:
    assert pager.routing_key is not None
    body: dict[str, object] = {"routing_key": pager.routing_key.get_secret_value(), "event_action": event.action,
                               "dedup_key": event.ref}
    if event.action == "trigger":
        payload: dict[str, object] = {
            "summary": _summary(event)[:1024], "source": event.subject.get("cluster") or CLIENT,
            "severity": PAGERDUTY_SEVERITY.get(event.severity, "critical"), "timestamp": _iso(event.at),
            "class": event.step, "custom_details": _details(event)}
        component = event.subject.get("group") or event.subject.get("topic") or event.subject.get("queue")
        if component:
            payload["component"] = component
        body.update(payload=payload, client=CLIENT)
        link = _link(event)
        if link:
            body.update(client_url=link, links=[{"href": link, "text": f"Slack thread of {event.ref}"}])
    return Outgoing(pager.endpoint, _json(body), {"Content-Type": "application/json"})


def opsgenie(pager: PagerSettings, event: PageEvent) -> Outgoing:
    assert pager.api_key is not None
    headers = {"Content-Type": "application/json", "Authorization": f"GenieKey {pager.api_key.get_secret_value()}"}
    base = f"{pager.endpoint}/v2/alerts"
    if event.action == "trigger":
        link = _link(event)
        body: dict[str, object] = {
            "message": _summary(event)[:130], "alias": event.ref,
            "description": (event.reason + (f"\n\nSlack thread: {link}" if link else ""))[:15000],
            "tags": [CLIENT, event.severity], "details": _details(event), "source": CLIENT,
            "priority": OPSGENIE_PRIORITY.get(event.severity, "P3"),
            "entity": ", ".join(f"{k}={v}" for k, v in event.subject.items() if v)[:512] or event.ref}
        if pager.responders:
            body["responders"] = [r.model_dump(exclude_none=True) for r in pager.responders]
        return Outgoing(base, _json(body), headers)
    verb = {"acknowledge": "acknowledge", "resolve": "close"}[event.action]
    body = {"source": CLIENT, "note": f"{event.ref} {event.status} in Slack"}
    if event.by:
        body["user"] = event.by[:100]
    return Outgoing(f"{base}/{quote(event.ref, safe='')}/{verb}?identifierType=alias", _json(body), headers)


def grafana_oncall(pager: PagerSettings, event: PageEvent) -> Outgoing:
    if event.action == "acknowledge":
        return Outgoing(pager.endpoint, b"", {}, supported=False)
    body: dict[str, object] = {"alert_uid": event.ref, "title": _summary(event),
                               "state": "alerting" if event.action == "trigger" else "ok", "message": event.reason}
    link = _link(event)
    if link:
        body["link_to_upstream_details"] = link
    return Outgoing(pager.endpoint, _json(body), {"Content-Type": "application/json"})


def webhook_body(event: PageEvent) -> dict[str, object]:
    return {"version": 1, "event": event.action, "step": event.step, "reason": event.reason, "by": event.by,
            "sent_at": _iso(event.at),
            "incident": {"id": event.ref, "title": event.title, "severity": event.severity, "status": event.status,
                         "link": _link(event), "subject": dict(event.subject)}}


def sign(secret: str, timestamp: str, data: bytes) -> str:
    """The webhook's signature: HMAC-SHA256 of "<timestamp>.<body>", hex, with its scheme."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + data, hashlib.sha256).hexdigest()


def webhook(pager: PagerSettings, event: PageEvent) -> Outgoing:
    assert pager.secret is not None
    data = _json(webhook_body(event))
    stamp = str(int(event.at))
    return Outgoing(pager.endpoint, data, {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                                           SIGNATURE_HEADER: sign(pager.secret.get_secret_value(), stamp, data)})


BUILDERS = {"pagerduty": pagerduty, "opsgenie": opsgenie, "grafana_oncall": grafana_oncall, "webhook": webhook}
VENDOR_NAMES = {"pagerduty": "PagerDuty", "opsgenie": "Opsgenie", "grafana_oncall": "Grafana OnCall",
                "webhook": "webhook"}


def build(pager: PagerSettings, event: PageEvent) -> Outgoing:
    return BUILDERS[pager.kind](pager, event)


def error_text(status: int | None, text: str) -> str:
    """The vendor's own words for a refusal: PagerDuty's message and errors,
    Opsgenie's message, or the start of whatever came back."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        parts = [str(answer.get("message") or answer.get("status") or answer.get("error") or "")]
        errors = answer.get("errors")
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        elif isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        said = "; ".join(p for p in parts if p)
        if said:
            return said[:300]
    return " ".join(text.split())[:300] or f"HTTP {status}"


def setting_to_fix(pager_name: str, kind: str, status: int | None) -> str:
    """The setting a person most likely has to change after a refusal."""
    base = f"paging.pagers.{pager_name}"
    if status == 404 or status is None:
        return f"{base}.url"
    if kind == "pagerduty":
        return f"{base}.routing_key"
    if kind == "opsgenie":
        return f"{base}.responders" if status == 422 else f"{base}.api_key"
    if kind == "webhook" and status in (401, 403):
        return f"{base}.secret"
    return f"{base}.url"
