"""The local Slack stand-in, driven by the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.localslack import api_chat
from bot.localslack.core import Event
from bot.localslack.models import Channel, User
from bot.localslack.server import HANDLERS, LocalSlack
from bot.localslack.state import WorkspaceState

TOKEN = "xoxb-localslack-test-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[LocalSlack]:
    with LocalSlack(TOKEN, WorkspaceState(clock=clock)) as server:
        yield server


@pytest.fixture
def client(slack: LocalSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url, timeout=10)


def slack_error(call: Any, *args: Any, **kwargs: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call(*args, **kwargs)
    return info.value


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


# -- messages ---------------------------------------------------------------------------

def test_post_reply_and_update_round_trip(slack: LocalSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="#incidents", text="Kafka lag on orders",
                                     blocks=[section("*Kafka lag* on `orders`")])
    assert parent["channel"] == "C0INCIDENTS"
    assert parent["message"]["bot_id"] == "B0BOT" and parent["message"]["user"] == "U0BOT"
    reply = client.chat_postMessage(channel="C0INCIDENTS", text="Runbook step 1",
                                    thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert float(reply["ts"]) > float(parent["ts"])

    updated = client.chat_update(channel="C0INCIDENTS", ts=parent["ts"], text="Resolved")
    assert updated["text"] == "Resolved" and updated["ts"] == parent["ts"]

    thread = slack.state.thread("C0INCIDENTS", parent["ts"])
    assert [m.text for m in thread] == ["Resolved", "Runbook step 1"]
    assert thread[0].edited and thread[0].reply_count == 1
    assert thread[0].blocks == [section("*Kafka lag* on `orders`")]  # update kept the blocks
    replies = client.conversations_replies(channel="C0INCIDENTS", ts=parent["ts"])
    assert [m["ts"] for m in replies["messages"]] == [parent["ts"], reply["ts"]]
    assert replies["messages"][0]["reply_count"] == 1
    history = client.conversations_history(channel="C0INCIDENTS")
    assert [m["ts"] for m in history["messages"]] == [parent["ts"]]  # replies stay in the thread


def test_ts_values_are_unique_and_increasing(slack: LocalSlack) -> None:
    stamps = [slack.state.next_ts() for _ in range(200)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 200
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_wrong_or_missing_token(slack: LocalSlack) -> None:
    wrong = slack_error(WebClient(token="xoxb-wrong", base_url=slack.url).auth_test)
    assert wrong.response.status_code == 200 and wrong.response["error"] == "invalid_auth"
    missing = slack_error(WebClient(base_url=slack.url).auth_test)
    assert missing.response["error"] == "not_authed"
    assert all("token" not in call.params for call in slack.state.calls())


def test_channel_not_found_and_not_in_channel(slack: LocalSlack, client: WebClient) -> None:
    assert slack_error(client.chat_postMessage, channel="C0NOPE", text="x") \
        .response["error"] == "channel_not_found"
    slack.state.add_channel(Channel("C0SECRET", "secret", is_private=True, members=["U0ALICE"]))
    assert slack_error(client.chat_postMessage, channel="C0SECRET", text="x") \
        .response["error"] == "not_in_channel"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_no_text_and_msg_too_long(client: WebClient) -> None:
    assert slack_error(client.chat_postMessage, channel="C0INCIDENTS") \
        .response["error"] == "no_text"
    assert slack_error(client.chat_postMessage, channel="C0INCIDENTS", text="x" * 40_001) \
        .response["error"] == "msg_too_long"
    client.chat_postMessage(channel="C0INCIDENTS", text="x" * 40_000)


@pytest.mark.parametrize(("blocks", "expected"), [
    ([{"type": "divider"}] * 51, "must be no more than 50 items [json-pointer:/blocks]"),
    ([section("x" * 3001)], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
     "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
    ([{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "action_id": "ack"},
        {"type": "button", "text": {"type": "plain_text", "text": "Ack!"}, "action_id": "ack"}]}],
     '"ack" is already used'),
    ([{"type": "carousel"}], "unsupported type"),
    ([section("")], "must be more than 0 characters"),
])
def test_invalid_blocks(client: WebClient, blocks: list[dict[str, Any]], expected: str) -> None:
    error = slack_error(client.chat_postMessage, channel="C0INCIDENTS", text="t", blocks=blocks)
    assert error.response["error"] == "invalid_blocks"
    assert any(expected in e for e in error.response["errors"]), error.response["errors"]
    assert error.response["response_metadata"]["messages"][0].startswith("[ERROR] ")


def test_blocks_as_json_string_in_a_form_body(slack: LocalSlack) -> None:
    blocks = [section("from a form")]
    body = requests.post(slack.url + "chat.postMessage", timeout=5, data={
        "token": TOKEN, "channel": "C0INCIDENTS", "text": "t", "blocks": json.dumps(blocks)}).json()
    assert body["ok"] and body["message"]["blocks"] == blocks
    bad = requests.post(slack.url + "chat.postMessage", timeout=5, data={
        "token": TOKEN, "channel": "C0INCIDENTS", "blocks": "[{not json"}).json()
    assert bad == {"ok": False, "error": "invalid_blocks_format"}


def test_update_and_ephemeral_rules(slack: LocalSlack, client: WebClient) -> None:
    human = slack.state.post_user_message("#incidents", "U0ALICE", "help!")
    assert slack_error(client.chat_update, channel="C0INCIDENTS", ts=human.ts, text="x") \
        .response["error"] == "cant_update_message"
    assert slack_error(client.chat_update, channel="C0INCIDENTS", ts="1.000001", text="x") \
        .response["error"] == "message_not_found"
    slack.state.add_user(User("U0ERIN", "erin", "Erin Evans"))
    assert slack_error(client.chat_postEphemeral, channel="C0INCIDENTS", user="U0ERIN",
                       text="psst").response["error"] == "user_not_in_channel"
    sent = client.chat_postEphemeral(channel="C0INCIDENTS", user="U0BOB", text="only you")
    [eph] = slack.state.ephemerals(user="U0BOB")
    assert eph.message_ts == sent["message_ts"] and eph.text == "only you"


def test_dm_by_user_id_and_permalink(slack: LocalSlack, client: WebClient) -> None:
    opened = client.conversations_open(users="U0CAROL")
    posted = client.chat_postMessage(channel="U0CAROL", text="you are paged")
    assert posted["channel"] == opened["channel"]["id"] and posted["channel"].startswith("D")
    assert client.conversations_open(users="U0CAROL")["already_open"] is True
    link = client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])
    assert link["permalink"].endswith("/p" + posted["ts"].replace(".", ""))
    assert slack.state.channel_label(posted["channel"]) == "DM with carol"


# -- rate limits and server errors --------------------------------------------------------

def test_ratelimited_surfaces_status_and_retry_after(slack: LocalSlack, client: WebClient) -> None:
    slack.state.fail_next("chat.postMessage", retry_after=7)
    error = slack_error(client.chat_postMessage, channel="C0INCIDENTS", text="x")
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "7"
    client.chat_postMessage(channel="C0INCIDENTS", text="x")  # one failure only


def test_retry_handler_waits_and_succeeds(slack: LocalSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    slack.state.fail_next("chat.postMessage", retry_after=0, times=2)
    assert client.chat_postMessage(channel="C0INCIDENTS", text="eventually")["ok"]
    statuses = [c.status for c in slack.state.calls("chat.postMessage")]
    assert statuses == [429, 429, 200]


def test_configured_rate_limit_and_server_errors(slack: LocalSlack, client: WebClient,
                                                 clock: FakeClock) -> None:
    slack.state.set_rate_limit("users.info", 2, per_seconds=60)
    client.users_info(user="U0ALICE")
    client.users_info(user="U0BOB")
    limited = slack_error(client.users_info, user="U0CAROL")
    assert limited.response.status_code == 429 and limited.response.headers["Retry-After"] == "60"
    clock.advance(61)
    client.users_info(user="U0CAROL")

    slack.state.fail_next("auth.test", status=503)
    assert slack_error(client.auth_test).response.status_code == 503


def test_handler_bug_is_a_logged_500_without_the_token(
        slack: LocalSlack, client: WebClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(ctx: Any, p: Any) -> dict[str, Any]:
        raise RuntimeError("bug in the stand-in")
    monkeypatch.setitem(HANDLERS, "auth.test", broken)
    with caplog.at_level(logging.DEBUG):
        error = slack_error(client.auth_test)
    assert error.response.status_code == 500
    assert error.response["error"] == "internal_error"
    assert "bug in the stand-in" in caplog.text and TOKEN not in caplog.text
    assert api_chat.HANDLERS["auth.test"] is not broken


def test_unknown_method(client: WebClient) -> None:
    error = slack_error(client.api_call, "chat.teleport")
    assert error.response["error"] == "unknown_method"


# -- files --------------------------------------------------------------------------------

def test_upload_v2_shares_the_file_into_the_thread(slack: LocalSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0INCIDENTS", text="DLQ report follows")
    result = client.files_upload_v2(channel="C0INCIDENTS", thread_ts=parent["ts"],
                                    content="orders-dlq,42\n", filename="dlq.csv",
                                    title="DLQ sample", initial_comment="Top offenders")
    file_id = result["file"]["id"]
    stored = slack.state.file(file_id)
    assert stored is not None and stored.data == b"orders-dlq,42\n" and stored.title == "DLQ sample"
    [reply] = slack.state.messages("C0INCIDENTS", thread_ts=parent["ts"])
    assert reply.text == "Top offenders"
    assert reply.files is not None and reply.files[0]["id"] == file_id
    assert [c.method for c in slack.state.calls()][-2:] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]


def test_complete_upload_requires_uploaded_bytes(slack: LocalSlack, client: WebClient) -> None:
    pending = client.files_getUploadURLExternal(filename="a.txt", length=3)
    assert pending["upload_url"].startswith(slack.base_url)
    error = slack_error(client.files_completeUploadExternal, files=[{"id": pending["file_id"]}],
                        channel_id="C0INCIDENTS")
    assert error.response["error"] == "file_not_found"


# -- views --------------------------------------------------------------------------------

MODAL = {"type": "modal", "callback_id": "approve", "title": {"type": "plain_text", "text": "Approve"},
         "submit": {"type": "plain_text", "text": "Approve"},
         "blocks": [{"type": "input", "block_id": "why", "label": {"type": "plain_text", "text": "Why"},
                     "element": {"type": "plain_text_input", "action_id": "reason"}}]}


def test_views_open_with_valid_used_and_expired_triggers(slack: LocalSlack, client: WebClient,
                                                        clock: FakeClock) -> None:
    trigger = slack.issue_trigger_id("U0DAVE")
    opened = client.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["id"].startswith("V") and opened["view"]["callback_id"] == "approve"
    assert slack.state.views(user_id="U0DAVE")[0].id == opened["view"]["id"]
    assert slack_error(client.views_open, trigger_id=trigger, view=MODAL) \
        .response["error"] == "exchanged_trigger_id"

    stale = slack.issue_trigger_id()
    clock.advance(3.5)
    assert slack_error(client.views_open, trigger_id=stale, view=MODAL) \
        .response["error"] == "expired_trigger_id"
    assert slack_error(client.views_open, trigger_id="1.2.nope", view=MODAL) \
        .response["error"] == "invalid_trigger_id"

    updated = client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"],
                                  view={**MODAL, "title": {"type": "plain_text", "text": "Done"}})
    assert updated["view"]["title"]["text"] == "Done"
    assert slack_error(client.views_update, view_id=opened["view"]["id"],
                       hash=opened["view"]["hash"], view=MODAL).response["error"] == "hash_conflict"


def test_view_validation_and_home_publish(slack: LocalSlack, client: WebClient) -> None:
    bad = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    error = slack_error(client.views_open, trigger_id=slack.issue_trigger_id(), view=bad)
    assert error.response["error"] == "invalid_arguments"
    assert "/view/title/text" in error.response["response_metadata"]["messages"][0]
    home = {"type": "home", "blocks": [section("On call: alice")]}
    first = client.views_publish(user_id="U0ALICE", view=home)
    again = client.views_publish(user_id="U0ALICE", view=home)
    assert first["view"]["id"] == again["view"]["id"]
    published = slack.state.home_view("U0ALICE")
    assert published is not None and published.blocks == home["blocks"]


# -- response_url -------------------------------------------------------------------------

def test_response_url_allows_five_posts(slack: LocalSlack) -> None:
    url = slack.response_url(channel="C0INCIDENTS", user="U0ALICE")
    hook = WebhookClient(url)
    for i in range(5):
        assert hook.send(text=f"update {i}").status_code == 200
    sixth = hook.send(text="one too many")
    assert sixth.status_code == 404 and json.loads(sixth.body)["error"] == "used_url"
    posts = slack.state.response_url_posts(channel="C0INCIDENTS")
    assert [p["text"] for p in posts] == [f"update {i}" for i in range(5)]
    assert all(p.user == "U0ALICE" and p.response_type == "ephemeral" for p in posts)
    assert len(slack.state.ephemerals(user="U0ALICE")) == 5


def test_response_url_in_channel_replace_and_expiry(slack: LocalSlack, clock: FakeClock) -> None:
    in_channel = WebhookClient(slack.response_url()).send(text="Status: green",
                                                          response_type="in_channel")
    assert in_channel.status_code == 200
    [msg] = slack.state.messages("C0INCIDENTS")
    assert msg.text == "Status: green" and msg.source == "response_url"

    on_message = WebhookClient(slack.response_url(message_ts=msg.ts))
    assert on_message.send(text="Approved by bob", replace_original=True).status_code == 200
    replaced = slack.state.message("C0INCIDENTS", msg.ts)
    assert replaced is not None and replaced.text == "Approved by bob" and not replaced.edited
    assert on_message.send(delete_original=True).status_code == 200
    assert slack.state.message("C0INCIDENTS", msg.ts) is None

    old = WebhookClient(slack.response_url())
    clock.advance(31 * 60)
    expired = old.send(text="too late")
    assert expired.status_code == 404 and json.loads(expired.body)["error"] == "expired_url"
    assert WebhookClient(slack.base_url + "response/unknown").send(text="x").status_code == 404


# -- directory ----------------------------------------------------------------------------

def test_usergroups(client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="S0PLATFORM")["users"] == ["U0ALICE", "U0BOB"]
    assert slack_error(client.usergroups_users_list, usergroup="S0NOPE") \
        .response["error"] == "no_such_subteam"
    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert {g["handle"]: g["users"] for g in groups}["approvers"] == ["U0CAROL", "U0DAVE"]
    assert slack_error(client.users_info, user="U0NOBODY").response["error"] == "user_not_found"


@pytest.mark.parametrize(("name", "error"), [
    ("", "invalid_name_required"),
    ("Incident-42", "invalid_name_specials"),
    ("inc 42", "invalid_name_specials"),
    ("inc.42", "invalid_name_specials"),
    ("---", "invalid_name_punctuation"),
    ("x" * 81, "invalid_name_maxlength"),
    ("incidents", "name_taken"),
])
def test_conversations_create_name_rules(client: WebClient, name: str, error: str) -> None:
    assert slack_error(client.conversations_create, name=name).response["error"] == error


def test_create_invite_join(slack: LocalSlack, client: WebClient) -> None:
    created = client.conversations_create(name="inc-2024_kafka-lag", is_private=True)["channel"]
    assert created["is_private"] and created["is_member"]
    client.conversations_invite(channel=created["id"], users="U0ALICE,U0BOB")
    assert slack_error(client.conversations_invite, channel=created["id"], users="U0ALICE") \
        .response["error"] == "already_in_channel"
    assert slack_error(client.conversations_invite, channel=created["id"], users="U0NOBODY") \
        .response["error"] == "user_not_found"
    assert slack_error(client.conversations_invite, channel=created["id"], users="U0BOT") \
        .response["error"] == "cant_invite_self"
    stored = slack.state.channel(created["id"])
    assert stored is not None and stored.members == ["U0BOT", "U0ALICE", "U0BOB"]
    info = client.conversations_info(channel=created["id"], include_num_members=True)
    assert info["channel"]["num_members"] == 3
    assert client.conversations_join(channel="C0GENERAL")["warning"] == "already_in_channel"


# -- observation helpers ------------------------------------------------------------------

def test_subscribers_and_wait_for(slack: LocalSlack, client: WebClient) -> None:
    events: list[Event] = []
    unsubscribe = slack.state.subscribe(events.append)
    parent = client.chat_postMessage(channel="C0INCIDENTS", text="one")
    client.chat_postMessage(channel="C0INCIDENTS", text="two", thread_ts=parent["ts"])
    client.chat_update(channel="C0INCIDENTS", ts=parent["ts"], text="one!")
    WebhookClient(slack.response_url()).send(text="ack")
    client.views_open(trigger_id=slack.issue_trigger_id(), view=MODAL)
    unsubscribe()
    client.chat_postMessage(channel="C0INCIDENTS", text="unseen")
    assert [e["kind"] for e in events] == ["message", "reply", "update", "response_url", "view"]
    assert events[0]["text"] == "one" and events[3]["response_type"] == "ephemeral"
    assert events[4]["title"] == "Approve"

    found = slack.state.wait_for(lambda: slack.state.messages("C0INCIDENTS", parent["ts"]), 1)
    assert found[0].text == "two"
    with pytest.raises(TimeoutError):
        slack.state.wait_for(lambda: slack.state.ephemerals(user="U0DAVE"), timeout=0.05)


def test_concurrent_replies_keep_counts_and_unique_ts(slack: LocalSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0INCIDENTS", text="storm")

    def reply(n: int) -> str:
        return str(client.chat_postMessage(channel="C0INCIDENTS", text=f"r{n}",
                                           thread_ts=parent["ts"])["ts"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        stamps = list(pool.map(reply, range(40)))
    assert len(set(stamps)) == 40
    thread = slack.state.thread("C0INCIDENTS", parent["ts"])
    assert thread[0].reply_count == 40 and len(thread) == 41


def test_history_pages_newest_first(client: WebClient) -> None:
    posted = [client.chat_postMessage(channel="C0GENERAL", text=str(i))["ts"] for i in range(5)]
    first = client.conversations_history(channel="C0GENERAL", limit=3)
    assert [m["ts"] for m in first["messages"]] == posted[::-1][:3] and first["has_more"]
    rest = client.conversations_history(channel="C0GENERAL", limit=3,
                                        cursor=first["response_metadata"]["next_cursor"])
    assert [m["ts"] for m in rest["messages"]] == posted[::-1][3:] and not rest["has_more"]
    assert slack_error(client.conversations_history, channel="C0GENERAL", cursor="bogus!") \
        .response["error"] == "invalid_cursor"
