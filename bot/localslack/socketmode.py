"""Slack's side of Socket Mode, for the stand-in.

As Slack documents it (api.slack.com/apis/socket-mode): the app calls
``apps.connections.open`` with its app-level (``xapp-``) token and gets a WebSocket
URL that works once; on connecting it is greeted with ``hello``; requests arrive as
envelopes that the app acknowledges by ``envelope_id`` within three seconds; before
closing a connection Slack sends ``disconnect`` (``refresh_requested``, ``warning``
or ``link_disabled``), and the app opens a new one with a fresh URL.

The WebSocket server is the ``websockets`` library's threaded one: one thread per
connection, none of the framing written here.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from bot.localslack import acks
from bot.localslack.envelopes import ACK_TIMEOUT_S, Envelope, EnvelopeType, Ledger, parse_ack
from bot.localslack.models import JsonDict, SlackError
from bot.localslack.state import WorkspaceState

log = logging.getLogger(__name__)

TICKET_TTL_S = 60.0  # a URL from apps.connections.open is good for one connection, soon
EVENT_RETRIES = 3  # Slack retries an unacknowledged event three times; commands and clicks never


class NotConnected(Exception):
    """The app has no open Socket Mode connection to deliver to."""


@dataclass
class Link:
    """One WebSocket connection of the app, as tests see it."""

    id: str
    opened_at: float
    hello: JsonDict
    closed_at: float | None = None
    disconnect_reason: str | None = None  # what the stand-in said before closing it
    _ws: ServerConnection | None = field(default=None, repr=False)
    _send_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def send(self, frame: JsonDict) -> None:
        assert self._ws is not None
        with self._send_lock:  # frames from the delivering thread and disconnect() never interleave
            self._ws.send(json.dumps(frame))


class SocketModeServer:
    def __init__(self, state: WorkspaceState, app_token: str, *, host: str = "127.0.0.1") -> None:
        self.state = state
        self.ledger = Ledger()
        self._app_token = app_token
        self._host = host
        self._cond = threading.Condition()
        self._tickets: dict[str, float] = {}
        self._links: list[Link] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # no token: reprs end up in logs
        return f"SocketModeServer(url={self.url if self._server else None!r})"

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = serve(self._serve_link, self._host, 0, process_request=self._check_ticket,
                             compression=None, close_timeout=2,
                             logger=logging.getLogger("bot.localslack.socket.ws"))
        self._thread = threading.Thread(target=self._server.serve_forever, name="localslack-socket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Socket Mode server is not running")
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    # -- apps.connections.open and the handshake ----------------------------------------

    def open_connection(self, supplied: str | None) -> JsonDict:
        """``apps.connections.open``: a one-time WebSocket URL for the app-level token."""
        if not supplied:
            raise SlackError("not_authed")
        if not supplied.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")  # a bot or user token cannot open a connection
        if not hmac.compare_digest(supplied.encode(), self._app_token.encode()):
            raise SlackError("invalid_auth")
        ticket = secrets.token_urlsafe(24)
        with self._cond:
            self._tickets[ticket] = time.time()
        return {"url": f"{self.url}/link/?ticket={ticket}&app_id={self.state.bot.app_id}"}

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._cond:
            issued = self._tickets.pop(ticket, None)
        if parts.path.rstrip("/") != "/link" or issued is None or time.time() - issued > TICKET_TTL_S:
            return Response(HTTPStatus.UNAUTHORIZED.value, "Unauthorized",
                             Headers([("Content-Type", "text/plain")]), b"invalid, used or expired ticket\n")
        return None

    def _serve_link(self, ws: ServerConnection) -> None:
        with self._cond:
            others = sum(1 for link in self._links if link.open)
            link = Link(self.state.new_id("L"), time.time(), {}, _ws=ws)
        link.hello = {"type": "hello", "num_connections": others + 1,
                      "debug_info": {"host": "applink-local", "build_number": 1,
                                     "approximate_connection_time": 18060},
                      "connection_info": {"app_id": self.state.bot.app_id}}
        try:
            # Greeted and listed in one step: an app that has read its hello finds its
            # link open (a disconnect or a delivery right after it must see it), and
            # nothing is delivered before the hello.
            with self._cond:
                link.send(link.hello)
                self._links.append(link)
                self._cond.notify_all()
            for raw in ws:
                self._on_frame(link, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                link.closed_at = time.time()
                self._cond.notify_all()

    def _on_frame(self, link: Link, raw: str | bytes) -> None:
        ack = parse_ack(raw)
        if ack is None:
            log.warning("localslack socket %s: a frame that is not an acknowledgement was ignored", link.id)
            return
        if self.ledger.acknowledge(ack) is None:
            log.warning("localslack socket %s: an acknowledgement for an unknown envelope", link.id)

    # -- envelopes -----------------------------------------------------------------------

    def deliver(self, type: EnvelopeType, payload: JsonDict, *, accepts_response_payload: bool,
                connect_timeout: float = 0.0, ack_timeout: float = ACK_TIMEOUT_S) -> Envelope:
        """Send ``payload`` in an envelope on the newest open connection and wait for
        its acknowledgement, as Slack does; shows a slash command's ack to the person.

        Returns the envelope (``acked`` False when the app did not answer in time).
        Raises ``NotConnected`` when no connection opens within ``connect_timeout``."""
        envelope: Envelope | None = None
        for attempt in range(1 + (EVENT_RETRIES if type == "events_api" else 0)):
            try:
                link = self._newest_link(connect_timeout)
            except NotConnected:
                if type == "slash_commands":
                    acks.show_command_failure(self.state, payload, "dispatch_failed")
                raise
            envelope = self.ledger.new(type, payload, accepts_response_payload=accepts_response_payload,
                                       link_id=link.id, ack_timeout=ack_timeout, retry_attempt=attempt)
            try:
                link.send(envelope.wire())
            except ConnectionClosed:
                pass  # lost with the connection: unacknowledged, like any other
            envelope = self.ledger.wait(envelope.envelope_id)
            if envelope.acked:
                break
        assert envelope is not None
        if type == "slash_commands":
            if envelope.acked:
                acks.show_command_ack(self.state, payload, envelope.ack_payload)
            else:
                acks.show_command_failure(self.state, payload, "operation_timeout")
        return envelope

    def _newest_link(self, timeout: float) -> Link:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                live = [link for link in self._links if link.open]
                if live:
                    return live[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NotConnected("the app has no open Socket Mode connection")
                self._cond.wait(remaining)

    def envelopes(self) -> list[Envelope]:
        return self.ledger.envelopes()

    def unacked(self) -> list[Envelope]:
        """Envelopes the app did not acknowledge within Slack's three seconds."""
        return self.ledger.unacked()

    # -- connections -----------------------------------------------------------------------

    def links(self) -> list[Link]:
        with self._cond:
            return list(self._links)

    def wait_for_links(self, opened: int, timeout: float = 10.0) -> Link:
        """Wait until the app has opened ``opened`` connections in all and one is open;
        returns the newest open one. Raises ``TimeoutError``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._links) >= opened and any(
                    link.open for link in self._links), timeout):
                raise TimeoutError(f"the app did not open connection #{opened} within {timeout}s")
            return [link for link in self._links if link.open][-1]

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a connection opens or
        closes. Raises ``TimeoutError``."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"condition not met within {timeout}s")

    def disconnect(self, reason: str = "refresh_requested", *, close: bool = True) -> int:
        """Tell every open connection ``{"type": "disconnect", "reason": ...}`` and, with
        ``close``, close it, so the app must open a new one. Returns how many."""
        told = 0
        for link in [link for link in self.links() if link.open]:
            link.disconnect_reason = reason
            try:
                link.send({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-local"}})
                told += 1
                if close and link._ws is not None:
                    link._ws.close()
            except ConnectionClosed:
                continue
        return told

    def drop(self) -> None:
        """Cut every open connection without a word, as a network failure would."""
        for link in [link for link in self.links() if link.open]:
            if link._ws is not None:
                link._ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the peer just sees the line go
