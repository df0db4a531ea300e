"""POST /alerts/<source>: Alertmanager, Grafana and generic webhooks.

Answers in milliseconds: authenticate, validate, store (one transaction), reply;
the chat is told afterwards on the work pool. Bad input is a 4xx naming the problem
(Alertmanager drops 4xx); a database it cannot write to is a 503 (Alertmanager
retries 5xx), so an alert is never lost silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from bot.alerts import auth as alert_auth
from bot.alerts import models as alerts
from bot.config import AlertSettings
from bot.db import writable

if TYPE_CHECKING:
    from bot.incidents.ingest import Outcome

log = logging.getLogger(__name__)


def _error(status: int, error: str, reason: str) -> tuple[Response, int]:
    return jsonify(error=error, reason=reason), status


def blueprint(settings: AlertSettings, take: Callable[[alerts.AlertBatch], Outcome]) -> Blueprint:
    """The endpoint; `take` stores a valid batch (raising SQLAlchemyError when it
    cannot) and says what became of it."""
    bp = Blueprint("alerts", __name__)

    @bp.post("/alerts/<source>")
    def receive(source: str) -> tuple[Response, int]:
        src = settings.sources.get(source)
        if src is None or not src.enabled:
            return _error(404, "unknown source", f"no enabled alert source '{source[:40]}'; "
                                                 f"use {', '.join(s for s, c in settings.sources.items() if c.enabled)}")
        if request.content_length is not None and request.content_length > settings.max_body_bytes:
            return _error(413, "body too large", f"the limit is {settings.max_body_bytes} bytes")
        body = request.get_data(cache=False)
        if len(body) > settings.max_body_bytes:
            return _error(413, "body too large", f"the limit is {settings.max_body_bytes} bytes")
        refused = alert_auth.refusal_reason(src, request.headers, body)
        if refused:
            return _error(401, "unauthorized", refused)
        try:
            data = json.loads(body)
        except ValueError as exc:
            return _error(400, "malformed JSON", f"{exc.__class__.__name__}: {exc}"[:300])
        try:
            batch = alerts.parse(source, data)
        except alerts.PayloadError as exc:
            return _error(400, "invalid payload", str(exc))
        try:
            outcome = take(batch)
        except SQLAlchemyError as exc:
            log.error("could not store an alert from %s: %s", source, type(exc).__name__)
            why = writable.storage_problem(exc)
            response, status = _error(503, "storage unavailable", "the alert could not be stored"
                                      + (f": the database cannot take writes ({why})" if why else "") + "; retry later")
            response.headers["Retry-After"] = "30"
            return response, status
        incident = outcome.incident
        answer = dict(status="accepted", incident=incident.ref if incident else None, created=outcome.created,
                      duplicate=outcome.duplicate)
        if outcome.silenced:  # held back (and recorded) by these silences
            answer["silences"] = [f"S-{i}" for i in outcome.silenced]
        return jsonify(answer), 200

    return bp
