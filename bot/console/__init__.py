"""`incidentbot console`: the bot against a local Slack stand-in, in a terminal.

Type what you would type in Slack (`/incident help`, `/ops status`); the bot's
answers are printed as they would appear, and buttons become numbered choices.
With stdin not a terminal it reads one command per line, so it can be scripted.
The stand-in's messages are kept beside the console's database (`<db>.slack.json`),
so a second run can still edit the messages of the first.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from bot.app.localbot import LocalBot
from bot.config import Settings
from bot.console import cast
from bot.console.live import LivePrinter
from bot.console.render import Renderer
from bot.localslack import persist
from bot.localslack.server import LocalSlack
from bot.localslack.state import WorkspaceState

INTRO = """incidentbot console: a local Slack stand-in; nothing leaves this machine.
Type a slash command (/incident help, /ops status), a number to press a button,
':as <user id>' to act as someone else, ':quit' to leave."""


class Console:
    def __init__(self, settings: Settings, user: str, channel: str, out: TextIO, *, live: bool = False) -> None:
        self.saved_at: Path | None = persist.path_beside(settings.database_url)
        state = persist.load(self.saved_at) if self.saved_at else WorkspaceState()
        token = settings.slack.bot_token or SecretStr("xoxb-local-" + secrets.token_hex(12))
        self.settings = cast.with_demo_cast(settings.model_copy(
            update={"slack": settings.slack.model_copy(update={"bot_token": token})}))
        self.slack = LocalSlack(token=token.get_secret_value(), state=state)
        self.slack.start()
        self.autosave = persist.Autosave(state, self.saved_at) if self.saved_at else None
        try:
            self.bot = LocalBot(self.settings, self.slack)
        except BaseException:
            self._stop_slack()
            raise
        self.user, self.channel, self.out = user, channel, out
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.slack.state.subscribe(self.events.put)
        self.renderer = Renderer()
        self.live = LivePrinter(self.events, out, self.describe) if live else None

    def close(self) -> None:
        try:
            self.bot.close()
            if self.live is not None:
                self.live.close()
        finally:
            self._stop_slack()

    def _stop_slack(self) -> None:
        if self.autosave is not None:
            self.autosave.close()
        self.slack.stop()

    def say(self, text: str = "") -> None:
        if self.live is not None:
            self.live.show(text)
        else:
            print(text, file=self.out, flush=True)

    def handle(self, line: str) -> bool:
        """Act on one line; False when the person wants to leave."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line in (":quit", ":q", "exit", "quit"):
            return False
        if line.startswith(":as "):
            self.user = line.split(maxsplit=1)[1].strip()
            self.say(f"(now acting as {self.user})")
        elif line.isdigit():
            self.press(int(line))
        elif line.startswith("/"):
            self.command(line)
        else:
            self.say("Type a slash command such as /incident help, a button number, or :quit.")
        return True

    def command(self, line: str) -> None:
        slash, _, text = line.partition(" ")
        response = self.bot.slash(line, user=self.user, channel=self.channel, wait=False)
        self.show_ack(slash, response.status_code, response.text)
        self.flush()

    def press(self, number: int) -> None:
        button = next((b for b in self.renderer.buttons if b.number == number), None)
        if button is None:
            self.say(f"There is no button [{number}] on screen.")
            return
        response = self.bot.sender.block_action(
            user_id=self.user, channel_id=button.channel, message_ts=button.message_ts,
            action=button.action, response_url=self.slack.response_url(channel=button.channel, user=self.user),
            trigger_id=self.slack.issue_trigger_id(),
        )
        self.show_ack(f"[{number}] {button.label}", response.status_code, response.text)
        self.flush()

    def show_ack(self, what: str, status: int, body: str) -> None:
        if status != 200:
            self.say(f"{what}: the bot answered HTTP {status}; Slack would show \"dispatch_failed\".")
            return
        if not body.strip():
            return
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"text": body}
        visibility = "to everyone" if reply.get("response_type") == "in_channel" else "only visible to you"
        self.say(self.renderer.message(f"[{visibility}]", reply.get("text", ""), reply.get("blocks"),
                                       self.channel, ""))

    def flush(self) -> None:
        """Print everything the bot posted until it has finished its work."""
        self.bot.ctx.work.wait_idle(timeout=120)
        if self.live is not None:  # its thread prints them
            self.live.drain()
            return
        while True:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                if self.bot.ctx.work.wait_idle(timeout=0):
                    break
                continue
            if event is not None:
                self.say(self.describe(event))

    def describe(self, event: dict[str, Any]) -> str:
        kind, channel = event.get("kind", ""), event.get("channel", "")
        ts = event.get("ts", "")
        label = {
            "message": f"[{self.slack.state.channel_label(channel)}]",
            "reply": f"[{self.slack.state.channel_label(channel)} › thread {event.get('thread_ts')}]",
            "update": f"[{self.slack.state.channel_label(channel)} · edited {ts}]",
            "ephemeral": "[only visible to you]",
            "response_url": "[only visible to you]" if event.get("response_type") != "in_channel" else "[to everyone]",
        }.get(kind, f"[{kind}]")
        if kind == "view":
            return self.renderer.message(f"[modal: {event.get('title', '')}]", "", event.get("blocks"), channel, ts)
        return self.renderer.message(label, event.get("text", ""), event.get("blocks"), channel, ts)


def run_console(settings: Settings, *, user: str, channel: str, stdin: TextIO = sys.stdin,
                out: TextIO = sys.stdout) -> int:
    interactive = stdin.isatty()
    # The stand-in's own start-up chatter is not what the person asked to see.
    logging.getLogger("bot.localslack").setLevel(logging.WARNING)
    # At a terminal what the bot posts by itself shows as it comes (line editing
    # needs the real stdin and stdout); piped, after each command, the same each run.
    console = Console(settings, user, channel, out, live=interactive and stdin is sys.stdin and out is sys.stdout)
    try:
        if interactive:
            console.say(INTRO)
            console.say(cast.describe(console.settings))
        while True:
            if console.live is not None:
                try:
                    line = console.live.read(f"{console.user}> ")
                except EOFError:
                    break
            else:
                if interactive:
                    out.write(f"{console.user}> ")
                    out.flush()
                line = stdin.readline()
                if not line:
                    break
            if not console.handle(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
