"""What the bot posts on its own (ladder steps, alert updates), printed the moment
it arrives when a person sits at a terminal, above the line they are typing, which
is then shown again as it was. Piped input gets none of this: there, what arrived
is printed after each command, so a script's output is the same at every run."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TextIO

try:
    import readline
except ImportError:  # not every Python has it; the typed line is then not redrawn
    readline = None  # type: ignore[assignment]

CLEAR_LINE = "\r\x1b[K"


def typed_so_far() -> str:
    return readline.get_line_buffer() if readline is not None else ""


class LivePrinter:
    def __init__(self, events: queue.Queue[dict[str, Any] | None], out: TextIO,
                 describe: Callable[[dict[str, Any]], str]) -> None:
        self.events, self.out, self.describe = events, out, describe
        self.lock = threading.Lock()  # one writer at a time: this thread or the console's answers
        self.prompt: str | None = None  # set while the person is typing at it
        self._thread = threading.Thread(target=self._run, name="console-live", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            event = self.events.get()
            try:
                if event is None:
                    return
                self.show(self.describe(event))
            finally:
                self.events.task_done()

    def show(self, text: str) -> None:
        with self.lock:
            if self.prompt is not None:
                self.out.write(CLEAR_LINE)
            self.out.write(text + "\n")
            if self.prompt is not None:
                self.out.write(self.prompt + typed_so_far())
            self.out.flush()

    def read(self, prompt: str) -> str:
        """One line typed at `prompt`, with line editing; raises EOFError at the end."""
        with self.lock:
            self.prompt = prompt
        try:
            return input(prompt)
        finally:
            with self.lock:
                self.prompt = None

    def drain(self) -> None:
        """Until everything that arrived so far is on the screen."""
        self.events.join()

    def close(self) -> None:
        self.events.put(None)
        self._thread.join(timeout=5)
