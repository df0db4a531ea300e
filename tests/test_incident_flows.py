"""Incidents as people see them in Slack: the thread an alert opens, the runbook
checklist and its buttons, updates and resolutions, and /incident in the thread."""

from __future__ import annotations

import time

import pytest

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.slack.ids import Action, step_action
from tests import kafka_fixtures as kf
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import send


def lag_setup(unique: str) -> tuple[str, str]:
    topic, group = f"orders-{unique}", f"billing-{unique}"
    kf.create_topic(topic, 2)
    kf.produce(topic, {0: 12_000, 1: 300})
    kf.commit(group, {(topic, 0): 0, (topic, 1): 300})
    return topic, group


def lag_payload(unique: str, group: str, topic: str, extra: list[dict] | None = None,  # type: ignore[type-arg]
                status: str = "firing") -> dict:  # type: ignore[type-arg]
    labels = {"alertname": "KafkaConsumerLagHigh", "severity": "warning", "consumergroup": group, "topic": topic}
    alerts = [am_alert(f"fp-{unique}", labels, status=status, summary=f"{group} is lagging"), *(extra or [])]
    return alertmanager(f"lag-{unique}", alerts, status=status, common={"alertname": "KafkaConsumerLagHigh"})


def parent_of(bot: LocalBot, ref: str):  # type: ignore[no-untyped-def]
    return next(m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith("[") and ref in m.text
                and (m.thread_ts in (None, m.ts)))


def test_alert_opens_a_thread_with_checklist_and_evidence(alerting_bot: LocalBot, unique: str) -> None:
    topic, group = lag_setup(unique)
    answer = send(alerting_bot, lag_payload(unique, group, topic)).json()
    ref = answer["incident"]
    parent = parent_of(alerting_bot, ref)
    assert parent.text == f"[WARNING] {ref}: {group} is lagging (open)"
    fields = " ".join(f["text"] for b in parent.blocks if b["type"] == "section" for f in b.get("fields", []))
    assert f"group `{group}`" in fields and "High consumer lag" in fields
    replies = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
    assert replies[0].text == "Runbook: High consumer lag (5 diagnosis steps)"
    evidence = replies[1].text
    assert evidence.startswith(f"Consumer lag: {group} (local): WARNING: {group} lags 12,000 messages (warning above 10,000)")
    assert f"lag is uneven: {topic}[0] holds 100% of it" in evidence
    incident = service.get(alerting_bot.ctx.engine, ref)
    assert incident is not None and incident.subject.group == group and incident.runbook_id == "high-consumer-lag"
    events = service.timeline(alerting_bot.ctx.engine, incident)
    assert [e.kind for e in events] == ["opened", "routed", "check"]
    assert events[1].text == "Routed to high-consumer-lag by matcher `alertname=KafkaConsumerLagHigh`."


def test_changes_post_one_update_and_resolution_asks_a_person(alerting_bot: LocalBot, unique: str) -> None:
    topic, group = lag_setup(unique)
    ref = send(alerting_bot, lag_payload(unique, group, topic)).json()["incident"]
    parent = parent_of(alerting_bot, ref)
    before = len(alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts))
    critical = am_alert(f"fp2-{unique}", {"alertname": "KafkaConsumerLagCritical", "severity": "critical",
                                          "consumergroup": group})
    changed = send(alerting_bot, lag_payload(unique, group, topic, extra=[critical])).json()
    assert changed["created"] is False and changed["duplicate"] is False
    send(alerting_bot, lag_payload(unique, group, topic, extra=[critical]))  # the same again: nothing new
    thread = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
    assert len(thread) == before + 1
    assert thread[-1].text == ":rotating_light: Firing: KafkaConsumerLagCritical (1 new, 0 again).\nSeverity raised to *critical*."
    assert parent_of(alerting_bot, ref).text.startswith(f"[CRITICAL] {ref}")  # edited in place
    resolved_critical = {**critical, "status": "resolved"}
    send(alerting_bot, lag_payload(unique, group, topic, extra=[resolved_critical], status="resolved") |
         {"alerts": [am_alert(f"fp-{unique}", {"alertname": "KafkaConsumerLagHigh"}, status="resolved"),
                     resolved_critical]})
    thread = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
    assert thread[-2].text.startswith(":white_check_mark: Resolved: KafkaConsumerLagCritical, KafkaConsumerLagHigh")
    assert thread[-1].text.startswith("Every alert of this incident is resolved.")
    incident = service.get(alerting_bot.ctx.engine, ref)
    assert incident is not None and incident.alerts_resolved and incident.status.value == "open"
    parents = [m for m in alerting_bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts)]
    assert len(parents) == 1 and parents[0].edited


