"""Property-based drill of the alert webhooks, over real HTTP: for every source
(Alertmanager, Grafana, generic), bodies shaped like the sender's with fields
changed, dropped or of another type, any JSON, any bytes, and headers right, wrong,
missing or odd. No input may produce a 5xx; every refusal is a 4xx whose JSON says
what was wrong; an accepted alert names its incident.

The regular suite sends a few dozen inputs per source; the drill sends ten thousand:
`INCIDENTBOT_DRILL_EXAMPLES=10000 pytest tests/test_webhook_fuzz.py` (the count
is printed per source)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.app.localbot import LocalBot
from bot.localslack.server import LocalSlack
from tests.conftest import BOT_TOKEN, make_settings, start_bot
from tests.slack_fuzz import JSON_TREE

EXAMPLES = int(os.environ.get("INCIDENTBOT_DRILL_EXAMPLES", "40"))
TOKEN, SECRET = "fuzz-alert-token-0123456789", "fuzz-grafana-secret-0123"
PAYLOADS = Path(__file__).parent / "payloads"
TEMPLATES = {
    "alertmanager": json.loads((PAYLOADS / "alertmanager_webhook_v4.json").read_text()),
    "grafana": json.loads((PAYLOADS / "grafana_webhook.json").read_text()),
    "generic": {"title": "Orders DLQ overflowing", "status": "firing", "severity": "critical",
                "labels": {"queue": "orders.dlq"}, "description": "x", "runbook": "dlq-filling", "dedup_key": "k"},
}


@pytest.fixture(scope="module")
def webhook_bot(brokers: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBot]:
    folder = tmp_path_factory.mktemp("webhooks")
    settings_ = make_settings(folder, incidents={"first_checks": 0}, alerts={"sources": {
        "alertmanager": {"bearer_token": TOKEN},
        "grafana": {"hmac_secret": SECRET, "hmac_header": "X-Grafana-Alerting-Signature",
                    "hmac_timestamp_header": "X-Grafana-Alerting-Signature-Timestamp"},
        "generic": {"bearer_token": TOKEN},
    }})
    with LocalSlack(token=BOT_TOKEN) as slack:
        bot = start_bot(settings_, slack)
        yield bot
        bot.close()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        out += [p for k, v in node.items() for p in _paths(v, (*prefix, k))]
    elif isinstance(node, list):
        out += [p for i, v in enumerate(node) for p in _paths(v, (*prefix, i))]
    return out


def _mutated(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    paths = _paths(template)

    @st.composite
    def one(draw: st.DrawFn) -> bytes:
        body = json.loads(json.dumps(template))
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            parent: Any = body
            try:
                for step in path[:-1]:
                    parent = parent[step]
                if draw(st.booleans()) and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = draw(JSON_TREE)
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed the way there
        return json.dumps(body).encode()

    return one()


def _bodies(source: str) -> st.SearchStrategy[bytes]:
    return st.one_of(_mutated(TEMPLATES[source]), JSON_TREE.map(lambda t: json.dumps(t).encode()),
                     st.binary(max_size=300), st.just(json.dumps(TEMPLATES[source]).encode()))


def _headers(source: str, body: bytes, how: str) -> dict[str, str]:
    if how == "none":
        return {}
    if how == "wrong":
        return {"Authorization": "Bearer wrong", "X-Grafana-Alerting-Signature": "00",
                "X-Grafana-Alerting-Signature-Timestamp": "nan"}
    if source == "grafana":
        stamp = str(int(time.time()))
        signature = hmac.new(SECRET.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {"X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Signature-Timestamp": stamp}
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("source", sorted(TEMPLATES))
def test_webhook_answers_every_input_with_a_reason(webhook_bot: LocalBot, source: str) -> None:
    seen: Counter[str] = Counter()
    session = requests.Session()
    url = f"{webhook_bot.url}/alerts/{source}"

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              derandomize="INCIDENTBOT_DRILL_EXAMPLES" not in os.environ,  # the suite replays; the drill explores
              suppress_health_check=list(HealthCheck))
    @given(body=_bodies(source), how=st.sampled_from(["right"] * 8 + ["wrong", "none"]),
           content_type=st.sampled_from(["application/json"] * 4 + ["text/plain", "", "application/x-www-form-urlencoded"]),
           junk=st.dictionaries(st.sampled_from(["X-Forwarded-For", "X-Request-Id", "Content-Encoding", "Accept"]),
                                st.from_regex(r"[!-~]([ -~]{0,18}[!-~])?", fullmatch=True),
                                max_size=2))
    def send(body: bytes, how: str, content_type: str, junk: dict[str, str]) -> None:
        headers = {**junk, **_headers(source, body, how)}
        if content_type:
            headers["Content-Type"] = content_type
        answer = session.post(url, data=body, headers=headers, timeout=30)
        seen["inputs"] += 1
        seen[str(answer.status_code)] += 1
        assert answer.status_code < 500, (answer.status_code, answer.text, body[:300])
        if answer.status_code >= 400:
            assert answer.json().get("reason"), (answer.status_code, answer.text)
        else:
            assert answer.json()["incident"].startswith("INC-")

    send()
    print(f"\n{source}: {dict(seen)}")  # the drill's figures, with -s
    assert seen["inputs"] == EXAMPLES
    assert seen["200"] > 0 and sum(seen[s] for s in seen if s.startswith("4")) > 0
