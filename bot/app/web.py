"""The bot's HTTP surface as a WSGI app: Slack's events (unless Slack comes over
Socket Mode), alert webhooks, health, readiness, metrics.

Only this module knows Flask; Bolt sees its own request objects through the adapter.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from werkzeug.exceptions import HTTPException

from bot import metrics
from bot.alerts import http as web_alerts
from bot.app.context import BotContext
from bot.app.front_process import ACKED_HEADER
from bot.incidents import flows
from bot.paging import http as web_paging
from bot.slack.http import SlackHttp


def create(ctx: BotContext, bolt: App | None, *, socket_link: Callable[[], str] | None = None) -> Flask:
    """``bolt`` None: Slack comes over Socket Mode, and ``socket_link`` reports that
    link for /readyz (raising while it is down)."""
    ctx.socket_link = socket_link
    web = Flask("incidentbot")
    # The larger limit here; each route holds its own (alerts have theirs).
    web.config["MAX_CONTENT_LENGTH"] = ctx.settings.max_request_bytes + 1
    secret = ctx.settings.slack.signing_secret
    slack = SlackHttp(bolt, secret.get_secret_value()) if bolt is not None and secret is not None else None
    web.register_blueprint(web_alerts.blueprint(ctx.settings.alerts, lambda batch: flows.take_alerts(ctx, batch)))
    web.register_blueprint(web_paging.blueprint(ctx))  # the paging tools' acknowledge and resolve

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[Response, int]:
        if slack is None:
            # Nothing here may answer Slack: in Socket Mode its requests are not signed
            # for this URL, and a request here would come from someone else.
            return jsonify(error="Not Found", reason="this bot receives Slack over Socket Mode "
                                                     "(slack.socket_mode: true); POST /slack/events is not served"), 404
        if (request.content_length or 0) > ctx.settings.http.max_body_bytes:
            return jsonify(error="Request Entity Too Large",
                           reason=f"the limit is {ctx.settings.http.max_body_bytes} bytes"), 413
        answer = slack.handle(request.get_data(), request.headers, request.query_string.decode("latin-1"),
                              acked=request.headers.get(ACKED_HEADER) == "1")
        response = Response(answer.body, status=answer.status)
        for name, values in answer.headers.items():
            response.headers.setlist(name, list(values))
        return response

    @web.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @web.get("/readyz")
    def readyz() -> tuple[Response, int]:
        result = ctx.readiness()
        return jsonify(result.model_dump()), 200 if result.ready else 503

    @web.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(), mimetype=metrics.CONTENT_TYPE)

    @web.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        # JSON with a reason instead of Flask's HTML page.
        return jsonify(error=exc.name, reason=exc.description), exc.code or 500

    @web.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.http_requests.labels(route, request.method, str(response.status_code)).inc()
        return response

    return web
