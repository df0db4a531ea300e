"""The bot's HTTP surface as a WSGI app: Slack's events, health, readiness, metrics.

Only this module knows Flask; Bolt sees its own request objects through the adapter.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from werkzeug.exceptions import HTTPException

from bot import metrics, readiness
from bot.context import BotContext


def create(ctx: BotContext, bolt: App) -> Flask:
    web = Flask("incidentbot")
    web.config["MAX_CONTENT_LENGTH"] = ctx.settings.http.max_body_bytes
    slack = SlackRequestHandler(bolt)

    @web.post("/slack/events")
    def slack_events() -> Response:
        return slack.handle(request)

    @web.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @web.get("/readyz")
    def readyz() -> tuple[Response, int]:
        result = readiness.check(ctx.clients, ctx.engine)
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
