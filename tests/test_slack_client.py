"""The bot's Slack client over its keep-alive connections, against the local
stand-in: Slack's 429 (honouring Retry-After) and 5xx answers are retried as
slack_sdk's handlers say, and an ordinary error comes back as SlackApiError."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.localslack.server import LocalSlack
from bot.slack.client import make_client
from tests.conftest import BOT_TOKEN


def test_a_rate_limited_call_waits_retry_after_and_succeeds(local_slack: LocalSlack) -> None:
    client = make_client(BOT_TOKEN, local_slack.url)
    local_slack.state.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    answer = client.chat_postMessage(channel="C0INCIDENTS", text="after the rate limit")
    assert answer["ok"] and time.monotonic() - started >= 1.0
    assert [c.status for c in local_slack.state.calls("chat.postMessage")] == [429, 200]
    assert [m.text for m in local_slack.state.messages("C0INCIDENTS")] == ["after the rate limit"]


def test_server_errors_are_retried_then_reported(local_slack: LocalSlack) -> None:
    client = make_client(BOT_TOKEN, local_slack.url)
    local_slack.state.fail_next("chat.postMessage", error="internal_error", status=500, times=2)
    assert client.chat_postMessage(channel="C0INCIDENTS", text="third time")["ok"]
    local_slack.state.fail_next("chat.postMessage", error="internal_error", status=503, times=3)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0INCIDENTS", text="never")
    assert raised.value.response.status_code == 503
    assert [c.status for c in local_slack.state.calls("chat.postMessage")] == [500, 500, 200, 503, 503, 503]


def test_slack_errors_and_many_calls_over_kept_connections(local_slack: LocalSlack) -> None:
    client = make_client(BOT_TOKEN, local_slack.url)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0NOSUCHCHANNEL", text="x")
    assert raised.value.response["error"] == "channel_not_found"
    for n in range(50):
        client.chat_postMessage(channel="C0INCIDENTS", text=f"message {n}")
    assert len(local_slack.state.messages("C0INCIDENTS")) == 50
    with pytest.raises(SlackApiError) as refused:
        make_client("xoxb-wrong-token", local_slack.url).auth_test()
    assert refused.value.response["error"] == "invalid_auth"
