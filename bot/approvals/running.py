"""The executions this bot process is running now, each with the event that asks
it to stop after its current batch (the Abort button). Lives on the bot's context."""

from __future__ import annotations

import threading


class Running:
    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, request_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(request_id, threading.Event())

    def finish(self, request_id: str) -> None:
        with self._lock:
            self._events.pop(request_id, None)

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return request_id in self._events

    def abort(self, request_id: str) -> bool:
        """Ask a running execution to stop; False when none runs here."""
        with self._lock:
            event = self._events.get(request_id)
        if event is None:
            return False
        event.set()
        return True
