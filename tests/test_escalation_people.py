"""A ladder step that half succeeds: the mention in the thread is out, the direct
message is not. Only the DM is tried again, and only when Slack may take it later;
a refusal for good is said in the thread, naming the setting to fix. Configured ids
Slack does not know are reported at start-up and by check-config."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app import people
from bot.incidents import ladder, service
from bot.localslack.server import LocalSlack
from tests.conftest import BOT_TOKEN, free_port, make_settings
from tests.test_escalation import SCALE, ladder_bot, open_incident, thread_texts, wait_steps

# The lead step alone, a minute in: it fires 0.2 s after the incident opens.
LEAD_ONLY = {"time_scale": SCALE, "steps": [{"minute": 1, "kind": "lead"}]}


def dms_to(slack: LocalSlack, user: str) -> list[str]:
    return [m.text for m in slack.state.messages() if m.channel.startswith("D")
            and (slack.state.channel(m.channel) or {}).get("im_user") == user]


def test_a_lead_slack_does_not_know_is_mentioned_once_and_named_in_the_thread(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> None:
    overrides: dict[str, object] = {"escalation": LEAD_ONLY, "incidents": {"first_checks": 0},
                                    "teams": {"payments": {"lead_users": ["U0NOBODY", "U0CAROL"]},
                                              "platform": {"lead_users": ["U0BOB"]}}}
    bot = ladder_bot(tmp_path, local_slack, **overrides)
    try:
        ref = open_incident(bot, unique)
        found = wait_steps(bot, ref, 1)
        assert [s.status for s in found] == ["fired"]
        texts = thread_texts(bot, ref)
        assert len([t for t in texts if "*1-minute step*" in t and "<@U0NOBODY>" in t]) == 1
        assert ("Could not send `U0NOBODY` a direct message: this workspace has no such user (`user_not_found`); "
                "check `teams.payments.lead_users`.") in "\n".join(texts)
        assert len(dms_to(local_slack, "U0CAROL")) == 1  # the other lead still gets the summary
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None
        kinds = [e.kind for e in service.timeline(bot.ctx.engine, incident)]
        assert "escalation.dm_failed" in kinds and "escalation.lead" in kinds and "escalation.failed" not in kinds
    finally:
        bot.close()
    again = ladder_bot(tmp_path, local_slack, **overrides)  # same database: the bot restarted
    try:
        assert again.ctx.escalator is not None and "running" in again.ctx.escalator.status()
        again.ctx.work.wait_idle(30)
        with again.ctx.engine.connect() as conn:
            after = ladder.steps(conn, found[0].incident_id)
        assert [(s.status, s.attempts) for s in after] == [("fired", 1)]
        texts = thread_texts(again, ref)
        assert len([t for t in texts if "<@U0NOBODY>" in t]) == 1
        assert len([t for t in texts if "Could not send `U0NOBODY`" in t]) == 1
    finally:
        again.close()


def test_a_dm_slack_cannot_take_yet_is_retried_alone(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                     unique: str) -> None:
    bot = ladder_bot(tmp_path, local_slack, escalation=LEAD_ONLY, incidents={"first_checks": 0})
    try:
        # Slack's `internal_error` in an ordinary answer: the client does not retry it, the step must.
        local_slack.state.fail_next("conversations.open", error="internal_error", status=200)
        ref = open_incident(bot, unique)
        assert [s.status for s in wait_steps(bot, ref, 1)] == ["fired"]
        local_slack.state.wait_for(lambda: dms_to(local_slack, "U0CAROL"), timeout=15)
        bot.ctx.work.wait_idle(30)
        assert len(dms_to(local_slack, "U0CAROL")) == 1
        assert dms_to(local_slack, "U0CAROL")[0].startswith(f"{ref} (")
        texts = thread_texts(bot, ref)
        assert len([t for t in texts if "*1-minute step*" in t and "<@U0CAROL>" in t]) == 1
        assert not any("Could not send" in t for t in texts)
        assert len(local_slack.state.calls("conversations.open")) == 2
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None
        assert "escalation.dm_retried" in [e.kind for e in service.timeline(bot.ctx.engine, incident)]
    finally:
        bot.close()


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_")}
    base.update({"INCIDENTBOT_TEAMS__PAYMENTS__LEAD_USERS": '["U0NOBODY", "U0CAROL"]',
                 "INCIDENTBOT_APPROVALS__APPROVERS_USERGROUP": "S0GONE"}, **env)
    return subprocess.run([sys.executable, "-m", "bot.cli", "check-config"], capture_output=True, text=True,
                          env=base, timeout=60)


def test_check_config_names_the_ids_slack_does_not_know(local_slack: LocalSlack) -> None:
    result = check_config({"INCIDENTBOT_SLACK__BOT_TOKEN": BOT_TOKEN, "INCIDENTBOT_SLACK__API_URL": local_slack.url})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "incidentbot: warning: teams.payments.lead_users: Slack does not know the user U0NOBODY (or it is "
        "deactivated); the bot cannot mention or message it",
        "incidentbot: warning: approvals.approvers_usergroup: Slack does not know the user group S0GONE (or it is "
        "deactivated); the bot cannot page it",
    ]


def test_check_config_says_when_the_ids_were_not_checked() -> None:
    no_token = check_config({})
    assert no_token.returncode == 0, no_token.stderr
    assert "ids not checked: slack.bot_token is not set" in no_token.stderr
    started = time.monotonic()
    unreachable = check_config({"INCIDENTBOT_SLACK__BOT_TOKEN": BOT_TOKEN,
                                "INCIDENTBOT_SLACK__API_URL": f"http://127.0.0.1:{free_port()}/api/"})
    assert unreachable.returncode == 0, unreachable.stderr
    assert "ids not checked: Slack cannot be reached" in unreachable.stderr
    assert time.monotonic() - started < 30


def test_start_up_warns_about_each_unknown_id(tmp_path: Path, local_slack: LocalSlack,
                                              caplog: pytest.LogCaptureFixture) -> None:
    from bot.slack.chat import SlackChat
    from bot.slack.client import make_client

    settings = make_settings(tmp_path, escalation={"platform_users": ["U0DAVE", "U0GHOST"]},
                             incidents={"oncall_users": ["U0ALICE"]}, approvals={"approvers": ["U0BOB"]})
    chat = SlackChat(make_client(BOT_TOKEN, local_slack.url))
    with caplog.at_level(logging.WARNING, logger="bot.app.people"):
        people.warn_unknown(chat, settings)
    assert [r.getMessage() for r in caplog.records] == [
        "escalation.platform_users: Slack does not know the user U0GHOST (or it is deactivated); the bot cannot "
        "mention or message it"]


def test_serve_warns_at_start_up_about_each_unknown_id(tmp_path: Path, local_slack: LocalSlack, brokers: None) -> None:
    from tests.test_escalation_restart import serve

    process = serve(tmp_path, local_slack, free_port(), extra_env={
        "INCIDENTBOT_TEAMS__PAYMENTS__LEAD_USERS": '["U0NOBODY"]', "INCIDENTBOT_ESCALATION__PLATFORM_USERS": '["U0DAVE"]'})
    try:
        [log_file] = tmp_path.glob("serve-*.log")
        wanted = "teams.payments.lead_users: Slack does not know the user U0NOBODY"
        deadline = time.monotonic() + 30
        while wanted not in log_file.read_text():
            assert time.monotonic() < deadline, log_file.read_text()[-2000:]
            time.sleep(0.1)
        text = log_file.read_text()
        assert "U0DAVE" not in text and "Traceback" not in text
    finally:
        process.terminate()
        process.wait(20)
