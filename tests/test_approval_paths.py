"""A person who is not an approver cannot approve by any path: the purge confirmation
modal submitted directly (without pressing Approve), a button press whose payload was
edited to name an approver (the signature no longer matches), an approver's press
replayed more than five minutes later, and a press on a purge (whose approval goes
through a modal: the non-approver must not even get it). The
request stays `requested` and the resource untouched every time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pika
import pytest

from bot.app.localbot import LocalBot
from bot.approvals import store
from bot.localslack.sender import block_action_payload, signature
from bot.localslack.server import LocalSlack
from bot.slack.ids import CONFIRM_BLOCK, CONFIRM_INPUT, Action, Callback
from tests.conftest import RABBIT_PORT, SIGNING_SECRET, start_bot
from tests.test_approvals import approvals_settings, card, incident_thread, last_request


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    running = start_bot(approvals_settings(tmp_path), local_slack)  # approvers: U0BOB, U0CAROL
    yield running
    running.close()


@pytest.fixture
def purge_request(bot: LocalBot, unique: str) -> Iterator[tuple[str, str]]:
    dlq = f"guard-{unique}.dlq"
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    channel = conn.channel()
    channel.queue_declare(dlq)
    for i in range(4):
        channel.basic_publish("", dlq, f"dead {i}".encode())
    conn.close()
    _, thread = incident_thread(bot, "Approval paths")
    bot.slash(f"/purge-dlq {dlq} --reason \"drill: who may approve\"", thread=thread, user="U0ALICE")
    yield last_request(bot), dlq
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    conn.channel().queue_delete(dlq)
    conn.close()


def _untouched(bot: LocalBot, request_id: str, dlq: str) -> None:
    bot.ctx.work.wait_idle(60)
    assert store.get(bot.ctx.engine, request_id).state == "requested"  # type: ignore[union-attr]
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", RABBIT_PORT))
    assert conn.channel().queue_declare(dlq, passive=True).method.message_count == 4
    conn.close()


def _confirm_view(request_id: str, dlq: str) -> dict[str, object]:
    """The purge confirmation modal as its submission carries it, typed correctly."""
    return {"id": "V0FORGED", "type": "modal", "callback_id": str(Callback.CONFIRM_PURGE),
            "private_metadata": json.dumps({"request": request_id}), "title": {"type": "plain_text", "text": "x"},
            "blocks": [], "state": {"values": {CONFIRM_BLOCK: {CONFIRM_INPUT: {"type": "plain_text_input",
                                                                                "value": dlq}}}}}


def test_a_non_approver_submitting_the_confirmation_modal_directly_is_refused(
        bot: LocalBot, purge_request: tuple[str, str]) -> None:
    request_id, dlq = purge_request
    # The stand-in's own modal would carry the same metadata: read it to forge nothing the bot would not send.
    bot.click(card(bot, request_id), Action.APPROVE, user="U0CAROL")
    modal = next(v for v in bot.slack.state.views() if v.payload.get("callback_id") == Callback.CONFIRM_PURGE)
    view = {**_confirm_view(request_id, dlq), "private_metadata": modal.payload["private_metadata"]}
    answer = bot.sender.interaction({"type": "view_submission", "team": {"id": "T0LOCAL"},
                                     "user": {"id": "U0DAVE"}, "view": view})
    assert answer.status_code == 200
    _untouched(bot, request_id, dlq)
    told = bot.slack.state.ephemerals(user="U0DAVE")[-1].text
    assert told.startswith("Only <@U0BOB>, <@U0CAROL> may approve")
    # The requester too: a second person has to.
    bot.sender.interaction({"type": "view_submission", "team": {"id": "T0LOCAL"}, "user": {"id": "U0ALICE"},
                            "view": view})
    _untouched(bot, request_id, dlq)
    assert bot.slack.state.ephemerals(user="U0ALICE")[-1].text.startswith("You cannot approve your own request")


def _press(bot: LocalBot, request_id: str, user: str) -> dict[str, object]:
    c = card(bot, request_id)
    button = next(e for b in c.blocks if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == Action.APPROVE)
    return block_action_payload(user_id=user, channel_id=c.channel, message_ts=c.ts, action=button)


def _post(bot: LocalBot, body: bytes, stamp: str, signed: str) -> int:
    return bot.sender.session.post(bot.sender.events_url, data=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signed}).status_code


def test_an_edited_press_and_a_replayed_one_are_refused(bot: LocalBot, purge_request: tuple[str, str]) -> None:
    request_id, dlq = purge_request
    stamp = str(int(time.time()))
    honest = urlencode({"payload": json.dumps(_press(bot, request_id, "U0DAVE"))}).encode()
    signed = signature(SIGNING_SECRET, stamp, honest)
    edited = honest.replace(b"U0DAVE", b"U0BOB")  # the same signature over another body
    assert _post(bot, edited, stamp, signed) == 401
    old = str(int(time.time()) - 6 * 60)  # an approver's genuine press, replayed six minutes on
    approver = urlencode({"payload": json.dumps(_press(bot, request_id, "U0BOB"))}).encode()
    assert _post(bot, approver, old, signature(SIGNING_SECRET, old, approver)) == 401
    _untouched(bot, request_id, dlq)


def test_a_non_approver_pressing_approve_on_a_purge_gets_no_confirmation_modal(
        bot: LocalBot, purge_request: tuple[str, str]) -> None:
    request_id, dlq = purge_request
    assert bot.sender.interaction(_press(bot, request_id, "U0DAVE")).status_code == 200
    _untouched(bot, request_id, dlq)
    assert bot.slack.state.ephemerals(user="U0DAVE")[-1].text.startswith("Only <@U0BOB>, <@U0CAROL> may approve")
    assert not any(v.user_id == "U0DAVE" for v in bot.slack.state.views())
