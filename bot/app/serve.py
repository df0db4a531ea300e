"""`incidentbot serve`: the bot as a long-running HTTP service."""

from __future__ import annotations

import logging
import signal
import threading

from bot.app import context, web
from bot.config import Settings
from bot.httpserver import HttpServer
from bot.incidents import flows
from bot.slack import app as slack_app

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Why the service cannot start, in one line."""


def serve(settings: Settings) -> None:
    missing = [f for f in ("bot_token", "signing_secret") if getattr(settings.slack, f) is None]
    if missing:
        names = ", ".join(f"INCIDENTBOT_SLACK__{f.upper()}" for f in missing)
        raise StartupError(f"slack.{missing[0]}: required to serve Slack (set {names})")
    ctx = context.build(settings)
    try:
        bolt = slack_app.build(ctx)
    except Exception as exc:  # Bolt raises BoltError on a token Slack rejects
        ctx.close()
        raise StartupError(f"slack.bot_token: Slack did not accept it ({exc})") from None
    server = HttpServer(web.create(ctx, bolt), settings.http.host, settings.http.port, settings.http.threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        ctx.close()
        raise StartupError(f"http: cannot listen on {settings.http.host}:{settings.http.port} ({exc.strerror})") from None
    log.info("incidentbot listening on %s (POST /slack/events, POST /alerts/<source>, GET /healthz /readyz /metrics)",
             server.url)
    ctx.start_timers()
    pending = flows.sweep(ctx)  # incidents stored while Slack could not be reached
    if pending:
        log.info("announcing %d incident(s) that were never posted to Slack", pending)
    stop.wait()
    log.info("shutting down: finishing requests and background work")
    server.stop()
    ctx.close()
