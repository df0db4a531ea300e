"""The local Slack stand-in in a process of its own, as the real Slack would be:
the bot's process is then measured alone (its memory, its GIL)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Event

SLACK_TOKEN = "xoxb-bench-0000"
SPAWN = multiprocessing.get_context("spawn")


def _serve(out: multiprocessing.Queue, stop: Event) -> None:  # type: ignore[type-arg]
    from bot.localslack.server import LocalSlack

    slack = LocalSlack(token=SLACK_TOKEN, threads=16)
    slack.start()
    out.put(slack.url)
    stop.wait()
    messages = slack.state.messages()
    out.put({
        "parents": sum(1 for m in messages if m.thread_ts in (None, m.ts) and m.text.startswith("[")),
        "step_headers": sum(1 for m in messages if m.text.startswith(":alarm_clock:")),
        "messages": len(messages),
    })
    slack.stop()


class SlackProcess:
    def __init__(self) -> None:
        self._out = SPAWN.Queue()
        self._stop = SPAWN.Event()
        self._process = SPAWN.Process(target=_serve, args=(self._out, self._stop), daemon=True)
        self._process.start()
        self.url: str = self._out.get(timeout=60)

    def finish(self) -> dict[str, int]:
        """Stop it and return what it received."""
        self._stop.set()
        counts: dict[str, int] = self._out.get(timeout=60)
        self._process.join(10)
        return counts
