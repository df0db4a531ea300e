"""Alert webhooks through the real HTTP server: authentication, limits, validation,
storage failures, and dedup of Alertmanager's at-least-once deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine

from bot.app.localbot import LocalBot
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import GRAFANA_SECRET, send


def lag_alert(unique: str, status: str = "firing") -> dict[str, object]:
    return alertmanager(f"{{}}:{{alertname=\"KafkaConsumerLagHigh\",g=\"{unique}\"}}", [am_alert(
        f"fp-{unique}", {"alertname": "KafkaConsumerLagHigh", "severity": "warning", "consumergroup": f"billing-{unique}",
                         "topic": f"orders-{unique}"}, status=status, summary=f"billing-{unique} is lagging")],
        status=status)


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("wrong-token", 401)])
def test_authentication_is_required(alerting_bot: LocalBot, unique: str, token: str | None, status: int) -> None:
    response = send(alerting_bot, lag_alert(unique), token=token)
    assert response.status_code == status
    assert response.json()["error"] == "unauthorized"
    assert alerting_bot.slack.state.messages() == []


def test_unconfigured_source_accepts_nothing(bot: LocalBot, unique: str) -> None:
    response = send(bot, lag_alert(unique))
    assert response.status_code == 401
    assert "no bearer token or HMAC secret configured" in response.json()["reason"]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", "JSONDecodeError"),
    (b"[]", "the body must be a JSON object"),
    (json.dumps({"version": "4", "groupKey": "k", "status": "firing", "alerts": "many"}).encode(),
     "alerts: Input should be a valid list"),
    (json.dumps({"version": "4", "groupKey": "k", "status": "burning", "alerts": [{}]}).encode(), "status: Input should be"),
    (json.dumps({"version": "3", "groupKey": "k", "status": "firing",
                 "alerts": [{"status": "firing"}]}).encode(), "version: Value error, version '3' is not supported"),
    (json.dumps({"version": "4", "groupKey": "k", "status": "firing",
                 "alerts": [{"status": "firing", "labels": {"a": 1}}]}).encode(), "alerts.0.labels.a: Input should be a valid string"),
])
def test_bad_payloads_are_400_naming_the_field(alerting_bot: LocalBot, raw: bytes, reason: str) -> None:
    response = send(alerting_bot, None, raw=raw)
    assert response.status_code == 400
    assert reason in response.json()["reason"]


def test_oversized_body_is_413(alerting_bot: LocalBot) -> None:
    response = send(alerting_bot, None, raw=b"x" * (1024 * 1024 + 10))
    assert response.status_code == 413


def test_unknown_source_is_404(alerting_bot: LocalBot, unique: str) -> None:
    assert send(alerting_bot, lag_alert(unique), source="nagios").status_code == 404


def test_database_down_is_503_so_alertmanager_retries(alerting_bot: LocalBot, unique: str) -> None:
    alerting_bot.ctx.engine = create_engine("sqlite:////proc/no-such-dir/bot.db")
    response = send(alerting_bot, lag_alert(unique))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"] == "storage unavailable"


def test_repeated_deliveries_open_one_incident_and_post_once(alerting_bot: LocalBot, unique: str) -> None:
    first = send(alerting_bot, lag_alert(unique))
    assert first.status_code == 200 and first.json()["created"] is True
    ref = first.json()["incident"]
    posted = len(alerting_bot.slack.state.messages())
    for _ in range(3):
        again = send(alerting_bot, lag_alert(unique))
        assert again.json() == {"status": "accepted", "incident": ref, "created": False, "duplicate": True}
    assert len(alerting_bot.slack.state.messages()) == posted
    parents = [m for m in alerting_bot.slack.state.messages("C0INCIDENTS") if m.thread_ts in (None, m.ts)]
    assert len([m for m in parents if ref in m.text]) == 1


def test_concurrent_deliveries_of_a_new_group_open_one_incident(alerting_bot: LocalBot, unique: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: send(alerting_bot, lag_alert(unique)).json(), range(8)))
    assert len({a["incident"] for a in answers}) == 1
    assert sum(a["created"] for a in answers) == 1


def test_grafana_hmac_with_timestamp(alerting_bot: LocalBot, unique: str) -> None:
    body = json.dumps({"groupKey": f"grafana-{unique}", "status": "firing", "title": "[FIRING:1] DLQ depth",
                       "alerts": [{"status": "firing", "labels": {"alertname": "DLQDepthHigh", "queue": f"q-{unique}"},
                                   "fingerprint": f"g-{unique}"}]}).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(GRAFANA_SECRET.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {"X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Signature-Timestamp": stamp}
    ok = send(alerting_bot, None, source="grafana", token=None, raw=body, headers=headers)
    assert ok.status_code == 200 and ok.json()["created"]
    tampered = send(alerting_bot, None, source="grafana", token=None, raw=body + b" ", headers=headers)
    assert tampered.status_code == 401 and "does not match the body" in tampered.json()["reason"]
    old = {**headers, "X-Grafana-Alerting-Signature-Timestamp": str(int(time.time()) - 600)}
    assert send(alerting_bot, None, source="grafana", token=None, raw=body, headers=old).status_code == 401


@pytest.mark.parametrize(("alertname", "why"), [
    # The name says dead letters: the DLQ runbook's matcher.
    ("RabbitDLQDepthHigh", "by matcher `alertname=~(?i).*(dlq|dlx|dead.?letter|parking.?lot).*` "
                           "(`alertname=RabbitDLQDepthHigh`)"),
    # RabbitMQ's cluster-operator names it for any queue: the queue's name decides.
    ("QueueIsGrowing", "by labels `queue=orders.dlq`, `vhost=/` (a dead-letter queue by its name)"),
], ids=["by-name", "by-queue-label"])
def test_a_dlq_alert_opens_a_dlq_incident_whose_timeline_says_why(alerting_bot: LocalBot, unique: str,
                                                                   alertname: str, why: str) -> None:
    labels = {"alertname": alertname, "severity": "warning", "queue": "orders.dlq", "vhost": "/",
              "rabbitmq_cluster": "rmq"}
    answer = send(alerting_bot, alertmanager(f"{{}}:{{alertname=\"{alertname}\",u=\"{unique}\"}}",
                                             [am_alert(f"dlq-{unique}", labels, summary="orders.dlq is filling up")]))
    assert answer.status_code == 200 and answer.json()["created"] is True
    ref = answer.json()["incident"]
    timeline = alerting_bot.slash(f"/incident timeline {ref}").json()["text"]
    assert f"Routed to dlq-filling {why}." in timeline
    parent = next(m for m in alerting_bot.slack.state.messages("C0INCIDENTS")
                  if ref in m.text and m.thread_ts in (None, m.ts))
    fields = [f["text"] for b in parent.blocks if b["type"] == "section" for f in b.get("fields", [])]
    assert "*Runbook*\nDead-letter queue filling up" in fields
    assert "*Subject*\ncluster `rmq`, queue `orders.dlq`" in fields
