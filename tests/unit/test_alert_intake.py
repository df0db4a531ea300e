"""The alert endpoint stores at most `concurrency` webhooks at once: the next one is
answered 503 with Retry-After and a reason (Alertmanager retries 5xx), nothing of it
stored, so that a storm cannot hold every web server thread while Slack's requests wait."""

from __future__ import annotations

import json
import threading

from flask import Flask

from bot.alerts import http as web_alerts
from bot.alerts.models import AlertBatch
from bot.config import AlertSettings
from bot.incidents.ingest import Outcome

TOKEN = "intake-token-0123456789"
BODY = json.dumps({"version": "4", "groupKey": "{}:{alertname=\"X\"}", "status": "firing",
                   "alerts": [{"status": "firing", "labels": {"alertname": "X"}}]})
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def app(take: object, concurrency: int) -> Flask:
    web = Flask("intake-test")
    settings = AlertSettings.model_validate({"sources": {"alertmanager": {"bearer_token": TOKEN}}})
    web.register_blueprint(web_alerts.blueprint(settings, take, concurrency=concurrency))  # type: ignore[arg-type]
    return web


def test_a_full_intake_answers_503_with_retry_after_and_stores_nothing() -> None:
    entered, release = threading.Event(), threading.Event()
    stored: list[AlertBatch] = []

    def take(batch: AlertBatch) -> Outcome:
        stored.append(batch)
        entered.set()
        release.wait(10)
        return Outcome(incident=None)

    web = app(take, concurrency=1)
    first: list[int] = []
    holder = threading.Thread(target=lambda: first.append(
        web.test_client().post("/alerts/alertmanager", data=BODY, headers=HEADERS).status_code))
    holder.start()
    assert entered.wait(10)
    try:
        busy = web.test_client().post("/alerts/alertmanager", data=BODY, headers=HEADERS)
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == str(web_alerts.BUSY_RETRY_AFTER_S)
        assert busy.json == {"error": "busy", "reason": f"1 webhooks are being stored already; retry in "
                                                         f"{web_alerts.BUSY_RETRY_AFTER_S} s"}
        assert len(stored) == 1  # the refused one never reached the store
    finally:
        release.set()
        holder.join(10)
    assert first == [200]
    # Its turn is given back: the next delivery is stored.
    assert web.test_client().post("/alerts/alertmanager", data=BODY, headers=HEADERS).status_code == 200
    assert len(stored) == 2


def test_bad_input_is_refused_before_taking_a_turn() -> None:
    """A full intake still answers bad credentials and bodies with their own 4xx."""
    release = threading.Event()
    entered = threading.Event()

    def take(batch: AlertBatch) -> Outcome:
        entered.set()
        release.wait(10)
        return Outcome(incident=None)

    web = app(take, concurrency=1)
    holder = threading.Thread(target=lambda: web.test_client().post("/alerts/alertmanager", data=BODY,
                                                                      headers=HEADERS))
    holder.start()
    assert entered.wait(10)
    try:
        assert web.test_client().post("/alerts/alertmanager", data=BODY,
                                      headers={"Content-Type": "application/json"}).status_code == 401
        assert web.test_client().post("/alerts/alertmanager", data="{", headers=HEADERS).status_code == 400
    finally:
        release.set()
        holder.join(10)


def test_a_store_that_fails_gives_its_turn_back() -> None:
    from sqlalchemy.exc import OperationalError

    calls: list[int] = []

    def take(batch: AlertBatch) -> Outcome:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return Outcome(incident=None)

    web = app(take, concurrency=1)
    assert web.test_client().post("/alerts/alertmanager", data=BODY, headers=HEADERS).status_code == 503
    assert web.test_client().post("/alerts/alertmanager", data=BODY, headers=HEADERS).status_code == 200