def test_label_less_alert_follows_triage_and_says_what_it_saw(alerting_bot: LocalBot, unique: str) -> None:
    body = alertmanager(f"odd-{unique}", [am_alert(f"odd-{unique}", {"alertname": f"Odd{unique}", "env": "prod"})])
    ref = send(alerting_bot, body).json()["incident"]
    parent = parent_of(alerting_bot, ref)
    thread = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
    assert thread[0].text.startswith("Runbook: Triage an unrecognised alert")
    # right after the checklist, before the evidence of the first checks
    assert thread[1].text == (f"No runbook matched this alert, so it follows generic triage. Labels seen: "
                              f"alertname=Odd{unique}, env=prod. No runbook's matcher fits `alertname=Odd{unique}`, "
                              f"and no label names a DLQ, consumer group, queue or broker (such as consumergroup, "
                              f"group_id, topic, queue, instance or pod).")
    assert any(m.text.startswith("Kafka brokers:") for m in thread[2:])
    # one parent, posted once: never a second one posted and deleted again
    assert alerting_bot.slack.state.calls("chat.delete") == []
    assert len([c for c in alerting_bot.slack.state.calls("chat.postMessage")
                if ref in str(c.params.get("text")) and not c.params.get("thread_ts")]) == 1


@pytest.mark.both_transports
def test_buttons_by_different_people(alerting_bot: LocalBot, unique: str) -> None:
    topic, group = lag_setup(unique)
    ref = send(alerting_bot, lag_payload(unique, group, topic)).json()["incident"]
    parent = parent_of(alerting_bot, ref)
    alerting_bot.click(parent, Action.ACKNOWLEDGE, user="U0BOB")
    parent = parent_of(alerting_bot, ref)
    assert parent.text.endswith("(acknowledged)")
    fields = " ".join(f["text"] for b in parent.blocks if b["type"] == "section" for f in b.get("fields", []))
    assert "<@U0BOB>" in fields
    assert not any(e.get("action_id") == Action.ACKNOWLEDGE for b in parent.blocks if b["type"] == "actions"
                   for e in b["elements"])
    checklist = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)[0]
    alerting_bot.click(checklist, step_action(Action.STEP_DONE, "consumer-logs"), user="U0CAROL")
    alerting_bot.click(checklist, step_action(Action.STEP_DONE, "consumer-logs"), user="U0DAVE")
    checklist = alerting_bot.slack.state.message("C0INCIDENTS", checklist.ts)
    step = next(b for b in checklist.blocks if b.get("block_id") == "step-consumer-logs")
    assert ":white_check_mark:" in step["text"]["text"] and "done by <@U0CAROL>" in step["text"]["text"]
    assert "accessory" not in step  # no Done button any more
    refused = alerting_bot.slack.state.ephemerals(user="U0DAVE")
    assert refused[-1].text == "That step was already marked done."
    before = len(alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts))
    alerting_bot.click(checklist, step_action(Action.RUN_STEP, "slow-partitions"), user="U0CAROL")
    thread = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
    assert len(thread) == before + 1 and thread[-1].text.startswith(f"Consumer lag: {group} (local)")
    incident = service.get(alerting_bot.ctx.engine, ref)
    assert incident is not None
    events = [(e.actor, e.kind) for e in service.timeline(alerting_bot.ctx.engine, incident)]
    assert ("U0BOB", "acknowledged") in events and ("U0CAROL", "step.done") in events and ("U0CAROL", "check") in events


def test_incident_commands_in_the_thread(alerting_bot: LocalBot, unique: str) -> None:
    bot = alerting_bot
    opened = bot.slash(f"/incident open Payments DLQ growing --queue pay-{unique}.dlq --severity critical",
                       user="U0ALICE")
    assert "Opening INC-" in opened.json()["text"]
    ref = opened.json()["text"].split()[1]
    parent = parent_of(bot, ref)
    status = bot.slash("/incident status", thread=parent.ts).json()
    assert status["text"] == f"[CRITICAL] {ref}: Payments DLQ growing (open)"
    assert bot.slash("/incident ack", thread=parent.ts, user="U0BOB").json()["text"] == (
        f"{ref} acknowledged by <@U0BOB>; they are the incident commander.")
    assert bot.slash("/incident ack", thread=parent.ts).json()["text"] == f"{ref} was already acknowledged by <@U0BOB>."
    listing = bot.slash("/incident list").json()["text"]
    assert ref in listing and "acknowledged" in listing
    resolved = bot.slash(f"/incident resolve {ref} consumer redeployed", user="U0BOB").json()["text"]
    assert resolved == f"{ref} resolved by <@U0BOB>: consumer redeployed."
    assert bot.slash(f"/incident resolve {ref}").json()["text"] == f"{ref} was already resolved by <@U0BOB>."
    timeline = bot.slash("/incident timeline", thread=parent.ts).json()["text"]
    assert "Acknowledged" in timeline and "Resolved: consumer redeployed" in timeline
    bot.slash("/incident postmortem", thread=parent.ts)
    files = [f for f in bot.slack.state.files() if f.filename == f"{ref}-postmortem.md"]
    assert len(files) == 1
    markdown = files[0].data.decode()
    assert markdown.startswith(f"# {ref}: Payments DLQ growing")
    assert "| Resolved |" in markdown and "consumer redeployed" in markdown
    assert bot.slash("/incident ack").json()["text"].startswith("Which incident?")
    assert "There is no incident INC-1999-0001" in bot.slash("/incident ack INC-1999-0001").json()["text"]
    assert "`title`" in bot.slash("/incident open x").json()["text"]


