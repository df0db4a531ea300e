"""Random signed Slack requests against a LocalBot, by the ten thousand per entry
point: slash commands (any text, and forms with fields changed, dropped or added),
interactivity payloads (shaped like Slack's and unlike them) and Events API bodies.

Prints one JSON line: inputs sent, how many answered 500 (the bot's fault: should
be 0), how many were refused with a 4xx, how many were answered (2xx), how many
log lines carried a traceback (should be 0) and the time taken; `by_entry` has
the same per entry point. Exits 1 on any 500, 4xx without a reason or traceback. Needs the services of scripts/services (the bot
checks its brokers as usual)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import hypothesis
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot import config
from bot.app.localbot import LocalBot
from tests.slack_fuzz import INTERACTION_BODY, JSON_TREE, any_form, signed_post, slash_form

SECRET = "fuzz-signing-secret-0123456789ab"


def _bot(folder: str) -> LocalBot:
    kafka = os.environ.get("INCIDENTBOT_TEST_KAFKA", "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092"))
    rabbit_mgmt = f"http://127.0.0.1:{os.environ.get('RABBITMQ_MANAGEMENT_PORT', '15672')}"
    settings_ = config.load(
        database_url=f"sqlite:///{Path(folder) / 'bot.db'}",
        kafka={"local": {"bootstrap_servers": kafka, "request_timeout_s": 3}},
        rabbitmq={"local": {"port": int(os.environ.get("RABBITMQ_PORT", "5672")), "management_url": rabbit_mgmt,
                            "request_timeout_s": 3}},
        slack={"bot_token": "xoxb-fuzz-0000", "signing_secret": SECRET},
    )
    return LocalBot(settings_)


def _slash_body(form: dict[str, str]) -> bytes:
    return urlencode(form).encode()


ENTRIES: dict[str, tuple[st.SearchStrategy[bytes], str]] = {
    # Half well-formed commands with any text (these must all be answered), half forms of any shape.
    "slash_command": (st.one_of(slash_form().map(_slash_body), any_form()), "application/x-www-form-urlencoded"),
    "interactivity": (INTERACTION_BODY, "application/x-www-form-urlencoded"),
    "events": (JSON_TREE.map(lambda tree: json.dumps(tree).encode()), "application/json"),
}


def run(bot: LocalBot, name: str, count: int, seed: int) -> Counter[str]:
    strategy, content_type = ENTRIES[name]
    seen: Counter[str] = Counter()
    session = requests.Session()

    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(body=strategy)
    def send(body: bytes) -> None:
        answer = signed_post(bot.url, SECRET, body, content_type, session=session)
        seen["inputs"] += 1
        if answer.status_code >= 500:
            seen["status_500"] += 1
        elif answer.status_code >= 400:
            seen["status_4xx"] += 1
            try:
                reason = answer.json().get("reason")
            except (ValueError, AttributeError):
                reason = None
            if not reason:
                seen["4xx_without_reason"] += 1
        else:
            seen["answered"] += 1

    seeded: Callable[[], None] = hypothesis.seed(seed)(send)  # the same inputs every run
    seeded()
    return seen


class _Tracebacks(logging.Handler):
    """Counts log records that carry a traceback: there should be none."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000, help="inputs per entry point")
    parser.add_argument("--seed", type=int, default=12)
    a = parser.parse_args()
    totals: Counter[str] = Counter()
    tracebacks = _Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    by_entry: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, _bot(folder) as bot:
        for name in ENTRIES:
            entry_started = time.perf_counter()
            seen = run(bot, name, a.count, a.seed)
            by_entry[name] = {**{k: seen[k] for k in ("inputs", "status_500", "status_4xx", "answered")},
                              "seconds": round(time.perf_counter() - entry_started, 1)}
            totals.update(seen)
        bot.ctx.work.wait_idle(120)
    line = {k: totals[k] for k in ("inputs", "status_500", "status_4xx", "answered")}
    line |= {"4xx_without_reason": totals["4xx_without_reason"], "tracebacks": tracebacks.count, "seconds": round(time.perf_counter() - started, 1),
             "by_entry": by_entry}
    print(json.dumps(line))
    sys.exit(1 if totals["status_500"] or totals["4xx_without_reason"] or tracebacks.count else 0)


if __name__ == "__main__":
    main()
