"""Starting and stopping the HTTP front (bot/app/front.py) from `incidentbot serve`.

The front is a child process: `python -m bot.app.front`, its settings (the signing
secret among them) on its stdin, never in its arguments or environment, where `ps`
and /proc would show them. It answers one line on stdout once it listens (or
cannot), and ends when its stdin closes: when the bot stops it, or when the bot
dies, even by SIGKILL, since the kernel closes the pipe then."""

from __future__ import annotations

import json
import logging
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

# Marks a Slack request the front has answered already (bot/app/web.py reads it).
ACKED_HEADER = "X-Incidentbot-Acked"


class FrontConfig(BaseModel):
    host: str
    port: int
    backend: str  # the bot's own HTTP server, on the loopback
    signing_secret: str = Field(repr=False)
    max_body_bytes: int  # Slack's requests
    max_request_bytes: int  # any request (Settings.max_request_bytes); the bot holds each route's own limit
    log_level: str = "INFO"


class FrontError(Exception):
    """The front could not start, in one line (cannot listen, or never answered)."""


class Front:
    def __init__(self) -> None:
        # Started before the bot builds anything, so the front's imports overlap the bot's.
        self.process = subprocess.Popen([sys.executable, "-m", "bot.app.front"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, close_fds=True)
        self._stopping = threading.Event()

    def start(self, config: FrontConfig, timeout: float = 30.0) -> str:
        """Hand the front its settings; the URL it listens on, once it does."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(config.model_dump_json().encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise FrontError(f"the HTTP front exited at start (code {self.process.wait()})") from None
        deadline = time.monotonic() + timeout
        ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = self.process.stdout.readline() if ready else b""
        try:
            said = json.loads(line)
        except ValueError:
            self.kill()
            raise FrontError("the HTTP front did not start" + (" in time" if not ready else "")) from None
        if "error" in said:
            self.process.wait(timeout=5)
            raise FrontError(str(said["error"]))
        return str(said["listening"])

    def watch(self, on_exit: Callable[[int], None]) -> None:
        """Call ``on_exit(code)`` if the front ends without being asked to."""
        def wait() -> None:
            code = self.process.wait()
            if not self._stopping.is_set():
                on_exit(code)
        threading.Thread(target=wait, name="front-watch", daemon=True).start()

    def stop(self, timeout: float = 30.0) -> None:
        """No new requests; the front hands the bot what it acknowledged, then ends."""
        self._stopping.set()
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("the HTTP front did not finish within %.0f s; stopping it", timeout)
            self.kill()

    def kill(self) -> None:
        self._stopping.set()
        self.process.kill()
        self.process.wait()
