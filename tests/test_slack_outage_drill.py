"""Slack drill: Slack answers every Web API call with 429 (Retry-After: 1) for about
ten seconds, then with 500s, then recovers, while alerts arrive and a person types a
command. Every incident's parent message and checklist arrive once, the checklist in
the parent's thread after it; the command is acknowledged at once meanwhile."""

from __future__ import annotations

import time

from bot.app.localbot import LocalBot
from tests.conftest import send

ALERTS = 3
RATE_LIMITED = 10  # calls answered 429 with Retry-After: 1, about ten seconds of them
SERVER_ERRORS = 4


def test_slack_rate_limiting_then_failing_then_recovering_loses_and_repeats_nothing(
        quiet_bot: LocalBot, unique: str) -> None:
    slack = quiet_bot.slack.state
    slack.fail_next("*", status=429, retry_after=1, times=RATE_LIMITED)
    slack.fail_next("*", status=500, times=SERVER_ERRORS)
    refs = []
    for n in range(ALERTS):
        answer = send(quiet_bot, {"title": f"Outage {unique} #{n}", "dedup_key": f"{unique}-{n}",
                                  "labels": {"consumergroup": f"outage-{unique}-{n}"}}, source="generic")
        assert answer.status_code == 200  # stored; Slack hears of it when it can
        refs.append(answer.json()["incident"])
    started = time.monotonic()
    ack = quiet_bot.slash("/incident help", wait=False)
    assert ack.status_code == 200 and time.monotonic() - started < 3

    def complete() -> bool:
        return all(len(_parents(quiet_bot, ref)) >= 1 and _checklists(quiet_bot, ref) for ref in refs)

    deadline = time.monotonic() + 120  # retries honour Retry-After; the duty retries what gave up
    while not complete() and time.monotonic() < deadline:
        time.sleep(0.2)
    quiet_bot.ctx.work.wait_idle(60)
    failures = [(c.method, c.status) for c in slack.calls() if c.status != 200]
    for ref in refs:
        parents = _parents(quiet_bot, ref)
        assert len(parents) == 1, (ref, [m.text for m in parents], failures)
        checklists = _checklists(quiet_bot, ref)
        assert len(checklists) == 1, (ref, len(checklists))
        assert float(checklists[0].ts) > float(parents[0].ts)  # in order within the thread
    statuses = [c.status for c in slack.calls("chat.postMessage")]
    assert statuses.count(429) + statuses.count(500) > 0  # the faults were met, not skipped


def _parents(bot: LocalBot, ref: str) -> list:  # type: ignore[type-arg]
    return [m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts)]


def _checklists(bot: LocalBot, ref: str) -> list:  # type: ignore[type-arg]
    threads = {m.ts for m in _parents(bot, ref)}
    return [m for m in bot.slack.state.messages("C0INCIDENTS") if m.thread_ts in threads and m.ts != m.thread_ts
            and m.text.startswith("Runbook:")]
