"""`incidentbot console`: the bot against a local Slack stand-in, in a terminal.

Type what you would type in Slack (`/incident help`, `/ops status`); the bot's
answers are printed as they would appear, and buttons become numbered choices.
With stdin not a terminal it reads one command per line, so it can be scripted.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
from typing import Any, TextIO

from bot.app.localbot import LocalBot
from bot.config import Settings
from bot.console.render import Renderer

INTRO = """incidentbot console: a local Slack stand-in; nothing leaves this machine.
Type a slash command (/incident help, /ops status), a number to press a button,
':as <user id>' to act as someone else, ':quit' to leave."""


class Console:
    def __init__(self, settings: Settings, user: str, channel: str, out: TextIO) -> None:
        self.bot = LocalBot(settings)
        self.slack = self.bot.slack
        self.user, self.channel, self.out = user, channel, out
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.slack.state.subscribe(self.events.put)
        self.renderer = Renderer()

    def close(self) -> None:
        self.bot.close()

    def say(self, text: str = "") -> None:
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
        while True:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                if self.bot.ctx.work.wait_idle(timeout=0):
                    break
                continue
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
    console = Console(settings, user, channel, out)
    try:
        if interactive:
            console.say(INTRO)
        while True:
            if interactive:
                out.write(f"{console.user}> ")
                out.flush()
            line = stdin.readline()
            if not line or not console.handle(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
