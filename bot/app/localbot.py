"""The whole bot wired to the local Slack stand-in: what the console, the tests and
the benchmarks run. Slack reaches it over HTTP (real request signing) or over
Socket Mode (the stand-in's WebSocket), the `transport`; either way the stand-in
shows the person what Slack would."""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

import requests
from pydantic import SecretStr

from bot.app import context, web
from bot.app.context import BotContext
from bot.config import Settings
from bot.httpserver import HttpServer
from bot.localslack import acks
from bot.localslack.envelopes import Envelope
from bot.localslack.sender import SlackSender, block_action_payload, slash_payload
from bot.localslack.server import LocalSlack
from bot.localslack.socketmode import NotConnected
from bot.slack import app as slack_app
from bot.slack.socket_mode import SocketTransport

Transport = Literal["http", "socket"]
# How long a request waits for the bot's Socket Mode connection: long enough for a
# reconnection after Slack's `disconnect`, which a person would not notice either.
CONNECT_WAIT_S = 10.0
# Modal submissions and the like may answer in their ack (response_action); clicks may not.
_ACK_WITH_PAYLOAD = {"view_submission", "block_suggestion", "shortcut", "message_action"}


def serve_bot(settings: Settings, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> tuple[BotContext, HttpServer]:
    """The bot's context and its HTTP server, started on a background thread."""
    ctx = context.build(settings)
    server = HttpServer(web.create(ctx, slack_app.build(ctx)), host, port, threads=threads).start()
    ctx.start_timers()
    return ctx, server


def serve_socket_bot(settings: Settings, host: str = "127.0.0.1", port: int = 0,
                     threads: int = 8) -> tuple[BotContext, HttpServer, SocketTransport]:
    """The same over Socket Mode: the HTTP server (alerts, health, readiness, metrics)
    and a Socket Mode connection to ``settings.slack.api_url``, greeted by Slack."""
    assert settings.slack.app_token is not None
    ctx = context.build(settings)
    socket = SocketTransport(slack_app.build(ctx), settings.slack.app_token.get_secret_value(),
                             ping_interval=settings.slack.socket_ping_interval_s)
    server = HttpServer(web.create(ctx, None, socket_link=socket.status), host, port, threads=threads)
    try:
        server.start()
        socket.connect()
        if not socket.wait_ready(CONNECT_WAIT_S):
            raise TimeoutError(f"Slack did not say hello on the Socket Mode connection within {CONNECT_WAIT_S}s")
    except BaseException:
        socket.close()
        server.stop()
        ctx.close()
        raise
    ctx.start_timers()
    return ctx, server, socket


class SocketAnswer:
    """What came back over Socket Mode, read like the HTTP response of the other
    transport: ``status_code`` 200 when acknowledged in time, 504 when not, 503 when
    the bot had no connection; ``json()`` is the ack's payload."""

    def __init__(self, envelope: Envelope | None) -> None:
        self.envelope = envelope
        self.status_code = 503 if envelope is None else 200 if envelope.acked else 504
        payload = envelope.ack_payload if envelope is not None and envelope.acked else None
        self.payload: dict[str, Any] | None = payload or None
        self.text = json.dumps(self.payload) if self.payload else ""

    @property
    def ok(self) -> bool:
        return self.status_code == 200

    def json(self) -> Any:
        if self.payload is None:
            raise ValueError("the acknowledgement carried no payload")
        return self.payload


Answer = requests.Response | SocketAnswer


class LocalBot:
    def __init__(self, settings: Settings, slack: LocalSlack | None = None, *, transport: Transport = "http") -> None:
        token = settings.slack.bot_token or SecretStr("xoxb-local-" + secrets.token_hex(12))
        secret = settings.slack.signing_secret or SecretStr(secrets.token_hex(16))
        self.transport = transport
        self.owns_slack = slack is None
        given_app_token = settings.slack.app_token.get_secret_value() if settings.slack.app_token else None
        self.slack = slack or LocalSlack(token=token.get_secret_value(), app_token=given_app_token)
        if self.owns_slack:
            self.slack.start()
        update: dict[str, Any] = {"bot_token": token, "api_url": self.slack.url, "socket_mode": transport == "socket",
                                  "app_token": settings.slack.app_token or SecretStr(self.slack.app_token)}
        # Over HTTP the bot verifies signatures; over Socket Mode nothing is signed and
        # the bot is given no secret it would not need in production either.
        update["signing_secret"] = secret if transport == "http" else settings.slack.signing_secret
        settings = settings.model_copy(update={"slack": settings.slack.model_copy(update=update)})
        self.socket: SocketTransport | None = None
        if transport == "socket":
            self.ctx, self.server, self.socket = serve_socket_bot(settings)
        else:
            self.ctx, self.server = serve_bot(settings)
        # Kept in socket mode too: a request to /slack/events there must meet a 404.
        self.sender = SlackSender(self.server.url, secret.get_secret_value())

    @property
    def url(self) -> str:
        return self.server.url

    def slash(self, line: str, *, user: str = "U0ALICE", channel: str = "C0INCIDENTS", wait: bool = True,
              thread: str | None = None, **signing: Any) -> Answer:
        """Type a slash command as `user` in `channel`; by default wait until the
        bot has finished everything it does after the acknowledgement. The person
        sees the acknowledgement at the stand-in, as in Slack."""
        command, _, text = line.strip().partition(" ")
        form = slash_payload(command, text.strip(), user_id=user, channel_id=channel,
                             response_url=self.slack.response_url(channel=channel, user=user),
                             trigger_id=self.slack.issue_trigger_id(), thread_ts=thread)
        if self.transport == "socket":
            self._no_signing(signing)
            response: Answer = self._deliver("slash_commands", form, accepts_response_payload=True)
        else:
            response = self.sender.slash(command, text.strip(), user_id=user, channel_id=channel,
                                         response_url=form["response_url"], trigger_id=form["trigger_id"],
                                         thread_ts=thread, **signing)
            self._show_http_ack(form, response)
        if wait:
            self.ctx.work.wait_idle(timeout=120)
        return response

    def click(self, message: Any, action_id: str, *, user: str = "U0ALICE", value: str | None = None,
              wait: bool = True) -> Answer:
        """Press the button `action_id` (with `value`, when several share it) on a
        message of the stand-in, as `user`."""
        for block in message.blocks or []:
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
            for element in elements:
                if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                    payload = block_action_payload(
                        user_id=user, channel_id=message.channel, message_ts=message.ts,
                        action={**element, "block_id": block.get("block_id", "")},
                        trigger_id=self.slack.issue_trigger_id(user),
                    )
                    return self.interact(payload, wait=wait)
        raise LookupError(f"no button {action_id} (value {value}) on message {message.ts}")

    def interact(self, payload: dict[str, Any], *, wait: bool = False) -> Answer:
        """Send an interaction payload (``block_actions``, ``view_submission``...) as
        Slack would; with `wait`, wait for the bot's work after it."""
        if self.transport == "socket":
            response: Answer = self._deliver("interactive", payload,
                                             accepts_response_payload=payload.get("type") in _ACK_WITH_PAYLOAD)
        else:
            response = self.sender.interaction(payload)
        if wait:
            self.ctx.work.wait_idle(timeout=120)
        return response

    def event(self, body: dict[str, Any], *, wait: bool = False) -> Answer:
        """Send an Events API callback (``{"type": "event_callback", "event": ...}``)."""
        if self.transport == "socket":
            response: Answer = self._deliver("events_api", body, accepts_response_payload=False)
        else:
            response = self.sender.post_signed(json.dumps(body).encode(), content_type="application/json")
        if wait:
            self.ctx.work.wait_idle(timeout=120)
        return response

    def _deliver(self, kind: Any, payload: dict[str, Any], *, accepts_response_payload: bool) -> SocketAnswer:
        try:
            return SocketAnswer(self.slack.socket.deliver(
                kind, payload, accepts_response_payload=accepts_response_payload, connect_timeout=CONNECT_WAIT_S))
        except NotConnected:
            return SocketAnswer(None)

    def _show_http_ack(self, form: dict[str, str], response: requests.Response) -> None:
        # What Slack does with the answer's body (Socket Mode's server does the same with an ack).
        if response.status_code != 200:
            acks.show_command_failure(self.slack.state, form, "dispatch_failed")
            return
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = {"text": response.text}  # Slack shows a plain-text answer as it is
        acks.show_command_ack(self.slack.state, form, body)

    @staticmethod
    def _no_signing(signing: dict[str, Any]) -> None:
        if signing:
            raise TypeError(f"{', '.join(signing)}: request signing is for the HTTP transport; "
                            "Socket Mode envelopes are not signed")

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()  # first, so that the stand-in sees the app leave, not a dropped line
        self.server.stop()
        self.ctx.close()
        if self.owns_slack:
            self.slack.stop()

    def __enter__(self) -> "LocalBot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
