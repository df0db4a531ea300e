"""Approval policies against the real Kafka: a purge on the production cluster needs
two different approvers (neither the requester), one on staging needs one, every
destructive request carries its reason to the card and the audit trail, and an
approver on call is named first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from bot.app.localbot import LocalBot, Transport
from bot.approvals import flow, store
from bot.incidents import service
from bot.localslack.server import LocalSlack
from bot.slack.ids import CONFIRM_BLOCK, CONFIRM_INPUT, Action
from tests import kafka_fixtures as kf
from tests.conftest import BOT_TOKEN, KAFKA, make_settings, start_bot
from tests.test_approvals import as_seen, card, card_sections, incident_thread, last_request
from tests.test_escalation_people import check_config

PROD_POLICY = {"actions": ["purge-dlq"], "clusters": ["prod"], "approvers": ["U0BOB", "U0CAROL"], "count": 2}


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, transport: Transport) -> Iterator[LocalBot]:
    kafka = {"bootstrap_servers": KAFKA, "request_timeout_s": 3}
    settings = make_settings(tmp_path, kafka={"prod": kafka, "staging": kafka},
                             approvals={"approvers": ["U0DAVE", "U0BOB"], "policies": [PROD_POLICY]})
    running = start_bot(settings, local_slack, transport)
    yield running
    running.close()


def dlq_with(unique: str, messages: int) -> str:
    source = f"pay-{unique}"
    kf.create_topic(source, 1)
    kf.create_topic(f"{source}.dlq", 1)
    kf.produce(f"{source}.dlq", {0: messages})
    return f"{source}.dlq"


def low_watermark(topic: str) -> int:
    consumer = kf.Consumer({"bootstrap.servers": KAFKA, "group.id": "probe-unused"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[0]
    finally:
        consumer.close()


def approve_purge(bot: LocalBot, request_id: str, user: str, typed: str) -> Any:
    """Press Approve on the card as `user`; when the name modal opens, type `typed` into it."""
    views_before = len(bot.slack.state.views())
    bot.click(card(bot, request_id), Action.APPROVE, user=user)
    bot.ctx.work.wait_idle(30)
    views = bot.slack.state.views()
    if len(views) == views_before:
        return None  # refused before any modal: the ephemeral says why
    modal = views[-1]
    return submit_name(bot, modal, user, typed)


def submit_name(bot: LocalBot, modal: Any, user: str, typed: str) -> Any:
    answer = bot.sender.interaction({"type": "view_submission", "team": {"id": "T0LOCAL"}, "user": {"id": user},
                                     "view": {**modal.payload, "id": modal.id, "state": {"values": {CONFIRM_BLOCK: {
                                         CONFIRM_INPUT: {"type": "plain_text_input", "value": typed}}}}}})
    bot.ctx.work.wait_idle(60)
    return answer


def told(bot: LocalBot, user: str) -> str:
    return bot.slack.state.ephemerals(user=user)[-1].text


def test_a_production_purge_needs_two_approvers(bot: LocalBot, unique: str) -> None:
    dlq = dlq_with(unique, 6)
    bot.ctx.oncall = lambda cluster: ["U0CAROL"] if cluster == "prod" else []
    ref, thread = incident_thread(bot, "Payments DLQ full of poison pills")
    bot.slash(f'/purge-dlq {dlq} --cluster prod --reason "6 poison pills, investigated in OPS-12"', thread=thread,
              user="U0ALICE")
    answer = bot.slack.state.response_url_posts()[-1]["text"]
    assert answer.endswith("is waiting for 2 different approvers from <@U0CAROL> (on call), <@U0BOB>: the dry-run "
                           "plan is on the card.")
    request_id = last_request(bot)
    c = card(bot, request_id)
    shown = as_seen(card_sections(c))
    assert "*Reason*: 6 poison pills, investigated in OPS-12" in shown
    small_print = " ".join(e.get("text", "") for b in c.blocks if b["type"] == "context" for e in b["elements"])
    assert "2 different people from <@U0CAROL> (on call), <@U0BOB> approve." in small_print

    assert approve_purge(bot, request_id, "U0ALICE", dlq) is None
    assert told(bot, "U0ALICE") == "You cannot approve your own request: a second person has to."
    assert approve_purge(bot, request_id, "U0DAVE", dlq) is None  # a global approver, not one of prod's purges
    assert told(bot, "U0DAVE") == "Only <@U0CAROL> (on call), <@U0BOB> may approve this."

    approve_purge(bot, request_id, "U0BOB", dlq)
    request = store.get(bot.ctx.engine, request_id)
    assert request is not None and request.state == "requested" and request.votes == ("U0BOB",)
    assert "*1 of 2 approvals*: <@U0BOB>" in card_sections(card(bot, request_id))
    assert any(b["type"] == "actions" for b in card(bot, request_id).blocks)  # still waiting: buttons stay
    assert low_watermark(dlq) == 0  # nothing purged after one approval

    modal = bot.slack.state.views()[-1]  # Bob's confirmation modal, submitted again (a replayed payload)
    submit_name(bot, modal, "U0BOB", dlq)
    assert told(bot, "U0BOB") == ("You already approved this (1 of 2 approvals): it needs 1 more, from a different "
                                  "approver.")
    assert approve_purge(bot, request_id, "U0BOB", dlq) is None  # the button again: refused before the modal
    assert store.get(bot.ctx.engine, request_id).votes == ("U0BOB",)  # type: ignore[union-attr]
    assert low_watermark(dlq) == 0

    approve_purge(bot, request_id, "U0CAROL", dlq)
    request = store.get(bot.ctx.engine, request_id)
    assert request is not None and request.state == "executed" and request.votes == ("U0BOB", "U0CAROL")
    assert low_watermark(dlq) == 6
    final = card(bot, request_id)
    text = card_sections(final)
    assert "*2 of 2 approvals*: <@U0BOB>, <@U0CAROL>" in text and "Verified* :white_check_mark:" in text
    trail = store.trail(bot.ctx.engine, request_id)
    assert [t[2] for t in trail] == ["requested", "approval", "approved", "executing", "executed"]
    assert [(t[1], t[3]) for t in trail[1:3]] == [("U0BOB", "1 of 2 approvals"), ("U0CAROL", "2 of 2 approvals")]
    assert "Reason: 6 poison pills, investigated in OPS-12" in (trail[0][3] or "")
    incident = service.get(bot.ctx.engine, ref)
    events = [(e.kind, e.text) for e in service.timeline(bot.ctx.engine, incident)  # type: ignore[arg-type]
              if e.kind.startswith("approval.")]
    assert [k for k, _ in events] == ["approval.requested", "approval.approval", "approval.approved",
                                      "approval.executed"]
    assert "because 6 poison pills, investigated in OPS-12" in events[0][1]
    assert "approved by <@U0BOB> (1 of 2 approvals" in events[1][1]


def test_a_staging_purge_needs_one_approver(bot: LocalBot, unique: str) -> None:
    dlq = dlq_with(unique, 4)
    _, thread = incident_thread(bot, "Staging DLQ")
    bot.slash(f'/purge-dlq {dlq} --cluster staging --reason "test data only"', thread=thread, user="U0ALICE")
    request_id = last_request(bot)
    assert "*Reason*: test data only" in card_sections(card(bot, request_id))
    approve_purge(bot, request_id, "U0DAVE", dlq)
    request = store.get(bot.ctx.engine, request_id)
    assert request is not None and request.state == "executed" and request.votes == ("U0DAVE",)
    assert low_watermark(dlq) == 4
    assert [t[2] for t in store.trail(bot.ctx.engine, request_id)] == ["requested", "approved", "executing",
                                                                      "executed"]


def test_a_denial_after_the_first_approval_ends_it(bot: LocalBot, unique: str) -> None:
    dlq = dlq_with(unique, 3)
    _, thread = incident_thread(bot, "Denied purge")
    bot.slash(f'/purge-dlq {dlq} --cluster prod --reason "cleanup after replay"', thread=thread, user="U0ALICE")
    request_id = last_request(bot)
    approve_purge(bot, request_id, "U0BOB", dlq)
    assert flow.deny(bot.ctx, request_id, "U0CAROL", "the replay has not been verified yet") is None
    assert not any(b["type"] == "actions" for b in card(bot, request_id).blocks)
    # A replayed approval (the card has no button any more) is refused.
    assert flow.approve(bot.ctx, request_id, "U0CAROL") == \
        "This request is already denied by <@U0CAROL>; it cannot be acted on any more."
    request = store.get(bot.ctx.engine, request_id)
    assert request is not None and request.state == "denied"
    assert low_watermark(dlq) == 0
    assert [t[2] for t in store.trail(bot.ctx.engine, request_id)] == ["requested", "approval", "denied"]


@pytest.mark.parametrize("command", ["/purge-dlq {dlq} --cluster prod", "/purge-dlq {dlq} --reason ' '",
                                     "/replay-dlq {dlq}", "/reset-offsets g --topic t --to-earliest",
                                     "/add-partitions t 4", "/elect-leaders", "/restore-offsets RP-00000"])
def test_every_destructive_command_needs_a_reason(bot: LocalBot, unique: str, command: str) -> None:
    _, thread = incident_thread(bot, "Reasons")
    answer = bot.slash(command.format(dlq=f"x-{unique}.dlq"), thread=thread).json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("This request has no reason. Every destructive request says why")
    assert '`--reason "…"`' in answer["text"]
    assert not any(m.text.startswith("Approval ") for m in bot.slack.state.messages("C0INCIDENTS"))


def test_check_config_names_unknown_policy_approvers(local_slack: LocalSlack) -> None:
    result = check_config({"INCIDENTBOT_SLACK__BOT_TOKEN": BOT_TOKEN, "INCIDENTBOT_SLACK__API_URL": local_slack.url,
                           "INCIDENTBOT_APPROVALS__POLICIES": '[{"clusters": ["local"], "approvers": ["U0BOB", '
                                                             '"U0GHOST"], "approvers_usergroup": "S0NOPE"}]'})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "approvals.policies" in line]
    assert warnings == [
        "incidentbot: warning: approvals.policies[0].approvers: Slack does not know the user U0GHOST (or it is "
        "deactivated); the bot cannot mention or message it",
        "incidentbot: warning: approvals.policies[0].approvers_usergroup: Slack does not know the user group S0NOPE "
        "(or it is deactivated); the bot cannot page it",
    ]
