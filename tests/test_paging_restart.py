"""Pages survive the bot being killed and are sent once with two replicas:
`incidentbot serve` as real processes on a fast ladder clock, the brokers at fault
(an unreachable Kafka) so the 20-minute step pages the platform, and the pager
stand-in checking every body."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from bot import db
from bot.incidents import service
from bot.localslack.server import LocalSlack
from bot.paging import outbox
from tests.conftest import TOKEN, free_port
from tests.pager_standin import PagerStandIn
from tests.test_escalation_replicas import owner_pid
from tests.test_escalation_restart import serve, steps

PD_SECRET = "pd-webhook-secret-0002"


@pytest.fixture
def pagers() -> Iterator[PagerStandIn]:
    stand_in = PagerStandIn().start()
    yield stand_in
    stand_in.stop()
    assert stand_in.violations == []


def paging_env(stand_in: PagerStandIn, *, lead: bool = False) -> dict[str, str]:
    paging: dict[str, Any] = {
        "pagers": {"pd": {"kind": "pagerduty", "url": f"{stand_in.url}/pagerduty/v2/enqueue",
                          "routing_key": stand_in.routing_key},
                   "og": {"kind": "opsgenie", "url": f"{stand_in.url}/opsgenie", "api_key": stand_in.genie_key}},
        "steps": {"platform": ["pd"], **({"lead": ["og"]} if lead else {})},
        "retry": {"delays": [0.2, 0.5]},
        "inbound": {"pagerduty_secrets": [PD_SECRET]},
    }
    return {
        "INCIDENTBOT_PAGING": json.dumps(paging),
        "INCIDENTBOT_ESCALATION__TIME_SCALE": "200",  # the 20-minute step after 6 s
        "INCIDENTBOT_ESCALATION__STEPS": json.dumps([{"minute": 20, "kind": "platform"},
                                                     {"minute": 30, "kind": "lead"}]),
        "INCIDENTBOT_ESCALATION__PLATFORM_USERS": '["U0DAVE"]',
        "INCIDENTBOT_KAFKA__LOCAL__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "INCIDENTBOT_KAFKA__LOCAL__REQUEST_TIMEOUT_S": "1",
    }


def open_incident(port: int, unique: str) -> str:
    answer = requests.post(f"http://127.0.0.1:{port}/alerts/generic", timeout=10,
                           headers={"Authorization": f"Bearer {TOKEN}"},
                           json={"title": f"Paging restart {unique}", "dedup_key": unique, "severity": "critical",
                                 "labels": {"consumergroup": f"paging-{unique}"}}).json()
    return str(answer["incident"])


def pages_of(url: str, ref: str) -> list[outbox.Page]:
    engine = db.create(url)
    try:
        incident = service.get(engine, ref)
        assert incident is not None
        with engine.connect() as conn:
            return outbox.for_incident(conn, incident.id)
    finally:
        engine.dispose()


def wait_until(check: Any, timeout: float, what: Any = None) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, what() if callable(what) else what
        time.sleep(0.1)


def triggers(stand_in: PagerStandIn, step: str | None = None) -> list[dict[str, Any]]:
    return [r.body for r in stand_in.accepted("pagerduty") if r.body["event_action"] == "trigger"
            and (step is None or r.body["payload"]["custom_details"]["step"] == step)]


def test_killed_between_claim_and_send_pages_once_after_restart(tmp_path: Path, local_slack: LocalSlack,
                                                                brokers: None, pagers: PagerStandIn,
                                                                unique: str) -> None:
    port = free_port()
    env = paging_env(pagers)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    pagers.hold = True  # the first page is taken in, and not answered: the bot dies waiting
    bot = serve(tmp_path, local_slack, port, extra_env=env)
    try:
        ref = open_incident(port, unique)
        wait_until(lambda: pagers.wait_for(1, "pagerduty", timeout=0, accepted=False), 40, "no page was sent")
        held = pages_of(url, ref)
        assert [(p.action, p.status) for p in held] == [("trigger", "pending")]  # claimed, not known to be sent
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)
        # The vendor's answer to the killed request is lost; say it failed, so only a
        # resend can count as the page.
        pagers.script.append((500, {}, {"status": "error", "message": "lost"}))
        pagers.release()
        wait_until(lambda: all(r.status for r in pagers.received), 10)
        assert triggers(pagers) == []
        bot = serve(tmp_path, local_slack, port, extra_env=env)
        wait_until(lambda: len(triggers(pagers, "platform")) == 1, 30, lambda: pages_of(url, ref))
        wait_until(lambda: pages_of(url, ref)[0].status == "sent", 10, lambda: pages_of(url, ref))
        wait_until(lambda: any(s.minute == 30 and s.status == "fired" for s in steps(tmp_path, ref)), 30)
        time.sleep(1.5)  # more ticks of the paging duty: nothing more goes out
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(20)
    # The 20-minute step's page, sent once; the 30-minute step may page it again when it
    # finds it sent and nobody acknowledging (a page of its own, "repage:30").
    found = [p for p in pages_of(url, ref) if p.step == "platform"]
    assert [(p.step, p.action, p.status, p.attempts) for p in found] == [("platform", "trigger", "sent", 2)]
    stepped = triggers(pagers, "platform")
    assert len(stepped) == 1 and stepped[0]["dedup_key"] == ref
    # Both requests carried the same dedup key: had the vendor taken the first, the
    # second would have landed on the same alert.
    assert {r.body["dedup_key"] for r in pagers.received if r.kind == "pagerduty"} == {ref}
    headers = [m.text for m in local_slack.state.messages("C0INCIDENTS") if "*20-minute step*" in m.text]
    assert len(headers) == 1


def test_two_replicas_page_once_and_a_webhook_on_either_resolves(tmp_path: Path, local_slack: LocalSlack,
                                                                 brokers: None, postgres: str, pagers: PagerStandIn,
                                                                 unique: str) -> None:
    ports = [free_port(), free_port()]
    env = paging_env(pagers, lead=True)
    bots = [serve(tmp_path, local_slack, port, postgres, extra_env=env) for port in ports]
    try:
        deadline = time.time() + 15
        while True:
            try:
                leader = owner_pid(postgres)
                break
            except Exception:  # noqa: BLE001 - the lease table appears with the first tick
                assert time.time() < deadline
                time.sleep(0.2)
        follower_port = ports[1] if bots[0].pid == leader else ports[0]
        ref = open_incident(follower_port, unique)
        wait_until(lambda: sum(s.status == "fired" for s in steps(tmp_path, ref, postgres)) == 2, 60,
                   lambda: steps(tmp_path, ref, postgres))
        # The 20-minute page, the 30-minute one, and at 30 minutes the first again (nobody acknowledged).
        wait_until(lambda: len(pagers.accepted("opsgenie-create")) == 1 and len(triggers(pagers)) == 2, 20)
        # PagerDuty says it was resolved there, to the replica that does not run the timers.
        example = json.loads((Path(__file__).parent / "payloads" / "paging" /
                              "pagerduty-webhook-v3-incident.json").read_text())
        example["event"].update(event_type="incident.resolved")
        example["event"]["data"]["incident_key"] = ref
        body = json.dumps(example).encode()
        signature = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = requests.post(f"http://127.0.0.1:{follower_port}/paging/pagerduty", data=body, timeout=10,
                               headers={"Content-Type": "application/json", "X-PagerDuty-Signature": signature})
        assert answer.status_code == 200 and answer.json()["changed"] is True
        wait_until(lambda: [r for r in pagers.accepted("opsgenie-action") if "/close" in r.path], 20)
        time.sleep(2)  # both replicas tick on: nothing is sent twice
    finally:
        for bot in bots:
            bot.send_signal(signal.SIGTERM)
        for bot in bots:
            bot.wait(20)
    assert len(triggers(pagers)) == 2 and len(pagers.accepted("opsgenie-create")) == 1
    assert len([r for r in pagers.accepted("opsgenie-action") if "/close" in r.path]) == 1
    assert [r for r in pagers.accepted("pagerduty") if r.body["event_action"] == "resolve"] == []  # not echoed
    engine = create_engine(postgres)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT step, pager, action, status FROM pages ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("platform", "pd", "trigger", "sent"), ("lead", "og", "trigger", "sent"),
                                       ("repage:30", "pd", "trigger", "sent"),
                                       ("*", "pd", "resolve", "skipped"), ("*", "og", "resolve", "sent")]
