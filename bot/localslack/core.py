"""Locking, change notification and bookkeeping shared by the workspace state.

Every read and write of the state goes through one ``RLock``.  API handlers that
need several steps to be atomic wrap them in ``transaction()``.  Events produced
inside a transaction are delivered only after the lock is released, so a slow
console printer never blocks HTTP handlers and a subscriber may query the state
without deadlocking.
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypedDict, TypeVar

from bot.localslack.faults import Failure, FaultInjector
from bot.localslack.models import ApiCall, Ephemeral, JsonDict, Message, ResponseUrlPost, View

log = logging.getLogger(__name__)

T = TypeVar("T")

EventKind = Literal["message", "reply", "update", "delete", "ephemeral", "response_url",
                    "view", "home"]


class Event(TypedDict, total=False):
    """What subscribers receive: a flat, printable summary plus the record itself.

    One event per thing the bot did: a response_url post is a single
    ``response_url`` event even when it also created a channel message.
    """

    kind: EventKind
    time: float
    channel: str
    ts: str
    thread_ts: str | None
    user: str
    text: str
    blocks: list[JsonDict] | None
    attachments: list[JsonDict] | None
    files: list[JsonDict] | None
    response_type: str
    replace_original: bool
    delete_original: bool
    view_id: str
    view_type: str
    title: str
    callback_id: str
    item: Message | Ephemeral | ResponseUrlPost | View


Subscriber = Callable[[Event], None]


def make_event(kind: EventKind, item: Message | Ephemeral | ResponseUrlPost | View,
               now: float) -> Event:
    snapshot = copy.deepcopy(item)
    event: Event = {"kind": kind, "time": now, "item": snapshot}
    if isinstance(snapshot, Message):
        event.update({"channel": snapshot.channel, "ts": snapshot.ts,
                      "thread_ts": snapshot.thread_ts, "user": snapshot.user,
                      "text": snapshot.text, "blocks": snapshot.blocks,
                      "attachments": snapshot.attachments, "files": snapshot.files})
    elif isinstance(snapshot, Ephemeral):
        event.update({"channel": snapshot.channel, "ts": snapshot.message_ts,
                      "thread_ts": snapshot.thread_ts, "user": snapshot.user,
                      "text": snapshot.text, "blocks": snapshot.blocks,
                      "attachments": snapshot.attachments})
    elif isinstance(snapshot, ResponseUrlPost):
        event.update({"channel": snapshot.channel, "ts": snapshot.result_ts or "",
                      "thread_ts": snapshot.thread_ts, "user": snapshot.user,
                      "text": snapshot.text, "blocks": snapshot.blocks,
                      "attachments": snapshot.payload.get("attachments"),
                      "response_type": snapshot.response_type,
                      "replace_original": snapshot.replace_original,
                      "delete_original": snapshot.delete_original})
    else:
        title = snapshot.payload.get("title") or {}
        event.update({"user": snapshot.user_id, "view_id": snapshot.id,
                      "view_type": snapshot.type,
                      "title": str(title.get("text", "")) if isinstance(title, dict) else "",
                      "callback_id": str(snapshot.payload.get("callback_id") or ""),
                      "blocks": snapshot.blocks, "text": "", "channel": "", "ts": ""})
    return event


class StateCore:
    def __init__(self, clock: Callable[[], float],
                 rate_limits: dict[str, tuple[int, float]] | None) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._depth = 0
        self._pending: list[Event] = []
        self._subscribers: list[Subscriber] = []
        self._ids = itertools.count(0x1000)
        self._last_ts_us = 0
        self._faults = FaultInjector(rate_limits)
        self._calls: list[ApiCall] = []

    def now(self) -> float:
        return self._clock()

    # -- locking and events -----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the state lock; wake waiters and deliver events when the outermost one ends."""
        events: list[Event] = []
        with self._cond:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    events, self._pending = self._pending, []
                    self._cond.notify_all()
        for event in events:
            self._deliver(event)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for each new event; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def _emit(self, kind: EventKind, item: Message | Ephemeral | ResponseUrlPost | View) -> None:
        self._pending.append(make_event(kind, item, self.now()))

    def _deliver(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - an observer's bug must not fail the bot's API call
                log.exception("localslack subscriber %r failed on a %s event", callback,
                              event.get("kind"))

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until ``predicate()`` is truthy (re-checked on every state change).

        Returns the truthy value; raises ``TimeoutError`` after ``timeout`` seconds.
        """
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
        if not result:
            raise TimeoutError(f"condition not met within {timeout}s")
        return result

    # -- identifiers ------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids):08X}"

    def next_ts(self) -> str:
        """A unique, strictly increasing Slack timestamp (``"1764435600.000100"``)."""
        with self._lock:
            us = max(int(self.now() * 1_000_000), self._last_ts_us + 1)
            self._last_ts_us = us
            return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    # -- faults and the call log ------------------------------------------------------

    def fail_next(self, method: str, error: str | None = None, status: int = 429,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"`` = any) with a failure.

        ``status=429`` adds ``Retry-After`` (default 1 s) and ``error="ratelimited"``;
        ``status=500``/``503`` simulate Slack server errors; ``status=200`` with an
        ``error`` simulates any ordinary ``ok: false`` answer.  ``method`` may also be
        ``"response_url"`` (posts to response URLs) or ``"upload"`` (file upload URLs).
        """
        with self.transaction():
            self._faults.fail_next(method, error=error, status=status,
                                   retry_after=retry_after, times=times)

    def set_rate_limit(self, method: str, max_calls: int | None, per_seconds: float = 60.0) -> None:
        """Limit ``method`` to ``max_calls`` per sliding window; ``None`` switches it off."""
        with self.transaction():
            self._faults.set_rate_limit(method, max_calls, per_seconds)

    def take_failure(self, method: str) -> Failure | None:
        with self.transaction():
            return self._faults.take(method, self.now())

    def record_call(self, method: str, params: JsonDict, response: JsonDict, status: int) -> None:
        with self.transaction():
            self._calls.append(ApiCall(method, copy.deepcopy(params), copy.deepcopy(response),
                                       status, self.now()))

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every Web API call received (params without the token), oldest first."""
        with self._lock:
            return copy.deepcopy([c for c in self._calls if method is None or c.method == method])

