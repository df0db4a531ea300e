"""POST /paging/pagerduty and POST /paging/opsgenie: the paging tools' webhooks.
Forged or unsigned: 401 with the reason; not the vendor's shape: 400 naming the
field; an event the bot does not act on, or an incident it does not know: 200
"ignored" (a 4xx would make the vendor retry, or switch the subscription off)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from bot.paging import callbacks, inbound

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)


def _error(status: int, error: str, reason: str) -> tuple[Response, int]:
    return jsonify(error=error, reason=reason), status


def blueprint(ctx: BotContext) -> Blueprint:
    bp = Blueprint("paging", __name__)
    settings = ctx.settings.paging.inbound
    limit = ctx.settings.alerts.max_body_bytes

    def body() -> bytes | None:
        if request.content_length is not None and request.content_length > limit:
            return None
        data = request.get_data(cache=False)
        return data if len(data) <= limit else None

    def act(kind: str, vendor: str, hook: inbound.Callback) -> tuple[Response, int]:
        if hook.action is None:
            return jsonify(status="ignored", reason=f"{hook.what} needs nothing from the bot"), 200
        if hook.ref is None:
            return jsonify(status="ignored", reason="no incident id (INC-…) in its key or title: not a page of "
                                                    "this bot"), 200
        try:
            applied = callbacks.apply(ctx, kind, vendor, hook.action, hook.ref, hook.by)
        except SQLAlchemyError as exc:
            log.error("could not apply a %s webhook: %s", vendor, type(exc).__name__)
            response, status = _error(503, "storage unavailable", "retry later")
            response.headers["Retry-After"] = "30"
            return response, status
        if applied.incident is None:
            return jsonify(status="ignored", reason=applied.message), 200
        return jsonify(status="ok", incident=applied.incident.ref, changed=applied.changed,
                       message=applied.message), 200

    @bp.post("/paging/pagerduty")
    def pagerduty() -> tuple[Response, int]:
        data = body()
        if data is None:
            return _error(413, "body too large", f"the limit is {limit} bytes")
        secrets = [s.get_secret_value() for s in settings.pagerduty_secrets]
        refused = inbound.pagerduty_refusal(secrets, request.headers.get(inbound.PAGERDUTY_SIGNATURE), data)
        if refused:
            return _error(401, "unauthorized", refused)
        try:
            hook = inbound.pagerduty(data)
        except inbound.BadPayload as exc:
            return _error(400, "invalid payload", str(exc))
        return act("pagerduty", "PagerDuty", hook)

    @bp.post("/paging/opsgenie")
    def opsgenie() -> tuple[Response, int]:
        data = body()
        if data is None:
            return _error(413, "body too large", f"the limit is {limit} bytes")
        token = settings.opsgenie_token.get_secret_value() if settings.opsgenie_token else None
        refused = inbound.token_refusal(token, settings.opsgenie_header, request.headers.get(settings.opsgenie_header))
        if refused:
            return _error(401, "unauthorized", refused)
        try:
            hook = inbound.opsgenie(data)
        except inbound.BadPayload as exc:
            return _error(400, "invalid payload", str(exc))
        return act("opsgenie", "Opsgenie", hook)

    return bp
