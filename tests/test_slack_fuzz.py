"""Random signed requests through the bot's real HTTP layer (and random envelopes
over Socket Mode): whatever arrives, the bot never answers 500 and never logs a
traceback; a refusal is a 4xx with a reason; slash commands are still answered.

Seeded (derandomize) so that a run is the same run every time; the benchmark
bench/fuzz_slack.py sends the same kinds of input by the ten thousand."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app.localbot import LocalBot
from tests.conftest import SIGNING_SECRET
from tests.slack_fuzz import INTERACTION_BODY, JSON_TREE, any_form, signed_post, slack_like, slash_form, typed_junk

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def quiet_bot(bot: LocalBot, caplog: pytest.LogCaptureFixture) -> Iterator[LocalBot]:
    caplog.set_level(logging.INFO)
    yield bot
    bot.ctx.work.wait_idle(60)  # what the handlers do after answering is checked too
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert tracebacks == [], f"logged with a traceback: {[r.getMessage() for r in tracebacks][:3]}"


def _refusal_or_answer(status: int, body: dict[str, object] | None) -> None:
    assert status != 500
    assert status < 500, status
    if status >= 400:
        assert body is not None and body.get("reason"), "a refusal names its reason"


def _json(response: object) -> dict[str, object] | None:
    try:
        data = response.json()  # type: ignore[attr-defined]
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@FUZZ
@given(body=INTERACTION_BODY)
def test_random_interactivity_payloads_never_answer_500(quiet_bot: LocalBot, body: bytes) -> None:
    response = signed_post(quiet_bot.url, SIGNING_SECRET, body)
    _refusal_or_answer(response.status_code, _json(response))


@FUZZ
@given(body=any_form())
def test_random_forms_never_answer_500(quiet_bot: LocalBot, body: bytes) -> None:
    response = signed_post(quiet_bot.url, SIGNING_SECRET, body)
    _refusal_or_answer(response.status_code, _json(response))


@FUZZ
@given(form=slash_form())
def test_slash_commands_with_any_text_are_answered(quiet_bot: LocalBot, form: dict[str, str]) -> None:
    answer = quiet_bot.sender.slash(form["command"], form["text"], user_id=form["user_id"],
                                    channel_id=form["channel_id"])
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["response_type"] == "ephemeral" and reply["text"]


@FUZZ
@given(body=JSON_TREE.map(lambda tree: json.dumps(tree).encode()))
def test_random_event_bodies_never_answer_500(quiet_bot: LocalBot, body: bytes) -> None:
    response = signed_post(quiet_bot.url, SIGNING_SECRET, body, content_type="application/json")
    _refusal_or_answer(response.status_code, _json(response))


def test_a_view_without_its_type_is_refused_naming_the_field(quiet_bot: LocalBot,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    # The drill's own example: it crashed inside Bolt's matching with a 500.
    payload = {"type": "view_submission", "user": {"id": "U0ALICE"},
               "view": {"id": "V1", "callback_id": "schema_check_modal", "state": {"values": {}}}}
    response = quiet_bot.sender.interaction(payload)
    assert response.status_code == 400
    assert response.json() == {"error": "Bad Request", "reason": "payload.view.type: Field required"}
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert line == "refused a signed Slack request: payload.view.type: Field required"


def test_a_payload_that_is_not_json_is_refused(quiet_bot: LocalBot) -> None:
    response = signed_post(quiet_bot.url, SIGNING_SECRET, b"payload=%7Bnot-json")
    assert response.status_code == 400
    assert response.json() == {"error": "Bad Request", "reason": "payload: not JSON"}


def test_a_forged_malformed_request_is_refused_before_its_body_is_read(quiet_bot: LocalBot) -> None:
    response = signed_post(quiet_bot.url, "not-the-secret", b"payload=%7Bnot-json")
    assert response.status_code == 401
    assert "not JSON" not in response.text


def test_a_slash_command_that_says_payload_is_answered(quiet_bot: LocalBot) -> None:
    # Bolt's own parser takes any body containing "payload" for an interaction.
    answer = quiet_bot.slash("/ops payload")
    assert answer.status_code == 200
    assert "I don't know `payload`" in answer.json()["text"]


@pytest.mark.parametrize("transport", ["socket"], indirect=True)
@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.one_of(slack_like(), typed_junk(), JSON_TREE))
def test_random_socket_mode_envelopes_are_acknowledged(quiet_bot: LocalBot, payload: object) -> None:
    kind = "interactive" if not isinstance(payload, dict) or payload.get("type") != "event_callback" else "events_api"
    envelope = quiet_bot.slack.socket.deliver(kind, payload, accepts_response_payload=False,  # type: ignore[arg-type]
                                              connect_timeout=10)
    assert envelope.acked, "every envelope is acknowledged, so Slack does not send it again"


@pytest.mark.parametrize("transport", ["socket"], indirect=True)
def test_socket_mode_still_answers_after_a_bad_envelope(quiet_bot: LocalBot) -> None:
    bad = quiet_bot.slack.socket.deliver("interactive", {"type": "view_submission", "view": 5},
                                         accepts_response_payload=False, connect_timeout=10)
    assert bad.acked
    reply = quiet_bot.slash("/ops help").json()
    assert reply["text"].startswith("Incident bot commands")
