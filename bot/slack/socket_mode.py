"""Slack over Socket Mode: the bot opens a WebSocket to Slack (no inbound URL) and
the same Bolt app answers what arrives on it.

Bolt's own adapter does the protocol (``apps.connections.open`` with the app-level
token, acknowledging each envelope by its ``envelope_id``, a fresh connection on
``disconnect``); this module only starts and stops it and remembers whether the
link is up, so that /readyz can say so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.client import BaseSocketModeClient as SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack import inbound

log = logging.getLogger(__name__)


def _kind(envelope_type: object) -> str:
    # Named in the log only when it is one of Slack's: the rest is the sender's text.
    return envelope_type if envelope_type in ("slash_commands", "interactive", "events_api") else "unknown type"  # type: ignore[return-value]


class SocketLinkDown(Exception):
    """The WebSocket to Slack is not open (or Slack has not said hello on it yet)."""


class SocketTransport:
    """Bolt's built-in Socket Mode client around ``bolt``.

    The built-in client rather than the websocket-client one: it needs no extra
    package, and it notices a connection that went silent (no pong for four ping
    intervals) and opens a new one, where the websocket-client adapter would wait on
    a half-open connection for ever. Its known weakness: a connection cut without a
    close frame keeps its reader busy until that same check, so ``ping_interval``
    bounds both (``slack.socket_ping_interval_s``)."""

    def __init__(self, bolt: App, app_token: str, *, ping_interval: float = 5.0) -> None:
        self._handler = SocketModeHandler(
            bolt, app_token,
            # Not Bolt's logger: the client's INFO lines (sessions opened and closed)
            # belong to the transport, and its DEBUG lines quote payloads.
            logger=logging.getLogger("bot.slack.socket.client"),
            ping_interval=ping_interval,
        )
        self._client = self._handler.client
        # Every envelope's payload is checked before Bolt reads it (as over HTTP): in
        # place of the handler's own listener, one that checks, then hands it on.
        self._client.socket_mode_request_listeners.remove(self._handler.handle)
        self._client.socket_mode_request_listeners.append(self._on_request)
        self._client.message_listeners.append(self._on_envelope)
        # Raw listeners run as each message arrives, on the connection's own thread:
        # the client acts on `disconnect` itself and shows it to no other listener.
        self._client.on_message_listeners.append(self._on_message)
        self._changed = threading.Condition()
        self._hellos = 0
        self._hello_session: str | None = None  # the session Slack last said hello on
        self._last_disconnect: str | None = None
        self._closed = False

    def connect(self) -> None:
        """Open the link. Raises slack_sdk's ``SlackApiError`` when Slack refuses the
        app token (``apps.connections.open``), ``OSError`` when Slack is out of reach."""
        # The first URL is asked for here, so that a refused token is the caller's one
        # clear error rather than a line in the client's log; the client asks for
        # every later URL itself (after a `disconnect`, or a dropped connection).
        opened = self._client.web_client.apps_connections_open(app_token=self._handler.app_token)
        self._client.wss_uri = str(opened["url"])
        self._handler.connect()

    def close(self) -> None:
        """Close the link and wait for the handlers already running."""
        self._closed = True
        client = self._client
        # The client's reader blocks in recv() for up to 3 s holding the lock that
        # closing needs, and its message loop in a 1 s queue wait: end both loops and
        # wake them, so that closing takes milliseconds (every test closes a bot).
        client.auto_reconnect_enabled = False
        client.closed = True
        client.current_session_state.terminated = True
        client.message_queue.put(None)
        session = client.current_session
        if session is not None and session.sock is not None:
            with contextlib.suppress(OSError):
                session.sock.shutdown(socket.SHUT_RDWR)
        self._handler.close()
        with self._changed:
            self._changed.notify_all()

    @property
    def hellos(self) -> int:
        """How many connections Slack has greeted so far (the first one, then each reconnect)."""
        with self._changed:
            return self._hellos

    def is_ready(self) -> bool:
        """Connected, and Slack said hello on this very connection."""
        with self._changed:
            return self._ready_locked()

    def wait_ready(self, timeout: float, *, after_hellos: int = 0) -> bool:
        """Wait until the link is ready (and Slack has greeted more than
        ``after_hellos`` connections): what start-up and tests wait on."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self._hellos > after_hellos and self._ready_locked():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                # A dropped socket sends no message, so look again now and then.
                self._changed.wait(min(remaining, 0.1))

    def status(self) -> str:
        """One line for /readyz; raises ``SocketLinkDown`` while the link is not ready."""
        if not self.is_ready():
            why = f" (Slack asked: {self._last_disconnect})" if self._last_disconnect else ""
            raise SocketLinkDown(f"the Socket Mode connection to Slack is not open{why}; reconnecting")
        return f"Socket Mode connection open (connections opened: {self.hellos})"

    def _ready_locked(self) -> bool:
        session = self._client.session_id()
        return (not self._closed and session is not None and self._client.is_connected()
                and self._hello_session == session)

    def _on_envelope(self, client: SocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        """An envelope whose payload is no object would make the client's own parsing
        raise (a traceback, and no acknowledgement): acknowledge and drop it here."""
        envelope_id = message.get("envelope_id")
        if not isinstance(envelope_id, str) or "payload" not in message or isinstance(message["payload"], dict):
            return
        log.warning("dropped a Socket Mode envelope (%s) that Slack would not send: payload: must be a JSON object",
                    _kind(message.get("type")))
        client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
        # The client reads the same dict next; without a payload it skips the envelope.
        del message["payload"]

    def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        try:
            inbound.check_payload(req.type, req.payload)
        except inbound.BadRequest as bad:
            # Acknowledged, so that Slack does not send it again, and dropped: one line,
            # no payload (what people typed), no traceback.
            log.warning("dropped a Socket Mode envelope (%s) that Slack would not send: %s", _kind(req.type),
                        bad.reason)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        started = time.time()
        answer = run_bolt_app(self._handler.app, req)
        if 400 <= answer.status < 500 and not (answer.status == 404 and req.type == "slash_commands"):
            # Refused (bot/slack/app.py's on_error said why in the log): acknowledged all
            # the same, since sending it again would not change the answer. A command
            # with no handler stays unanswered, as over HTTP: Slack then tells the person
            # it failed, rather than showing nothing.
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        send_response(client, req, answer, started)

    def _on_message(self, raw: str) -> None:
        if '"hello"' not in raw and '"disconnect"' not in raw:
            return  # an envelope: Bolt's business
        try:
            message = json.loads(raw)
        except ValueError:
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "hello":
            with self._changed:
                self._hellos += 1
                self._hello_session = self._client.session_id()
                self._last_disconnect = None
                self._changed.notify_all()
            info = message.get("connection_info") or {}
            log.info("Slack said hello on the Socket Mode connection (app %s, %s connection(s))",
                     info.get("app_id", "?"), message.get("num_connections", "?"))
        elif kind == "disconnect":
            # Bolt's client opens a fresh connection by itself; this is for the log and /readyz.
            with self._changed:
                self._last_disconnect = str(message.get("reason") or "disconnect")
                self._changed.notify_all()
            log.info("Slack asked for a new Socket Mode connection (%s)", message.get("reason"))
