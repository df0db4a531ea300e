"""Messages the bot keeps up to date and someone deleted (or a chat that forgot
them): the incident's parent, its checklist and an approval card are posted again,
the timeline says so, and the log has one line, not a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.approvals import store as approvals_store
from bot.incidents import service
from bot.localslack.server import LocalSlack
from bot.slack.ids import Action
from tests import kafka_fixtures as kf
from tests.conftest import make_settings, start_bot


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, approvals={"approvers": ["U0BOB"]}), local_slack)
    yield running
    running.close()


def open_incident(bot: LocalBot, title: str) -> str:
    return str(bot.slash(f"/incident open {title}").json()["text"].split()[1])


def cards_of(bot: LocalBot, ref: str) -> list:  # type: ignore[type-arg]
    return [m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith("[") and ref in m.text
            and m.thread_ts in (None, m.ts)]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


def test_a_deleted_parent_is_posted_again_with_a_new_thread(bot: LocalBot, unique: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    ref = open_incident(bot, f"Gone parent {unique}")
    [old] = cards_of(bot, ref)
    bot.slack.state.delete_message(old.channel, old.ts)  # a person deleted it
    caplog.set_level(logging.WARNING)
    bot.slash(f"/incident ack {ref}", user="U0BOB")
    [new] = cards_of(bot, ref)
    assert new.ts != old.ts and new.text.endswith("(acknowledged)")
    thread = [m.text for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=new.ts)]
    assert thread[0].startswith(f"{ref}'s message was gone from the channel (`message_not_found`), so it was "
                                "posted again and this is its thread now")
    assert thread[1].startswith("Runbook: ")  # the checklist, with its buttons, in the new thread
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None and incident.thread_ts == new.ts
    assert "parent.reposted" in [e.kind for e in service.timeline(bot.ctx.engine, incident)]
    assert any(f"{ref}: its message is gone (message_not_found); posting it again" in r.getMessage()
               for r in caplog.records)
    no_traceback(caplog)
    bot.slash(f"/incident resolve {ref} fixed", user="U0BOB")  # later edits go to the new message
    assert [m.text.endswith("(resolved)") for m in cards_of(bot, ref)] == [True]


def test_a_deleted_checklist_is_posted_again_in_the_thread(bot: LocalBot, unique: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    ref = open_incident(bot, f"Gone checklist {unique}")
    [parent] = cards_of(bot, ref)
    checklist = bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)[0]
    assert checklist.text.startswith("Runbook: ")
    bot.slack.state.delete_message(checklist.channel, checklist.ts)
    caplog.set_level(logging.WARNING)
    bot.slash(f"/incident ack {ref}", user="U0BOB")
    again = [m for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts) if m.text.startswith("Runbook: ")]
    assert len(again) == 1 and again[0].ts != checklist.ts
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None and incident.checklist_ts == again[0].ts
    assert "checklist.reposted" in [e.kind for e in service.timeline(bot.ctx.engine, incident)]
    no_traceback(caplog)


def test_a_deleted_approval_card_is_posted_again(bot: LocalBot, unique: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    topic = f"rp-{unique}"
    kf.create_topic(topic, 1)
    ref = open_incident(bot, f"Gone card {unique}")
    [parent] = cards_of(bot, ref)
    bot.slash(f"/add-partitions {topic} 2 --reason 'test run'", thread=parent.ts)
    request_id = bot.slack.state.response_url_posts()[-1]["text"].split()[0].rstrip(":")
    card = next(m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith(f"Approval {request_id}:"))
    bot.slack.state.delete_message(card.channel, card.ts)
    caplog.set_level(logging.WARNING)
    bot.click(card, Action.APPROVE, user="U0BOB")  # the button of a card still on someone's screen
    [shown] = [m for m in bot.slack.state.messages("C0INCIDENTS") if m.text.startswith(f"Approval {request_id}:")]
    assert shown.ts != card.ts and shown.thread_ts == parent.ts and shown.text.endswith("(executed)")
    request = approvals_store.get(bot.ctx.engine, request_id)
    assert request is not None and request.card_ts == shown.ts
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None
    assert "approval.card_reposted" in [e.kind for e in service.timeline(bot.ctx.engine, incident)]
    no_traceback(caplog)
