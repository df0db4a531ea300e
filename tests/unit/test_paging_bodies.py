"""What the pagers are sent, table-driven: every body the bot builds passes the
JSON Schema written from its vendor's description, the vendors' own examples pass
them too (a schema stricter than the vendor would fail here), and the fields that
matter hold what they should."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bot.config import PagerSettings
from bot.paging import vendors
from bot.paging.deliver import classify, deliver, retry_after
from bot.paging.vendors import Outgoing, PageEvent

SCHEMAS = Path(__file__).parents[1] / "payloads" / "paging"


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text()),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


PAGERS = {
    "pagerduty": PagerSettings(kind="pagerduty", routing_key="R0UT1NG"),
    "opsgenie": PagerSettings(kind="opsgenie", api_key="genie", responders=[{"type": "team", "name": "payments"},
                                                                           {"type": "user", "username": "a@b.c"}]),
    "grafana_oncall": PagerSettings(kind="grafana_oncall", url="https://oncall.example/integrations/v1/formatted_webhook/abc/"),
    "webhook": PagerSettings(kind="webhook", url="https://hooks.example/page", secret="s3cret"),
}


def event(action: str = "trigger", link: str | None = "https://example.slack.com/archives/C1/p1", **extra: Any) -> PageEvent:
    values: dict[str, Any] = dict(action=action, ref="INC-2026-0042", title="Orders lag " + "x" * 200,
                                  severity="critical", status="open", step="platform",
                                  reason="Kafka brokers: CRITICAL, Kafka unreachable", link=link,
                                  subject={"cluster": "prod", "group": "orders-svc"}, by="U0ALICE", at=1767225600.5)
    values.update(extra)
    return PageEvent(**values)


def which_schema(kind: str, out: Outgoing) -> str:
    if kind == "opsgenie":
        return "opsgenie-create-alert.schema.json" if out.url.endswith("/v2/alerts") else "opsgenie-alert-action.schema.json"
    return {"pagerduty": "pagerduty-events-v2.schema.json", "grafana_oncall": "grafana-oncall-formatted-webhook.schema.json",
            "webhook": "incidentbot-webhook.schema.json"}[kind]


@pytest.mark.parametrize("kind", list(PAGERS))
@pytest.mark.parametrize("action", ["trigger", "acknowledge", "resolve"])
@pytest.mark.parametrize("link", ["https://example.slack.com/archives/C1/p1", None, "the INC-2026-0042 thread in <#C1>"])
@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_every_body_matches_its_vendor_schema(kind: str, action: str, link: str | None, severity: str) -> None:
    out = vendors.build(PAGERS[kind], event(action, link, severity=severity))
    if not out.supported:
        assert (kind, action) == ("grafana_oncall", "acknowledge")
        return
    errors = [e.message for e in schema(which_schema(kind, out)).iter_errors(json.loads(out.data))]
    assert errors == []


@pytest.mark.parametrize("name, example", [
    ("pagerduty-events-v2.schema.json", "pagerduty-events-v2-example.json"),
    ("opsgenie-create-alert.schema.json", "opsgenie-create-alert-example.json"),
    ("grafana-oncall-formatted-webhook.schema.json", "grafana-oncall-formatted-webhook-example.json"),
])
def test_the_vendors_examples_pass_the_schemas(name: str, example: str) -> None:
    body = json.loads((SCHEMAS / example).read_text())
    assert [e.message for e in schema(name).iter_errors(body)] == []


@pytest.mark.parametrize("body, wrong", [
    ({"routing_key": "k", "event_action": "trigger", "dedup_key": "d",
      "payload": {"summary": "s", "source": "x", "severity": "fatal"}}, "severity"),
    ({"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info",
                                                                "details": {}}}, "misspelt custom_details"),
    ({"routing_key": "k", "event_action": "resolve"}, "resolve without dedup_key"),
    ({"routing_key": "k", "event_action": "trigger", "dedupkey": "d",
      "payload": {"summary": "s", "source": "x", "severity": "info"}}, "misspelt dedup_key"),
])
def test_a_wrong_field_fails_the_pagerduty_schema(body: dict[str, Any], wrong: str) -> None:
    assert list(schema("pagerduty-events-v2.schema.json").iter_errors(body)), wrong


@pytest.mark.parametrize("severity, pd, og", [("critical", "critical", "P1"), ("warning", "warning", "P3"),
                                              ("info", "info", "P5")])
def test_severity_is_mapped(severity: str, pd: str, og: str) -> None:
    assert json.loads(vendors.build(PAGERS["pagerduty"], event(severity=severity)).data)["payload"]["severity"] == pd
    assert json.loads(vendors.build(PAGERS["opsgenie"], event(severity=severity)).data)["priority"] == og


def test_pagerduty_trigger_carries_key_link_and_evidence() -> None:
    body = json.loads(vendors.build(PAGERS["pagerduty"], event()).data)
    assert body["dedup_key"] == "INC-2026-0042" and body["routing_key"] == "R0UT1NG"
    assert body["links"] == [{"href": "https://example.slack.com/archives/C1/p1",
                              "text": "Slack thread of INC-2026-0042"}]
    assert body["payload"]["custom_details"]["evidence"] == "Kafka brokers: CRITICAL, Kafka unreachable"
    assert body["payload"]["source"] == "prod" and body["payload"]["component"] == "orders-svc"
    assert body["payload"]["timestamp"] == "2026-01-01T00:00:00.500Z"
    assert json.loads(vendors.build(PAGERS["pagerduty"], event("acknowledge")).data) == {
        "routing_key": "R0UT1NG", "event_action": "acknowledge", "dedup_key": "INC-2026-0042"}


@pytest.mark.parametrize("action, path", [
    ("trigger", "https://api.opsgenie.com/v2/alerts"),
    ("acknowledge", "https://api.opsgenie.com/v2/alerts/INC-2026-0042/acknowledge?identifierType=alias"),
    ("resolve", "https://api.opsgenie.com/v2/alerts/INC-2026-0042/close?identifierType=alias"),
])
def test_opsgenie_urls_and_auth(action: str, path: str) -> None:
    out = vendors.build(PAGERS["opsgenie"], event(action))
    assert out.url == path and out.headers["Authorization"] == "GenieKey genie"
    if action == "trigger":
        body = json.loads(out.data)
        assert body["alias"] == "INC-2026-0042" and len(body["message"]) == 130
        assert body["responders"] == [{"type": "team", "name": "payments"}, {"type": "user", "username": "a@b.c"}]


def test_webhook_is_signed_over_timestamp_and_body() -> None:
    out = vendors.build(PAGERS["webhook"], event())
    stamp = out.headers[vendors.TIMESTAMP_HEADER]
    assert stamp == "1767225600"
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + out.data, hashlib.sha256).hexdigest()
    assert out.headers[vendors.SIGNATURE_HEADER] == f"sha256={expected}"


@pytest.mark.parametrize("status, text, retry, said", [
    (202, '{"status":"success"}', False, ""),
    (429, '{"status":"throttle event","message":"Requests are arriving too quickly"}', True,
     "Requests are arriving too quickly"),
    (500, "upstream exploded", True, "upstream exploded"),
    (503, "", True, "HTTP 503"),
    (400, '{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}', False,
     "Event object is invalid; Invalid routing key"),
    (422, '{"message":"Request body is not processable","errors":{"message":"Message can not be empty."}}', False,
     "Request body is not processable; message: Message can not be empty."),
    (401, '{"message":"Could not authenticate","took":0.0}', False, "Could not authenticate"),
])
def test_answers_are_classified(status: int, text: str, retry: bool, said: str) -> None:
    result = classify(status, text)
    assert (result.ok, result.retry, result.error) == (200 <= status < 300, retry, said)


@pytest.mark.parametrize("header, seconds", [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None),
                                             ("Thu, 01 Jan 2026 00:00:10 GMT", 10.0)])
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, now=1767225600.0) == seconds


def test_deliver_waits_what_retry_after_asks_then_gives_up() -> None:
    answers = iter([(429, {"Retry-After": "7"}), (500, {}), (500, {})])
    waits: list[float] = []

    class Session:
        def post(self, *args: Any, **kwargs: Any) -> Any:
            status, headers = next(answers)
            return type("R", (), {"status_code": status, "text": "busy", "headers": headers})()

    out = vendors.build(PAGERS["pagerduty"], event())
    result = deliver(out, timeout=1, delays=[1.0, 2.0], max_wait=60, sleep=waits.append,
                     session=Session())  # type: ignore[arg-type]
    assert waits == [7.0, 2.0] and result.tries == 3 and not result.ok and result.status == 500
