"""The whole bot wired to the local Slack stand-in over real HTTP with real request
signing: what the console, the tests and the benchmarks run."""

from __future__ import annotations

import secrets
from typing import Any

import requests
from pydantic import SecretStr

from bot.app import context, web
from bot.app.context import BotContext
from bot.config import Settings
from bot.httpserver import HttpServer
from bot.localslack.sender import SlackSender
from bot.localslack.server import LocalSlack
from bot.slack import app as slack_app


def serve_bot(settings: Settings, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> tuple[BotContext, HttpServer]:
    """The bot's context and its HTTP server, started on a background thread."""
    ctx = context.build(settings)
    server = HttpServer(web.create(ctx, slack_app.build(ctx)), host, port, threads=threads).start()
    ctx.start_timers()
    return ctx, server


class LocalBot:
    def __init__(self, settings: Settings, slack: LocalSlack | None = None) -> None:
        token = settings.slack.bot_token or SecretStr("xoxb-local-" + secrets.token_hex(12))
        secret = settings.slack.signing_secret or SecretStr(secrets.token_hex(16))
        self.owns_slack = slack is None
        self.slack = slack or LocalSlack(token=token.get_secret_value())
        if self.owns_slack:
            self.slack.start()
        slack_settings = settings.slack.model_copy(
            update={"bot_token": token, "signing_secret": secret, "api_url": self.slack.url}
        )
        self.ctx, self.server = serve_bot(settings.model_copy(update={"slack": slack_settings}))
        self.sender = SlackSender(self.server.url, secret.get_secret_value())

    @property
    def url(self) -> str:
        return self.server.url

    def slash(self, line: str, *, user: str = "U0ALICE", channel: str = "C0INCIDENTS", wait: bool = True,
              thread: str | None = None, **signing: Any) -> requests.Response:
        """Type a slash command as `user` in `channel`; by default wait until the
        bot has finished everything it does after the acknowledgement."""
        command, _, text = line.strip().partition(" ")
        response = self.sender.slash(
            command, text.strip(), user_id=user, channel_id=channel,
            response_url=self.slack.response_url(channel=channel, user=user),
            trigger_id=self.slack.issue_trigger_id(), thread_ts=thread, **signing,
        )
        if wait:
            self.ctx.work.wait_idle(timeout=120)
        return response

    def click(self, message: Any, action_id: str, *, user: str = "U0ALICE", value: str | None = None,
              wait: bool = True) -> requests.Response:
        """Press the button `action_id` (with `value`, when several share it) on a
        message of the stand-in, as `user`."""
        for block in message.blocks or []:
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
            for element in elements:
                if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                    response = self.sender.block_action(
                        user_id=user, channel_id=message.channel, message_ts=message.ts,
                        action={**element, "block_id": block.get("block_id", "")},
                        trigger_id=self.slack.issue_trigger_id(user),
                    )
                    if wait:
                        self.ctx.work.wait_idle(timeout=120)
                    return response
        raise LookupError(f"no button {action_id} (value {value}) on message {message.ts}")

    def close(self) -> None:
        self.server.stop()
        self.ctx.close()
        if self.owns_slack:
            self.slack.stop()

    def __enter__(self) -> "LocalBot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
