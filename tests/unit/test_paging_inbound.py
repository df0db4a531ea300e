"""The paging tools' webhooks, table-driven: PagerDuty's v3 signatures (several
during a rotation, compared in constant time), Opsgenie's shared token, the
payloads read into an action and the incident's id, and the card's paged line."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import PagingSettings
from bot.incidents.model import Event
from bot.incidents.views import Paged, paged_from
from bot.paging import inbound

PAYLOADS = Path(__file__).parents[1] / "payloads" / "paging"
BODY = b'{"event": {}}'


def v1(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("secrets, header, refused", [
    (["s1"], v1("s1"), None),
    (["s1"], f"{v1('old')},{v1('s1')}", None),  # PagerDuty signs with each secret during a rotation
    (["old", "s1"], v1("s1"), None),
    (["s1"], v1("s1").upper().replace("V1=", "v1="), None),
    (["s1"], f" {v1('s1')} ", None),
    (["s1"], v1("other"), "matches no configured secret"),
    (["s1"], v1("s1", b"tampered"), "matches no configured secret"),
    (["s1"], "v0=" + v1("s1")[3:], "holds no v1= signature"),
    (["s1"], "", "missing X-PagerDuty-Signature"),
    (["s1"], None, "missing X-PagerDuty-Signature"),
    ([], v1("s1"), "accepts nothing"),
])
def test_pagerduty_signatures(secrets: list[str], header: str | None, refused: str | None) -> None:
    reason = inbound.pagerduty_refusal(secrets, header, BODY)
    assert (reason is None) if refused is None else (reason is not None and refused in reason)


@pytest.mark.parametrize("token, given, refused", [
    ("t0k", "t0k", None), ("t0k", " t0k ", None), ("t0k", "t0K", "wrong"), ("t0k", None, "missing"),
    (None, "t0k", "accepts nothing"),
])
def test_opsgenie_token(token: str | None, given: str | None, refused: str | None) -> None:
    reason = inbound.token_refusal(token, "X-Incidentbot-Token", given)
    assert (reason is None) if refused is None else (reason is not None and refused in reason)


def pd_body(event_type: str, key: str | None, title: str = "A little bump in the road") -> bytes:
    example = json.loads((PAYLOADS / "pagerduty-webhook-v3-incident.json").read_text())
    example["event"]["event_type"] = event_type
    example["event"]["data"].update(incident_key=key, title=title)
    return json.dumps(example).encode()


@pytest.mark.parametrize("body, action, ref", [
    (pd_body("incident.acknowledged", "INC-2026-0042"), "acknowledge", "INC-2026-0042"),
    (pd_body("incident.resolved", "INC-2026-0042"), "resolve", "INC-2026-0042"),
    (pd_body("incident.resolved", None, "INC-2026-0007 (critical): lag"), "resolve", "INC-2026-0007"),
    (pd_body("incident.priority_updated", "INC-2026-0042"), None, "INC-2026-0042"),
    (pd_body("incident.acknowledged", "d3640fbd41094207a1c11e58e46b1662"), "acknowledge", None),
])
def test_pagerduty_payloads(body: bytes, action: str | None, ref: str | None) -> None:
    hook = inbound.pagerduty(body)
    assert (hook.action, hook.ref, hook.by) == (action, ref, "Tenex Engineer")


def test_a_pagerduty_ping_is_read_and_needs_nothing() -> None:
    hook = inbound.pagerduty(b'{"event": {"id": "01", "event_type": "pagey.ping", "resource_type": "pagey", '
                             b'"occurred_at": "2021-12-08T22:41:50.042Z", "agent": null, "client": null, "data": null}}')
    assert (hook.action, hook.ref, hook.what) == (None, None, "pagey.ping")


@pytest.mark.parametrize("body, reason", [
    (b"not json", "malformed JSON"),
    (b"[]", "body: Input should be a valid dictionary"),
    (b"{}", "event: Field required"),
    (b'{"event": {"id": "1", "resource_type": "incident", "data": {}}}', "event.event_type: Field required"),
    (b'{"event": {"id": "1", "event_type": "x", "resource_type": "incident", "data": []}}', "event.data"),
    (b'{"event": {"id": "1", "event_type": "x", "resource_type": "incident", "agent": "me"}}', "event.agent"),
])
def test_bad_pagerduty_bodies_are_named(body: bytes, reason: str) -> None:
    with pytest.raises(inbound.BadPayload, match=reason.replace(".", r"\.")):
        inbound.pagerduty(body)


@pytest.mark.parametrize("action, alias, expected", [
    ("Acknowledge", "INC-2026-0042", ("acknowledge", "INC-2026-0042")),
    ("Close", "INC-2026-0042", ("resolve", "INC-2026-0042")),
    ("AddNote", "INC-2026-0042", (None, "INC-2026-0042")),
    ("Close", "aliastest", ("resolve", None)),
])
def test_opsgenie_payloads(action: str, alias: str, expected: tuple[str | None, str | None]) -> None:
    example = json.loads((PAYLOADS / "opsgenie-outgoing-webhook-acknowledge.json").read_text())
    example["action"] = action
    example["alert"]["alias"] = alias
    hook = inbound.opsgenie(json.dumps(example).encode())
    assert (hook.action, hook.ref, hook.by) == (*expected, "john.smith@opsgenie.com")


def test_bad_opsgenie_body_is_named() -> None:
    with pytest.raises(inbound.BadPayload, match="alert: Field required"):
        inbound.opsgenie(b'{"action": "Close"}')


def ev(kind: str, **data: object) -> Event:
    return Event(at=0.0, actor="bot", kind=kind, text="", data=dict(data))


@pytest.mark.parametrize("events, expected", [
    ([ev("page.sent", pager="pd", vendor="PagerDuty", action="trigger")], [Paged("pd", "PagerDuty", "paged")]),
    ([ev("page.sent", pager="pd", vendor="PagerDuty"), ev("page.acknowledged", pager="pd", by="Erin")],
     [Paged("pd", "PagerDuty", "acknowledged", "Erin")]),
    ([ev("page.failed", pager="pd", vendor="PagerDuty", action="trigger")], [Paged("pd", "PagerDuty", "failed")]),
    ([ev("page.sent", pager="pd", vendor="PagerDuty"), ev("page.failed", pager="pd", action="acknowledge")],
     [Paged("pd", "PagerDuty", "paged")]),
    ([ev("page.failed", pager="pd", vendor="PagerDuty", action="trigger"), ev("page.sent", pager="pd")],
     [Paged("pd", "PagerDuty", "paged")]),
    ([ev("page.acknowledged", pager="pd", by="x")], []),  # never paged: nothing to show
    ([ev("page.sent", pager="pd", vendor="PagerDuty"), ev("page.sent", pager="og", vendor="Opsgenie"),
      ev("page.resolved", pager="og")], [Paged("pd", "PagerDuty", "paged"), Paged("og", "Opsgenie", "resolved")]),
])
def test_card_paged_line(events: list[Event], expected: list[Paged]) -> None:
    assert list(paged_from(events)) == expected


@pytest.mark.parametrize("settings, message", [
    ({"pagers": {"pd": {"kind": "pagerduty"}}}, "a pagerduty pager needs routing_key"),
    ({"pagers": {"og": {"kind": "opsgenie"}}}, "needs api_key"),
    ({"pagers": {"h": {"kind": "webhook", "url": "https://x"}}}, "needs secret"),
    ({"pagers": {"g": {"kind": "grafana_oncall"}}}, "needs url"),
    ({"pagers": {"pd": {"kind": "pagerduty", "routing_key": "k", "url": "ftp://x"}}}, "http:// or https://"),
    ({"steps": {"platform": ["nope"]}}, "names pager 'nope'"),
    ({"steps": {"brokers": []}}, "cannot page"),
    ({"pagers": {"pd": {"kind": "pagerduty", "routing_key": "k", "responders": [{"type": "team", "name": "x"}]}}},
     "responders are Opsgenie's"),
])
def test_paging_settings_are_checked(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PagingSettings.model_validate(settings)


def test_paging_teams_must_be_teams() -> None:
    from bot.config import ConfigError, load

    with pytest.raises(ConfigError, match="paging.teams: 'ghosts' is not under teams"):
        load(paging={"pagers": {"pd": {"kind": "pagerduty", "routing_key": "k"}}, "teams": {"ghosts": ["pd"]}})


def test_pagers_for_a_step_and_secrets() -> None:
    s = PagingSettings.model_validate({
        "pagers": {"pd": {"kind": "pagerduty", "routing_key": "rk"}, "og": {"kind": "opsgenie", "api_key": "ak"}},
        "steps": {"lead": ["pd"]}, "teams": {"payments": ["og", "pd"]},
        "inbound": {"pagerduty_secrets": ["ws"], "opsgenie_token": "ot"}})
    assert s.for_step("lead", "payments") == ["pd", "og"] and s.for_step("platform") == []
    assert s.pagers["pd"].endpoint == "https://events.pagerduty.com/v2/enqueue"
    assert sorted(s.secret_values()) == ["ak", "ot", "rk", "ws"]


def test_paging_secrets_are_masked_and_scrubbed_from_logs() -> None:
    from bot.app.logs import Redact, secrets_of
    from bot.config import Settings, masked

    settings = Settings(paging={
        "pagers": {"pd": {"kind": "pagerduty", "routing_key": "rk-0123456789"},
                   "g": {"kind": "grafana_oncall", "url": "https://oncall.example/integrations/v1/formatted_webhook/T0K3N/"}},
        "inbound": {"pagerduty_secrets": ["ws-0123456789"], "opsgenie_token": "ot-0123456789"}})
    shown = json.dumps(masked(settings))
    assert "rk-0123456789" not in shown and "ws-0123456789" not in shown and "ot-0123456789" not in shown
    assert "T0K3N" not in shown and "https://oncall.example/********" in shown
    assert settings.paging.pagers["g"].endpoint.endswith("/T0K3N")  # only the shown copy is masked
    import logging
    record = logging.LogRecord("x", logging.INFO, "", 0, "POST %s key=%s", (
        "/integrations/v1/formatted_webhook/T0K3N/", "rk-0123456789"), None)
    Redact(secrets_of(settings)).filter(record)
    assert "T0K3N" not in record.getMessage() and "rk-0123456789" not in record.getMessage()
