"""Paging out and back in, against the real brokers and the Slack and pager
stand-ins: the ladder pages at 20 and 30 minutes once each, acknowledging and
resolving in Slack follow at the pagers, a throttled page is tried again, a
refused one is said in the thread, and PagerDuty's and Opsgenie's webhooks
acknowledge and resolve the incident in Slack (forged ones refused)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.localslack.server import LocalSlack
from bot.paging import outbox
from tests.conftest import TOKEN, free_port, make_settings, send, start_bot
from tests.pager_standin import SCHEMAS, PagerStandIn
from tests.test_escalation import thread_texts, wait_steps

PD_SECRET = "pd-webhook-secret-0001"
OG_TOKEN = "og-webhook-token-0001"


@pytest.fixture
def pagers() -> Iterator[PagerStandIn]:
    stand_in = PagerStandIn().start()
    yield stand_in
    stand_in.stop()
    assert stand_in.violations == []  # every body matched the vendors' descriptions


def paging_settings(stand_in: PagerStandIn, **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "pagers": {
            "platform-pd": {"kind": "pagerduty", "url": f"{stand_in.url}/pagerduty/v2/enqueue",
                            "routing_key": stand_in.routing_key},
            "payments-og": {"kind": "opsgenie", "url": f"{stand_in.url}/opsgenie", "api_key": stand_in.genie_key,
                            "responders": [{"type": "team", "name": "payments"}]},
        },
        "steps": {"platform": ["platform-pd"]},
        "teams": {"payments": ["payments-og"]},
        "retry": {"delays": [0.1, 0.2, 0.2]},
        "inbound": {"pagerduty_secrets": [PD_SECRET], "opsgenie_token": OG_TOKEN},
    }
    settings.update(extra)
    return settings


def paging_bot(tmp_path: Path, slack: LocalSlack, stand_in: PagerStandIn, *, scale: float = 1.0,
               dead_kafka: bool = True, **paging: Any) -> LocalBot:
    overrides: dict[str, Any] = {
        "alerts": {"sources": {"generic": {"bearer_token": TOKEN}}},
        "escalation": {"time_scale": scale, "platform_users": ["U0DAVE"]},
        "teams": {"payments": {"lead_users": ["U0CAROL"]}, "platform": {"lead_users": ["U0BOB"]}},
        "ownership": {"billing-": "payments"}, "default_team": "platform",
        "incidents": {"first_checks": 0},
        "paging": paging_settings(stand_in, **paging),
    }
    if dead_kafka:  # the brokers are at fault, so the 20-minute step pages the platform
        overrides["kafka"] = {"local": {"bootstrap_servers": f"127.0.0.1:{free_port()}", "request_timeout_s": 1}}
    return start_bot(make_settings(tmp_path, **overrides), slack)


def open_incident(bot: LocalBot, unique: str) -> str:
    body = {"title": f"Paging {unique}", "labels": {"consumergroup": f"billing-{unique}"}, "severity": "critical",
            "dedup_key": f"paging-{unique}", "runbook": "high-consumer-lag"}
    return str(send(bot, body, source="generic").json()["incident"])


def parent_text(bot: LocalBot, ref: str) -> str:
    parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
    return json.dumps(parent.blocks)


def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def pd_events(stand_in: PagerStandIn, action: str) -> list[dict[str, Any]]:
    return [r.body for r in stand_in.accepted("pagerduty") if r.body["event_action"] == action]


def og_actions(stand_in: PagerStandIn, verb: str) -> list[str]:
    return [r.path for r in stand_in.accepted("opsgenie-action") if r.path.split("?")[0].endswith(verb)]


def test_ladder_pages_at_20_and_30_once_each_then_ack_and_resolve_follow(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, pagers: PagerStandIn, unique: str) -> None:
    bot = paging_bot(tmp_path, local_slack, pagers, scale=300)
    try:
        ref = open_incident(bot, unique)
        found = wait_steps(bot, ref, 5, timeout=60)
        assert [s.status for s in found] == ["fired"] * 5
        wait_until(lambda: len(pagers.accepted("opsgenie-create")) >= 1)
        bot.ctx.work.wait_idle(30)
        triggers = pd_events(pagers, "trigger")
        # The 20-minute page, and at the 30-minute step (nobody has acknowledged) the same
        # alert paged again: the same dedup key, so PagerDuty keeps one incident.
        assert len(triggers) == 2 and {t["dedup_key"] for t in triggers} == {ref}
        again = triggers[1]["payload"]["custom_details"]
        assert again["step"] == "repage:30" and again["evidence"] == f"{ref} is still unacknowledged at the 30-minute step"
        trigger = triggers[0]
        assert trigger["dedup_key"] == ref and trigger["routing_key"] == pagers.routing_key
        assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["summary"].startswith(ref)
        assert "Kafka unreachable" in trigger["payload"]["custom_details"]["evidence"]
        assert trigger["links"][0]["href"].startswith("https://")  # the Slack thread
        created = pagers.accepted("opsgenie-create")
        assert len(created) == 1 and created[0].body["alias"] == ref
        assert created[0].body["responders"] == [{"type": "team", "name": "payments"}]
        assert created[0].body["priority"] == "P1"
        texts = thread_texts(bot, ref)
        assert any("*20-minute step*" in t and "Paging PagerDuty (platform-pd)." in t for t in texts)
        assert any("*30-minute step*" in t and "Paging Opsgenie (payments-og)." in t for t in texts)
        assert "Nobody has acknowledged yet: paging again PagerDuty (platform-pd)." in texts
        wait_until(lambda: "payments-og" in parent_text(bot, ref))
        card = parent_text(bot, ref)
        assert "PagerDuty *platform-pd*: :pager: paged, not acknowledged" in card

        parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
        bot.click(parent, "incident_acknowledge", user="U0ALICE")  # the card's Acknowledge button
        wait_until(lambda: pd_events(pagers, "acknowledge") and og_actions(pagers, "acknowledge"))
        wait_until(lambda: "PagerDuty *platform-pd*: :white_check_mark: acknowledged by <@U0ALICE>"
                   in parent_text(bot, ref))
        assert pagers.accepted("opsgenie-action")[0].body["user"] == "U0ALICE"  # who acknowledged
        bot.slash(f"/incident resolve {ref} fixed", user="U0ALICE")
        wait_until(lambda: pd_events(pagers, "resolve") and og_actions(pagers, "close"))
        time.sleep(1.5)  # a few more ticks of the paging duty: nothing is sent twice
        assert [len(pd_events(pagers, a)) for a in ("trigger", "acknowledge", "resolve")] == [2, 1, 1]
        assert len(og_actions(pagers, "acknowledge")) == 1 and len(og_actions(pagers, "close")) == 1
        assert len(pagers.accepted("opsgenie-create")) == 1
        assert pd_events(pagers, "resolve")[0] == {"routing_key": pagers.routing_key, "event_action": "resolve",
                                                    "dedup_key": ref}
    finally:
        bot.close()


def test_throttled_page_is_tried_again_and_sent_once(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                     pagers: PagerStandIn, unique: str) -> None:
    bot = paging_bot(tmp_path, local_slack, pagers, dead_kafka=False)
    try:
        ref = open_incident(bot, unique)
        pagers.script.append((429, {"Retry-After": "0.3"}, {"status": "throttle event", "message": "Requests for "
                                                            "this service are arriving too quickly"}))
        bot.slash(f"/incident escalate {ref} platform", user="U0ALICE")
        wait_until(lambda: len(pagers.accepted("pagerduty")) == 1)
        assert len([r for r in pagers.received if r.kind == "pagerduty"]) == 2  # the 429, then the page
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None
        wait_until(lambda: any(e.kind == "page.sent" for e in service.timeline(bot.ctx.engine, incident)))
        sent = next(e for e in service.timeline(bot.ctx.engine, incident) if e.kind == "page.sent")
        assert sent.text == "Paged through PagerDuty (platform-pd) for the platform escalation by hand after 2 tries"
        with bot.ctx.engine.connect() as conn:
            rows = outbox.for_incident(conn, incident.id)
        assert [(r.step, r.action, r.status) for r in rows] == [("manual:platform", "trigger", "sent")]
        # Escalating again by hand pages nothing twice.
        bot.slash(f"/incident escalate {ref} platform", user="U0ALICE")
        assert any("Already paged for this step: PagerDuty (platform-pd)." in t for t in thread_texts(bot, ref))
        time.sleep(0.5)
        assert len(pagers.accepted("pagerduty")) == 1
    finally:
        bot.close()


def test_refused_page_is_said_in_the_thread_and_timeline(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                         pagers: PagerStandIn, unique: str) -> None:
    bad = paging_settings(pagers)["pagers"]
    bad["platform-pd"]["routing_key"] = "not-the-integration-key"
    bot = paging_bot(tmp_path, local_slack, pagers, dead_kafka=False, pagers=bad)
    try:
        ref = open_incident(bot, unique)
        bot.slash(f"/incident escalate {ref} platform", user="U0ALICE")
        expected = ("Could not page through PagerDuty (platform-pd) after 1 try: HTTP 400: Event object is invalid; "
                    "Invalid routing key. Check `paging.pagers.platform-pd.routing_key`.")
        wait_until(lambda: any(expected in t for t in thread_texts(bot, ref)))
        assert len([r for r in pagers.received if r.kind == "pagerduty"]) == 1  # a 400 is not tried again
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None
        failed = [e for e in service.timeline(bot.ctx.engine, incident) if e.kind == "page.failed"]
        assert len(failed) == 1 and failed[0].data and failed[0].data["setting"] == "paging.pagers.platform-pd.routing_key"
        wait_until(lambda: ":warning: page failed" in parent_text(bot, ref))
        assert "not-the-integration-key" not in json.dumps([m.text for m in local_slack.state.messages()])
    finally:
        bot.close()


def signed(body: bytes, *secrets: str) -> dict[str, str]:
    signatures = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": signatures}


def pd_webhook(event_type: str, ref: str, agent: str = "Erin Oncall") -> bytes:
    example = json.loads((SCHEMAS / "pagerduty-webhook-v3-incident.json").read_text())
    example["event"]["event_type"] = event_type
    example["event"]["agent"]["summary"] = agent
    example["event"]["data"]["incident_key"] = ref
    example["event"]["data"]["title"] = f"{ref} (critical): Paging"
    return json.dumps(example).encode()


def test_signed_pagerduty_acknowledge_acknowledges_in_slack_and_forged_is_refused(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, pagers: PagerStandIn, unique: str) -> None:
    bot = paging_bot(tmp_path, local_slack, pagers, dead_kafka=False)
    try:
        ref = open_incident(bot, unique)
        bot.slash(f"/incident escalate {ref} platform", user="U0ALICE")
        wait_until(lambda: len(pagers.accepted("pagerduty")) == 1)
        url = f"{bot.url}/paging/pagerduty"
        body = pd_webhook("incident.acknowledged", ref)
        forged = requests.post(url, data=body, headers=signed(body, "not-the-secret"), timeout=10)
        assert forged.status_code == 401 and "matches no configured secret" in forged.json()["reason"]
        missing = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert missing.status_code == 401 and "missing X-PagerDuty-Signature" in missing.json()["reason"]
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None and incident.status.value == "open"
        bad = b'{"event": {"id": "x"}}'
        answer = requests.post(url, data=bad, headers=signed(bad, PD_SECRET), timeout=10)
        assert answer.status_code == 400 and "event_type" in answer.json()["reason"]
        # A rotated secret: the old one's signature beside the new one's.
        answer = requests.post(url, data=body, headers=signed(body, "old-secret", PD_SECRET), timeout=10)
        assert answer.status_code == 200 and answer.json()["changed"] is True
        bot.ctx.work.wait_idle(30)
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None and incident.status.value == "acknowledged"
        assert incident.commander == "PagerDuty (Erin Oncall)"
        assert any(f"{ref} acknowledged in PagerDuty by Erin Oncall" in t for t in thread_texts(bot, ref))
        assert ":white_check_mark: acknowledged by Erin Oncall" in parent_text(bot, ref)
        replay = requests.post(url, data=body, headers=signed(body, PD_SECRET), timeout=10)
        assert replay.status_code == 200 and replay.json()["changed"] is False
        bot.ctx.work.wait_idle(30)
        assert sum("acknowledged in PagerDuty" in t for t in thread_texts(bot, ref)) == 1
        time.sleep(1.5)  # the paging duty does not echo the acknowledge back to PagerDuty
        assert pd_events(pagers, "acknowledge") == []
        resolved = pd_webhook("incident.resolved", ref)
        assert requests.post(url, data=resolved, headers=signed(resolved, PD_SECRET), timeout=10).json()["changed"]
        bot.ctx.work.wait_idle(30)
        assert service.get(bot.ctx.engine, ref).status.value == "resolved"  # type: ignore[union-attr]
    finally:
        bot.close()


def test_opsgenie_close_resolves_the_incident(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                              pagers: PagerStandIn, unique: str) -> None:
    bot = paging_bot(tmp_path, local_slack, pagers, dead_kafka=False)
    try:
        ref = open_incident(bot, unique)
        bot.slash(f"/incident escalate {ref} lead", user="U0ALICE")
        wait_until(lambda: len(pagers.accepted("opsgenie-create")) == 1)
        example = json.loads((SCHEMAS / "opsgenie-outgoing-webhook-acknowledge.json").read_text())
        example.update(action="Close")
        example["alert"].update(alias=ref, username="frank@example.com")
        body = json.dumps(example).encode()
        url = f"{bot.url}/paging/opsgenie"
        wrong = requests.post(url, data=body, headers={"X-Incidentbot-Token": "guess"}, timeout=10)
        assert wrong.status_code == 401 and wrong.json()["reason"] == "wrong X-Incidentbot-Token"
        answer = requests.post(url, data=body, headers={"X-Incidentbot-Token": OG_TOKEN}, timeout=10)
        assert answer.status_code == 200 and answer.json()["changed"] is True
        bot.ctx.work.wait_idle(30)
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None and incident.status.value == "resolved"
        assert any(f"{ref} resolved in Opsgenie by frank@example.com" in t for t in thread_texts(bot, ref))
        time.sleep(1.5)
        assert og_actions(pagers, "close") == []  # Opsgenie closed it itself
    finally:
        bot.close()


def test_grafana_oncall_and_signed_webhook_pages(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                 pagers: PagerStandIn, unique: str) -> None:
    more = paging_settings(pagers)["pagers"] | {
        "oncall": {"kind": "grafana_oncall", "url": f"{pagers.url}/oncall/{pagers.oncall_token}"},
        "hook": {"kind": "webhook", "url": f"{pagers.url}/hook", "secret": pagers.webhook_secret},
    }
    bot = paging_bot(tmp_path, local_slack, pagers, dead_kafka=False, pagers=more,
                     steps={"platform": ["oncall", "hook"]})
    try:
        ref = open_incident(bot, unique)
        bot.slash(f"/incident escalate {ref} platform", user="U0ALICE")
        wait_until(lambda: pagers.accepted("grafana_oncall") and pagers.accepted("webhook"))
        alert = pagers.accepted("grafana_oncall")[0].body
        assert alert["alert_uid"] == ref and alert["state"] == "alerting"
        assert alert["link_to_upstream_details"].startswith("https://")
        hook = pagers.accepted("webhook")[0].body
        assert hook["event"] == "trigger" and hook["incident"]["id"] == ref and hook["step"] == "manual:platform"
        bot.slash(f"/incident ack {ref}", user="U0ALICE")
        wait_until(lambda: len(pagers.accepted("webhook")) == 2)
        bot.slash(f"/incident resolve {ref}", user="U0ALICE")
        wait_until(lambda: len(pagers.accepted("grafana_oncall")) == 2 and len(pagers.accepted("webhook")) == 3)
        assert [r.body["state"] for r in pagers.accepted("grafana_oncall")] == ["alerting", "ok"]
        assert [r.body["event"] for r in pagers.accepted("webhook")] == ["trigger", "acknowledge", "resolve"]
    finally:
        bot.close()


def test_an_acknowledged_incident_is_not_paged_again(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                     pagers: PagerStandIn, unique: str) -> None:
    bot = paging_bot(tmp_path, local_slack, pagers, scale=120)  # 5 s between the 20- and 30-minute steps
    try:
        ref = open_incident(bot, unique)
        wait_until(lambda: len(pd_events(pagers, "trigger")) == 1, timeout=60)  # the 20-minute page
        parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
        bot.click(parent, "incident_acknowledge", user="U0ALICE")
        assert [s.status for s in wait_steps(bot, ref, 5, timeout=90)] == ["fired"] * 5
        bot.ctx.work.wait_idle(30)
        assert len(pd_events(pagers, "trigger")) == 1  # the lead step pages its own pager, not this one again
        assert not [t for t in thread_texts(bot, ref) if t.startswith("Nobody has acknowledged yet")]
    finally:
        bot.close()
