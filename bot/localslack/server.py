"""The local Slack Web API served over real HTTP, for the console and the tests.

``LocalSlack`` runs a Flask app under cheroot on 127.0.0.1 (a free port by
default).  Point ``slack_sdk.WebClient(base_url=local_slack.url)`` at it.
Besides ``/api/<method>`` it serves the two other URLs Slack hands out:
``/response/<id>`` (response_url) and ``/upload/v1/<file id>`` (file uploads),
and beside it Slack's Socket Mode WebSocket (``socketmode.py``), whose URLs
``apps.connections.open`` hands out for the app-level token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from types import TracebackType

from flask import Flask, Request, Response, jsonify, request

from bot.httpserver import HttpServer
from bot.localslack import api_chat, api_conversations, api_files_views, responseurl
from bot.localslack.api import ApiContext, Handler, Params
from bot.localslack.faults import Failure
from bot.localslack.models import JsonDict, SlackError
from bot.localslack.socketmode import SocketModeServer
from bot.localslack.state import WorkspaceState

log = logging.getLogger(__name__)

HANDLERS: dict[str, Handler] = {
    **api_chat.HANDLERS, **api_conversations.HANDLERS, **api_files_views.HANDLERS,
}


def _json(body: JsonDict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _failure_response(failure: Failure) -> tuple[JsonDict, int, dict[str, str]]:
    return {"ok": False, "error": failure.error}, failure.status, failure.headers()


def _read_params(req: Request) -> JsonDict:
    """Query string plus a JSON or form body, values exactly as sent."""
    params: JsonDict = dict(req.args.items())
    if req.is_json:
        body = req.get_json(silent=True)
        if not isinstance(body, dict) and (body is not None or req.get_data()):
            raise SlackError("invalid_json")
        params.update(body or {})
    else:
        params.update(req.form.items())
    return params


def _supplied_token(req: Request, params: JsonDict) -> str | None:
    # Always drop the token from params so it never reaches the call log.
    form_token = params.pop("token", None)
    header = req.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    return str(form_token) if form_token else None


def create_app(state: WorkspaceState, token: str, socket: SocketModeServer | None = None) -> Flask:
    """The WSGI app: Slack's Web API on ``/api/``, response URLs, upload URLs;
    ``apps.connections.open`` needs ``socket``."""
    app = Flask("localslack")
    expected = token.encode()

    @app.route("/api/<method>", methods=["GET", "POST"])
    def api_method(method: str) -> Response:
        params: JsonDict = {}
        headers: dict[str, str] = {}
        try:
            params = _read_params(request)
            supplied = _supplied_token(request, params)
            body, status, headers = _dispatch(method, params, supplied)
        except SlackError as exc:
            body, status = exc.body(), exc.status
        state.record_call(method, params, body, status)
        log.debug("localslack %s -> %s %s", method, status, body.get("error", "ok"))
        return _json(body, status, headers)

    def _dispatch(method: str, params: JsonDict,
                  supplied: str | None) -> tuple[JsonDict, int, dict[str, str]]:
        if method == "apps.connections.open" and socket is not None:
            # The one method called with the app-level token instead of the bot's.
            failure = state.take_failure(method)
            if failure is not None:
                return _failure_response(failure)
            return {"ok": True, **socket.open_connection(supplied)}, 200, {}
        handler = HANDLERS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}, 200, {}
        if supplied is None:
            return {"ok": False, "error": "not_authed"}, 200, {}
        if supplied.startswith("xapp-"):  # an app-level token opens connections and nothing else
            return {"ok": False, "error": "not_allowed_token_type"}, 200, {}
        if not hmac.compare_digest(supplied.encode(), expected):
            return {"ok": False, "error": "invalid_auth"}, 200, {}
        failure = state.take_failure(method)
        if failure is not None:
            return _failure_response(failure)
        ctx = ApiContext(state, request.host_url)
        try:
            return {"ok": True, **handler(ctx, Params(params))}, 200, {}
        except SlackError:
            raise
        except Exception:  # noqa: BLE001 - a stand-in bug must surface as Slack's 500, logged
            log.exception("localslack handler for %s failed", method)
            return {"ok": False, "error": "internal_error"}, 500, {}

    @app.post("/response/<url_id>")
    def response_url(url_id: str) -> Response:
        failure = state.take_failure("response_url")
        if failure is not None:
            return _json(*_failure_response(failure))
        try:
            responseurl.handle_post(state, url_id, request.get_json(silent=True))
        except SlackError as exc:
            return _json(exc.body(), exc.status)
        return _json({"ok": True})

    @app.post("/upload/v1/<file_id>")
    def upload(file_id: str) -> Response:
        failure = state.take_failure("upload")
        if failure is not None:
            return _json(*_failure_response(failure))
        # urllib labels raw bytes as a form post; only multipart carries a file part.
        if request.mimetype == "multipart/form-data":
            uploaded = next(iter(request.files.values()), None)
            data = uploaded.read() if uploaded is not None else b""
        else:
            data = request.get_data(parse_form_data=False)
        if not state.store_file_bytes(file_id, data):
            return Response("file not found", 404, mimetype="text/plain")
        return Response(f"OK - {len(data)}", 200, mimetype="text/plain")

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _json({"ok": False, "error": "not_found"}, 404)

    return app


class LocalSlack:
    """A running local Slack: ``start()`` it, hand ``url`` to the WebClient, ``stop()`` it.

    ``app_token`` is the app-level token ``apps.connections.open`` accepts (one is
    made up when not given); ``socket`` is Slack's side of Socket Mode."""

    def __init__(self, token: str, state: WorkspaceState | None = None, *, app_token: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> None:
        self.state = state if state is not None else WorkspaceState()
        self._token = token
        self._app_token = app_token or f"xapp-1-{self.state.bot.app_id}-local-{secrets.token_hex(12)}"
        self._host, self._port, self._threads = host, port, threads
        self._server: HttpServer | None = None
        self.socket = SocketModeServer(self.state, self._app_token, host=host)

    def __repr__(self) -> str:  # no token here: reprs end up in logs
        return f"LocalSlack(base_url={self.base_url if self._server else None!r})"

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the API base URL."""
        if self._server is not None:
            return self.url
        self.socket.start()
        # Binds now, so a port clash raises here rather than in the thread.
        self._server = HttpServer(create_app(self.state, self._token, self.socket), self._host, self._port,
                                  threads=self._threads).start()
        log.info("local Slack API listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            self.socket.stop()

    @property
    def app_token(self) -> str:
        """The app-level token this stand-in accepts (a made-up test credential)."""
        return self._app_token

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalSlack is not running; call start() first")
        return self._server.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``"""
        return f"http://{self._host}:{self.port}/"

    @property
    def url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``: ``http://127.0.0.1:PORT/api/``."""
        return self.base_url + "api/"

    def response_url(self, channel: str = "C0INCIDENTS", user: str = "U0ALICE", *,
                     message_ts: str | None = None, thread_ts: str | None = None) -> str:
        """A fresh response_url as a slash command (or, with ``message_ts``, an
        interaction on that message) would carry."""
        url_id = self.state.issue_response_url(channel, user, message_ts, thread_ts)
        return f"{self.base_url}response/{url_id}"

    def issue_trigger_id(self, user_id: str = "U0ALICE") -> str:
        return self.state.issue_trigger_id(user_id)

    def __enter__(self) -> LocalSlack:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["HANDLERS", "LocalSlack", "create_app"]
