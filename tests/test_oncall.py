"""On-call through Slack: `/oncall` and `/oncall cover` against a local rotation, the
lead step paging whoever a PagerDuty schedule names, incident roles on the parent
message, status updates (thread, stakeholder channel, postmortem) and reminders at
time scale that stop on resolve."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.localbot import LocalBot
from bot.escalation import reminders
from bot.incidents import service
from bot.incidents.tables import reminders as reminder_rows
from bot.localslack.server import LocalSlack
from bot.oncall import rotation, store
from tests.conftest import make_settings, start_bot
from tests.oncall_standins import VendorStandIn, pd_entry
from tests.test_escalation import ladder_bot, open_incident, thread_texts, wait_steps
from tests.test_escalation_people import dms_to
from tests.test_oncall_sources import iso

ROTATION = {"timezone": "Europe/Berlin",
            "layers": [{"members": ["U0ALICE", "U0BOB"], "shift": "daily", "handoff_time": "09:00"}]}


@pytest.fixture
def oncall_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    settings = make_settings(
        tmp_path, teams={"payments": {"lead_oncall": "payments-primary"}, "platform": {"lead_users": ["U0DAVE"]}},
        oncall={"schedules": {"payments-primary": ROTATION,
                              "vendor": {"kind": "pagerduty", "token": "k", "schedule_id": "P1",
                                         "api_url": "http://127.0.0.1:9"}},
                "stakeholder_channel": "C0GENERAL"},
        incidents={"first_checks": 0})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


def parent_of(bot: LocalBot, ref: str):  # type: ignore[no-untyped-def]
    return next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))


def fields(message) -> str:  # type: ignore[no-untyped-def]
    return " ".join(f["text"] for b in message.blocks if b["type"] == "section" for f in b.get("fields", []))


def test_oncall_shows_now_next_and_the_handoff_in_the_team_zone(oncall_bot: LocalBot) -> None:
    cfg = oncall_bot.ctx.settings.oncall.schedules["payments-primary"]
    now = time.time()
    current = rotation.on_call(cfg, [], now)[0]  # type: ignore[arg-type]
    change = rotation.next_change(cfg, [], now)  # type: ignore[arg-type]
    assert change is not None
    text = oncall_bot.slash("/oncall payments").json()["text"]
    assert text == (f"*payments* (schedule `payments-primary`, local rotation): on call now <@{current}> until "
                    f"{rotation.local_time(change[0], 'Europe/Berlin')}; next <@{change[1][0]}>.")
    assert text.split(" until ")[1].split(";")[0].endswith(("CET", "CEST"))  # Berlin's clock, not UTC


def test_cover_adds_an_override_recorded_in_the_audit_trail(oncall_bot: LocalBot) -> None:
    answer = oncall_bot.slash("/oncall cover <@U0CAROL|carol> 2h payments", user="U0DAVE").json()["text"]
    assert answer.startswith(":white_check_mark: <@U0CAROL> covers *payments* until ")
    assert answer.endswith("(added by <@U0DAVE>).") and " in place of <@U0" in answer
    shown = oncall_bot.slash("/oncall payments").json()["text"]
    assert shown.startswith("*payments* (schedule `payments-primary`, local rotation): on call now <@U0CAROL> until ")
    trail = store.audit_trail(oncall_bot.ctx.engine, "payments-primary")
    assert [(actor, action) for _, actor, action, _ in trail] == [("U0DAVE", "override.added")]
    assert trail[0][3].startswith("U0CAROL covers payments-primary (team payments) from 20")
    assert trail[0][3].endswith(" UTC")
    overrides = store.overrides_for(oncall_bot.ctx.engine, "payments-primary", time.time())
    assert len(overrides) == 1 and 7190 < overrides[0].end - overrides[0].start <= 7200


@pytest.mark.parametrize("line, says", [
    ("/oncall cover carol 2h payments", "`carol` is not a person: mention them"),
    ("/oncall cover <@U0CAROL> two-hours payments", "`two-hours` is not a duration"),
    ("/oncall cover <@U0CAROL> 90d payments", "A cover lasts from a minute to 31 days"),
    ("/oncall cover <@U0CAROL>", "Who covers, and for how long?"),
    ("/oncall cover <@U0CAROL> 2h vendor", "`vendor` is a PagerDuty schedule: add the override in PagerDuty"),
    ("/oncall cover <@U0CAROL> 2h platform", "Team `platform` has no on-call schedule"),
    ("/oncall paymnets", "No team or on-call schedule named `paymnets`. Did you mean `payments`"),
])
def test_bad_oncall_input_gets_a_clear_message(oncall_bot: LocalBot, line: str, says: str) -> None:
    assert says in oncall_bot.slash(line).json()["text"]
    assert store.audit_trail(oncall_bot.ctx.engine) == []


def test_vendor_out_of_reach_is_said_in_oncall(oncall_bot: LocalBot) -> None:
    oncall_bot.slash("/oncall vendor")
    shown = [e.text for e in oncall_bot.slack.state.ephemerals(user="U0ALICE")]
    assert any(t.startswith("*vendor* (PagerDuty): on call now nobody (fallback).") and
               "PagerDuty could not be reached (ConnectionError), and it has no fallback_users" in t for t in shown)


def test_lead_step_dms_whoever_the_pagerduty_schedule_names(tmp_path: Path, local_slack: LocalSlack,
                                                            brokers: None, unique: str) -> None:
    pagerduty = VendorStandIn("pagerduty").start()
    now = time.time()
    pagerduty.oncalls = [pd_entry("erin@example.com", iso(now - 60), iso(now + 3600))]
    try:
        bot = ladder_bot(tmp_path, local_slack, escalation={"time_scale": 300, "steps": [{"minute": 1, "kind": "lead"}]},
                         incidents={"first_checks": 0},
                         teams={"payments": {"lead_oncall": "pay"}, "platform": {"lead_users": ["U0BOB"]}},
                         oncall={"schedules": {"pay": {"kind": "pagerduty", "api_url": pagerduty.url,
                                                       "token": "secret-key", "schedule_id": "PSCHED1"}},
                                 "user_map": {"erin@example.com": "U0CAROL"}})
        try:
            ref = open_incident(bot, unique)  # billing-… belongs to payments
            assert [s.status for s in wait_steps(bot, ref, 1)] == ["fired"]
            texts = thread_texts(bot, ref)
            assert any("*1-minute step*" in t and "<@U0CAROL>: " in t and "team *payments*" in t for t in texts)
            assert len(dms_to(local_slack, "U0CAROL")) == 1 and dms_to(local_slack, "U0CAROL")[0].startswith(ref)
            assert pagerduty.errors == [] and pagerduty.requests
        finally:
            bot.close()
    finally:
        pagerduty.stop()


def test_roles_show_on_the_parent_and_the_handover_is_recorded(oncall_bot: LocalBot, unique: str) -> None:
    opened = oncall_bot.slash(f"/incident open Roles {unique} --severity critical").json()["text"]
    ref = opened.split()[1]
    parent = parent_of(oncall_bot, ref)
    answer = oncall_bot.slash("/incident role commander <@U0BOB>", thread=parent.ts).json()["text"]
    assert answer == "<@U0BOB> is the commander (named by <@U0ALICE>)."
    oncall_bot.slash("/incident role comms <@U0CAROL>", thread=parent.ts)
    oncall_bot.slash(f"/incident role {ref} scribe <@U0DAVE>", channel="C0GENERAL")
    handed = oncall_bot.slash("/incident role commander <@U0DAVE>", thread=parent.ts, user="U0BOB").json()["text"]
    assert handed == "Commander role handed over from <@U0BOB> to <@U0DAVE> by <@U0BOB>."
    shown = fields(parent_of(oncall_bot, ref))
    assert "*Commander*\n<@U0DAVE>" in shown and "*Comms*\n<@U0CAROL>" in shown and "*Scribe*\n<@U0DAVE>" in shown
    assert parent_of(oncall_bot, ref).text.endswith("(acknowledged)")
    incident = service.get(oncall_bot.ctx.engine, ref)
    assert incident is not None
    roles = [e.text for e in service.timeline(oncall_bot.ctx.engine, incident) if e.kind.startswith("role.")]
    assert roles[-1] == "Commander role handed over from <@U0BOB> to <@U0DAVE> by <@U0BOB>"
    assert ":bust_in_silhouette: Commander role handed over" in "\n".join(thread_texts(oncall_bot, ref))
    assert "Usage: `/incident role" in oncall_bot.slash("/incident role boss <@U0BOB>", thread=parent.ts).json()["text"]
    assert "is not a person" in oncall_bot.slash("/incident role comms bob", thread=parent.ts).json()["text"]


def test_update_goes_to_thread_stakeholders_and_postmortem(oncall_bot: LocalBot, unique: str) -> None:
    ref = oncall_bot.slash(f"/incident open Update {unique}").json()["text"].split()[1]
    parent = parent_of(oncall_bot, ref)
    oncall_bot.slash("/incident update conditions: lag 40,000 and falling actions: scaled billing to 6 "
                     "needs: a DBA to check locks", thread=parent.ts, user="U0BOB")
    oncall_bot.slash(f"/incident update {ref} consumers caught up", user="U0BOB")
    posted = [t for t in thread_texts(oncall_bot, ref) if t.startswith(":memo:")]
    assert posted[0] == (f":memo: *Status update* on {ref} from <@U0BOB> (warning, open)\n"
                         "*Conditions*: lag 40,000 and falling\n*Actions*: scaled billing to 6\n"
                         "*Needs*: a DBA to check locks")
    assert posted[1].endswith("*Conditions*: consumers caught up")
    stakeholders = [m.text for m in oncall_bot.slack.state.messages("C0GENERAL")]
    assert len(stakeholders) == 2 and stakeholders[0].startswith(posted[0]) and ref in stakeholders[0]
    said = [e.text for e in oncall_bot.slack.state.ephemerals(user="U0BOB")]
    assert f"Status update posted in {ref}'s thread and in the stakeholder channel." in said
    oncall_bot.slash("/incident postmortem", thread=parent.ts)
    markdown = next(f for f in oncall_bot.slack.state.files() if f.filename == f"{ref}-postmortem.md").data.decode()
    assert "## Status updates" in markdown and "- **Needs**: a DBA to check locks" in markdown
    assert "- **Conditions**: consumers caught up" in markdown
    assert "What is the status?" in oncall_bot.slash("/incident update", thread=parent.ts).json()["text"]


def test_reminders_fire_at_time_scale_and_stop_on_resolve(tmp_path: Path, local_slack: LocalSlack,
                                                          brokers: None, unique: str) -> None:
    # A minute lasts 0.1 s: a status reminder every 1.5 s, the stale DM after 2.5 s.
    bot = start_bot(make_settings(tmp_path, escalation={"time_scale": 600, "steps": [{"minute": 1000, "kind": "lead"}]},
                                  incidents={"first_checks": 0},
                                  oncall={"reminders": {"every_minutes": {"critical": 15}, "stale_after_minutes": 25}}),
                    local_slack)
    try:
        ref = bot.slash(f"/incident open Remind {unique} --severity critical").json()["text"].split()[1]
        parent = parent_of(bot, ref)
        bot.slash("/incident ack", thread=parent.ts, user="U0BOB")

        def reminded() -> list[str]:
            return [t for t in thread_texts(bot, ref) if t.startswith(":hourglass:")]

        deadline = time.time() + 20
        while (len(reminded()) < 2 or not dms_to(local_slack, "U0BOB")) and time.time() < deadline:
            time.sleep(0.1)
        assert reminded()[0] == (f":hourglass: <@U0BOB>, time for a status update on {ref} (every 15 min for "
                                 "critical incidents): `/incident update conditions: … actions: … needs: …`")
        assert dms_to(local_slack, "U0BOB")[0].startswith(f"{ref} (critical) has had no status update for 25 min")
        # Two replicas' duties at once: every reminder row is one post, never two.
        racers = [threading.Thread(target=reminders.run, args=(bot.ctx,)) for _ in range(4)]
        for _ in range(3):
            [t.start() for t in racers]
            [t.join() for t in racers]
            racers = [threading.Thread(target=reminders.run, args=(bot.ctx,)) for _ in range(4)]
            time.sleep(0.4)
        bot.ctx.work.wait_idle(10)
        with bot.ctx.engine.connect() as conn:
            rows = conn.execute(select(reminder_rows.c.kind)).scalars().all()
        assert rows.count("status") == len(reminded()) and rows.count("stale") == len(dms_to(local_slack, "U0BOB"))
        bot.slash(f"/incident resolve {ref}")
        bot.ctx.work.wait_idle(10)
        count, dms = len(reminded()), len(dms_to(local_slack, "U0BOB"))
        time.sleep(3.5)  # more than two reminder intervals
        bot.ctx.work.wait_idle(10)
        assert len(reminded()) == count and len(dms_to(local_slack, "U0BOB")) == dms
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None
        kinds = [e.kind for e in service.timeline(bot.ctx.engine, incident)]
        assert "reminder.status" in kinds and "reminder.stale" in kinds
        # A second replica's claim on the same due time loses.
        assert reminders.claim(bot.ctx, incident.id, "status", 123.0) is True
        assert reminders.claim(bot.ctx, incident.id, "status", 123.0) is False
    finally:
        bot.close()


def test_oncall_without_a_team_lists_every_schedule(oncall_bot: LocalBot) -> None:
    oncall_bot.slash("/oncall")
    shown = [e.text for e in oncall_bot.slack.state.ephemerals(user="U0ALICE")]
    listing = next(t for t in shown if t.startswith("*payments*"))
    assert "\n*vendor* (PagerDuty): on call now nobody (fallback)." in listing


def test_platform_escalation_pages_the_local_rotation_with_its_override(tmp_path: Path, local_slack: LocalSlack,
                                                                         brokers: None, unique: str) -> None:
    bot = start_bot(make_settings(tmp_path, incidents={"first_checks": 0},
                                  escalation={"platform_oncall": "platform-rota", "steps": [{"minute": 600,
                                                                                             "kind": "lead"}]},
                                  oncall={"schedules": {"platform-rota": {"layers": [{"members": ["U0BOB"]}]}}}),
                    local_slack)
    try:
        bot.slash("/oncall cover <@U0DAVE> 1h platform")
        ref = bot.slash(f"/incident open Platform {unique}").json()["text"].split()[1]
        parent = parent_of(bot, ref)
        bot.slash("/incident escalate platform", thread=parent.ts)
        bot.ctx.work.wait_idle(30)
        paged = [t for t in thread_texts(bot, ref) if "platform escalation" in t]
        assert len(paged) == 1 and "<@U0DAVE>: platform escalation" in paged[0] and "<@U0BOB>" not in paged[0]
        assert len(dms_to(local_slack, "U0DAVE")) == 1 and not dms_to(local_slack, "U0BOB")
    finally:
        bot.close()