def test_summaries_asked_in_the_thread_go_into_the_thread_and_timeline(alerting_bot: LocalBot, unique: str) -> None:
    topic, group = lag_setup(unique)
    ref = send(alerting_bot, lag_payload(unique, group, topic)).json()["incident"]
    parent = parent_of(alerting_bot, ref)
    before = len(alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts))
    alerting_bot.slash(f"/lag {group}", thread=parent.ts, user="U0BOB")
    thread = alerting_bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
    assert len(thread) == before + 1 and thread[-1].text.startswith(f"Consumer lag: {group} (local)")
    assert alerting_bot.slack.state.response_url_posts() == []
    incident = service.get(alerting_bot.ctx.engine, ref)
    assert incident is not None
    last = service.timeline(alerting_bot.ctx.engine, incident)[-1]
    assert (last.actor, last.kind) == ("U0BOB", "check") and last.text.startswith(f"/lag: Consumer lag: {group}")


def test_critical_incidents_get_a_dedicated_channel_and_auto_resolve(tmp_path, local_slack, brokers,  # type: ignore[no-untyped-def]
                                                                     unique: str) -> None:
    from tests.conftest import TOKEN, make_settings, start_bot

    settings = make_settings(tmp_path, alerts={"sources": {"generic": {"bearer_token": TOKEN}}, "auto_resolve": True},
                             incidents={"dedicated_channel_severities": ["critical"],
                                        "oncall_users": ["U0BOB", "U0CAROL"]})
    bot = start_bot(settings, local_slack)
    try:
        body = {"title": "Orders DLQ Overflowing!", "severity": "critical", "labels": {"queue": f"orders-{unique}.dlq"},
                "dedup_key": f"dlq-{unique}", "runbook": "dlq-filling"}
        ref = send(bot, body, source="generic").json()["incident"]
        channel = next(c for c in local_slack.state.channels() if c.name.startswith(f"inc-{ref.lower()}"))
        assert channel.name == f"inc-{ref.lower()}-orders-dlq-overflowing"
        assert {"U0BOB", "U0CAROL"} <= set(channel.members)
        parent = parent_of(bot, ref)
        assert any(f"<#{channel.id}>" in e.get("text", "") for b in parent.blocks if b["type"] == "context"
                   for e in b["elements"])
        assert service.get(bot.ctx.engine, ref).runbook_id == "dlq-filling"  # type: ignore[union-attr]
        # Inside the dedicated channel, commands act on its incident.
        assert bot.slash("/incident status", channel=channel.id).json()["text"].startswith(f"[CRITICAL] {ref}")
        send(bot, {**body, "status": "resolved"}, source="generic")
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None and incident.status.value == "resolved" and incident.resolved_by == "generic"
        assert parent_of(bot, ref).text.endswith("(resolved)")
        again = send(bot, body, source="generic").json()  # the same key after resolution: a new incident
        assert again["created"] is True and again["incident"] != ref
    finally:
        bot.close()


@pytest.mark.both_transports
def test_app_home_lists_open_incidents(alerting_bot: LocalBot, unique: str) -> None:
    from bot.slack.incident_actions import publish_home

    topic, group = lag_setup(unique)
    ref = send(alerting_bot, lag_payload(unique, group, topic)).json()["incident"]
    publish_home(alerting_bot.ctx, "U0ALICE")
    home = alerting_bot.slack.state.home_view("U0ALICE")
    assert home is not None
    text = " ".join(b["text"]["text"] for b in home.blocks if b["type"] == "section")
    assert ref in text and "open" in text
    # The same through Slack's event, as Slack sends it when Bob opens the tab.
    event = {"type": "event_callback", "team_id": "T0LOCAL", "api_app_id": "A0LOCAL", "event_id": f"Ev{unique}",
             "event_time": int(time.time()), "event": {"type": "app_home_opened", "user": "U0BOB", "tab": "home"}}
    assert alerting_bot.event(event).status_code == 200
    alerting_bot.ctx.work.wait_idle(10)
    bob = alerting_bot.slack.state.home_view("U0BOB")
    assert bob is not None and ref in " ".join(b["text"]["text"] for b in bob.blocks if b["type"] == "section")
