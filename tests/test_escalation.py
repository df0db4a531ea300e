"""The escalation ladder on a fast clock (escalation.time_scale): every step in
order with what it posts, resolution cancels, acknowledgement does not, the
ownership map picks the lead, and Slack failures are recorded."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.incidents import ladder, service
from bot.localslack.server import LocalSlack
from tests.conftest import TOKEN, free_port, make_settings, send, start_bot

SCALE = 300  # a minute lasts 0.2 s: the 30-minute step comes after 6 s


def ladder_bot(tmp_path: Path, slack: LocalSlack, **overrides: object) -> LocalBot:
    base: dict[str, object] = {
        "alerts": {"sources": {"generic": {"bearer_token": TOKEN}}},
        "escalation": {"time_scale": SCALE, "platform_users": ["U0DAVE"], "platform_usergroup": "S0PLATFORM",
                       "links": {"logs": "https://logs.example/search?q=consumer_group%3D{group}"}},
        "teams": {"payments": {"lead_users": ["U0CAROL"]}, "platform": {"lead_users": ["U0BOB"]}},
        "ownership": {"billing-": "payments"}, "default_team": "platform",
    }
    base.update(overrides)
    return start_bot(make_settings(tmp_path, **base), slack)


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = ladder_bot(tmp_path, local_slack)
    yield running
    running.close()


def open_incident(bot: LocalBot, unique: str, group: str | None = None) -> str:
    body = {"title": f"Ladder {unique}", "labels": {"consumergroup": group or f"billing-{unique}"},
            "dedup_key": f"ladder-{unique}", "runbook": "high-consumer-lag"}
    return str(send(bot, body, source="generic").json()["incident"])


def wait_steps(bot: LocalBot, ref: str, done: int, timeout: float = 20) -> list[ladder.Step]:
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None
    deadline = time.time() + timeout
    while True:
        with bot.ctx.engine.connect() as conn:
            found = ladder.steps(conn, incident.id)
        if sum(s.status in ("fired", "cancelled", "failed") for s in found) >= done or time.time() > deadline:
            bot.ctx.work.wait_idle(30)
            with bot.ctx.engine.connect() as conn:
                return ladder.steps(conn, incident.id)
        time.sleep(0.05)


def thread_texts(bot: LocalBot, ref: str) -> list[str]:
    parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
    return [m.text for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)]


def test_every_step_fires_in_order_with_its_evidence(bot: LocalBot, unique: str) -> None:
    ref = open_incident(bot, unique)
    found = wait_steps(bot, ref, 5)
    assert [(s.minute, s.status) for s in found] == [(5, "fired"), (10, "fired"), (15, "fired"), (20, "fired"),
                                                     (30, "fired")]
    assert all(s.late_by is not None and s.late_by < 1.0 for s in found)
    texts = thread_texts(bot, ref)
    headers = [t for t in texts if t.startswith(":alarm_clock:")]
    assert [h.split("*")[1] for h in headers] == ["5-minute step", "10-minute step", "15-minute step",
                                                  "20-minute step", "30-minute step"]
    joined = "\n".join(texts)
    at = joined.index("*10-minute step*")
    assert "Logs and dashboards: <https://logs.example/search?q=consumer_group%3Dbilling-" in joined[at:]
    assert "Nobody has acknowledged this incident yet" in joined[at:]
    assert "Kafka brokers: local: OK" in joined[joined.index("*15-minute step*"):]
    assert "Brokers healthy, no platform escalation" in joined
    lead = next(t for t in texts if "*30-minute step*" in t)
    # The age is the ladder's minutes when the step is posted: at this time scale a second
    # of the step's own work (a loaded machine) is a minute more, so 30 or 31.
    assert re.search("<@U0CAROL>: " + ref + r" is still unresolved after 3[01] min; team \*payments\*", lead), lead
    # (billing- → payments)
    dms = [m for m in bot.slack.state.messages() if m.channel.startswith("D")]
    assert [m.text.split(" (")[0] for m in dms] == [ref]  # one DM, to the payments lead
    events = [e.kind for e in service.timeline(bot.ctx.engine, service.get(bot.ctx.engine, ref))]  # type: ignore[arg-type]
    assert [k for k in events if k.startswith("escalation.")] == [
        "escalation.lag_dlq", "escalation.consumer_health", "escalation.brokers", "escalation.platform",
        "escalation.lead"]


def test_resolving_at_minute_12_cancels_the_rest(bot: LocalBot, unique: str) -> None:
    ref = open_incident(bot, unique)
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None
    time.sleep(max(0.0, incident.created_at + 12 * 60 / SCALE - time.time()))
    assert "resolved" in bot.slash(f"/incident resolve {ref} fixed").json()["text"]
    found = wait_steps(bot, ref, 5, timeout=10)
    assert [(s.minute, s.status) for s in found] == [(5, "fired"), (10, "fired"), (15, "cancelled"),
                                                     (20, "cancelled"), (30, "cancelled")]
    time.sleep(30 * 60 / SCALE)  # past minute 30: nothing more is posted
    assert not any("*15-minute step*" in t or "*30-minute step*" in t for t in thread_texts(bot, ref))


def test_acknowledging_does_not_stop_the_lead_escalation(bot: LocalBot, unique: str) -> None:
    ref = open_incident(bot, unique)
    bot.slash(f"/incident ack {ref}", user="U0BOB")
    found = wait_steps(bot, ref, 5)
    assert found[-1].status == "fired"
    texts = thread_texts(bot, ref)
    assert any("*30-minute step*" in t and "unresolved" in t for t in texts)
    assert any("<@U0BOB>, what is the status?" in t for t in texts)  # the commander is asked at minute 10


def test_platform_is_paged_when_the_brokers_are_at_fault(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                         unique: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    running = ladder_bot(tmp_path, local_slack, kafka={"local": {"bootstrap_servers": dead, "request_timeout_s": 1}},
                         incidents={"first_checks": 0})
    try:
        ref = open_incident(running, unique, group="orders-svc")
        found = wait_steps(running, ref, 5, timeout=40)
        assert [s.status for s in found] == ["fired"] * 5
        texts = thread_texts(running, ref)
        page = next(t for t in texts if "*20-minute step*" in t)
        assert f"<!subteam^S0PLATFORM> <@U0DAVE>: platform escalation for {ref}." in page
        assert "Kafka unreachable" in page
        dm = [m for m in local_slack.state.messages() if m.channel.startswith("D")]
        assert any(m.text.startswith(f"You are paged for {ref}") for m in dm)
        lead = next(t for t in texts if "*30-minute step*" in t)
        assert "<@U0BOB>" in lead  # orders-svc matches no prefix: the default team's lead
    finally:
        running.close()


def test_manual_escalation_and_ladder_view(bot: LocalBot, unique: str) -> None:
    ref = open_incident(bot, unique)
    view = bot.slash(f"/incident ladder {ref}").json()["text"]
    assert "*5 min* check consumer lag and DLQ depth" in view and "*30 min* escalate to the team lead" in view
    bot.slash(f"/incident escalate {ref} platform", user="U0ALICE")
    texts = thread_texts(bot, ref)
    assert any(t.startswith(":rotating_light: Escalated by <@U0ALICE>") and "<@U0DAVE>" in t for t in texts)
    assert "Escalate to whom?" in bot.slash(f"/incident escalate {ref} ceo").json()["text"]


def test_a_step_that_cannot_post_is_recorded_and_retried(bot: LocalBot, unique: str) -> None:
    ref = open_incident(bot, unique)
    bot.slack.state.fail_next("chat.postMessage", error="internal_error", status=500, times=50)
    found = wait_steps(bot, ref, 1, timeout=10)
    failed = [s for s in found if s.status == "failed"]
    assert failed and failed[0].minute == 5
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None
    assert any(e.kind == "escalation.failed" for e in service.timeline(bot.ctx.engine, incident))
    with bot.ctx.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT scheduled FROM escalation_steps WHERE status='failed'").scalar() == 0
