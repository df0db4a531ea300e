"""`incidentbot serve`: the bot as a long-running service. Slack reaches it over
HTTP (POST /slack/events) or, with `slack.socket_mode`, over a WebSocket the bot
opens itself; alert webhooks, /healthz, /readyz and /metrics are HTTP either way."""

from __future__ import annotations

import logging
import signal
import threading

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import DBAPIError

from bot.app import context, people, web
from bot.app.front_process import Front, FrontConfig, FrontError
from bot.config import Settings
from bot.httpserver import HttpServer
from bot.incidents import flows
from bot.slack import app as slack_app
from bot.slack.socket_mode import SocketTransport

log = logging.getLogger(__name__)

# How long start-up waits for Slack's hello before going on (and saying so): the
# client keeps trying, and /readyz answers 503 until the link is up.
SOCKET_HELLO_WAIT_S = 10.0


class StartupError(Exception):
    """Why the service cannot start (or had to stop), in one line."""


def _check_credentials(settings: Settings) -> None:
    slack = settings.slack
    required = ("bot_token", "app_token") if slack.socket_mode else ("bot_token", "signing_secret")
    missing = [f for f in required if getattr(slack, f) is None]
    if not missing:
        return
    names = ", ".join(f"INCIDENTBOT_SLACK__{f.upper()}" for f in missing)
    if missing[0] == "app_token":
        raise StartupError(f"slack.app_token: required for Socket Mode (slack.socket_mode: true): set {names}, "
                           "or INCIDENTBOT_SLACK__SOCKET_MODE=false to receive Slack over HTTP")
    raise StartupError(f"slack.{missing[0]}: required to serve Slack (set {names})")


def open_socket(socket: SocketTransport) -> None:
    """Connect the Socket Mode link, or raise StartupError saying which setting is wrong."""
    try:
        socket.connect()
    except SlackApiError as exc:
        raise StartupError(f"slack.app_token: Slack did not accept it ({exc.response.get('error', 'error')})") from None
    except OSError as exc:
        # No URL: the exception text can hold one, and the token never, but keep it short.
        raise StartupError(f"slack: cannot reach Slack to open the Socket Mode connection ({type(exc).__name__})") \
            from None


def _build(settings: Settings) -> context.BotContext:
    try:
        return context.build(settings)
    except DBAPIError as exc:
        # The driver's first line says what failed (host, port, refused, authentication);
        # the URL, which may hold the password, is not in it.
        why = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise StartupError(f"database_url: cannot use the database ({why})") from None


def _front_config(settings: Settings, backend: str) -> FrontConfig:
    assert settings.slack.signing_secret is not None  # _check_credentials
    return FrontConfig(host=settings.http.host, port=settings.http.port, backend=backend,
                       signing_secret=settings.slack.signing_secret.get_secret_value(),
                       max_body_bytes=settings.http.max_body_bytes, max_request_bytes=settings.max_request_bytes,
                       log_level=settings.log_level)


def serve(settings: Settings) -> None:
    _check_credentials(settings)
    # Slack over HTTP is answered by the front (bot/app/front.py), started first so that
    # its start overlaps the bot's; the bot then listens on the loopback behind it.
    front = Front() if settings.http.front and not settings.slack.socket_mode else None
    try:
        ctx = _build(settings)
    except StartupError:
        if front is not None:
            front.kill()
        raise
    try:
        bolt = slack_app.build(ctx)
    except Exception as exc:  # Bolt raises BoltError on a token Slack rejects
        ctx.close()
        if front is not None:
            front.kill()
        raise StartupError(f"slack.bot_token: Slack did not accept it ({exc})") from None
    socket: SocketTransport | None = None
    if settings.slack.socket_mode:
        assert settings.slack.app_token is not None  # _check_credentials
        socket = SocketTransport(bolt, settings.slack.app_token.get_secret_value(),
                                 ping_interval=settings.slack.socket_ping_interval_s)
    app = web.create(ctx, None if socket else bolt, socket_link=socket.status if socket else None)
    if front is None:
        server = HttpServer(app, settings.http.host, settings.http.port, settings.http.threads)
    else:
        server = HttpServer(app, "127.0.0.1", 0, settings.http.threads)
    stop = threading.Event()
    front_died: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
        url = server.url if front is None else front.start(_front_config(settings, server.url))
    except (OSError, FrontError) as exc:
        server.stop()
        if front is not None:
            front.kill()
        if socket is not None:
            socket.close()
        ctx.close()
        if isinstance(exc, FrontError):
            raise StartupError(str(exc)) from None
        raise StartupError(f"http: cannot listen on {settings.http.host}:{settings.http.port} ({exc.strerror})") from None
    if front is not None:
        def front_ended(code: int) -> None:
            log.error("the HTTP front process ended (exit code %d); stopping, so that a supervisor restarts the bot",
                      code)
            front_died.append(code)
            stop.set()
        front.watch(front_ended)
    if socket is not None:
        try:
            open_socket(socket)
        except StartupError:
            server.stop()
            socket.close()
            ctx.close()
            raise
        if not socket.wait_ready(SOCKET_HELLO_WAIT_S):
            log.warning("Slack has not said hello on the Socket Mode connection yet; retrying "
                        "(/readyz answers 503 until it does)")
        log.info("incidentbot receiving Slack over Socket Mode; listening on %s (POST /alerts/<source>, "
                 "GET /healthz /readyz /metrics)", url)
    else:
        log.info("incidentbot listening on %s (POST /slack/events, POST /alerts/<source>, GET /healthz /readyz /metrics)",
                 url)
    ctx.start_timers()
    # Asked of Slack in the background: a slow Slack must not hold up start-up.
    ctx.work.submit(lambda: people.warn_unknown(ctx.chat, settings))
    # Incidents stored while Slack could not be reached, or left by a process that was
    # killed before announcing them (it logs them); the timer owner keeps doing this.
    flows.sweep(ctx)
    stop.wait()
    log.info("shutting down: finishing requests and background work")
    if socket is not None:
        socket.close()  # no new Slack requests first; the handlers already running finish
    if front is not None:
        front.stop()  # no new requests; what it answered is handed to the bot first
    server.stop()
    ctx.close()
    if front_died:
        raise StartupError(f"the HTTP front process ended (exit code {front_died[0]})")
