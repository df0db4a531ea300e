"""One answer for many askers: identical read-only questions asked together share one
piece of work, and while questions keep coming together (a burst: someone waited for
the last answer) one asked within `max_age` of the last answer gets it too. A person
asking twice in a row, alone, gets a fresh look each time. At a hundred `/lag` a second this is the difference between one
probe of the cluster at a time and a hundred (each describing every group), which
would queue the replies for minutes and load the brokers the bot is meant to watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Flight(Generic[V]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight(Generic[K, V]):
    def __init__(self, limit: int = 256) -> None:
        self._lock = threading.Lock()
        self._flying: dict[K, _Flight[V]] = {}
        self._answers: dict[K, tuple[float, V]] = {}
        self._limit = limit

    def fresh(self, key: K, max_age: float) -> bool:
        """Whether an answer at most `max_age` seconds old is kept for `key` (the next
        `run` returns it at once)."""
        with self._lock:
            kept = self._answers.get(key)
            return kept is not None and time.monotonic() - kept[0] <= max_age

    def run(self, key: K, work: Callable[[], V], max_age: float) -> V:
        """`work()`'s answer, or the answer of the same `key` in progress, or one at
        most `max_age` seconds old when others shared it. An error is raised to everyone
        who waited for it and is not kept: the next asker tries again."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and time.monotonic() - kept[0] <= max_age:
                return kept[1]
            flight = self._flying.get(key)
            mine = flight is None
            if flight is None:
                flight = self._flying[key] = _Flight()
            else:
                flight.waiters += 1
        if not mine:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[return-value]
        try:
            flight.value = work()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flying[key]
                self._answers.pop(key, None)
                if flight.error is None and flight.waiters:  # a burst: the next askers may take it
                    self._answers[key] = (time.monotonic(), flight.value)  # type: ignore[assignment]
                    if len(self._answers) > self._limit:
                        for old in sorted(self._answers, key=lambda k: self._answers[k][0])[: self._limit // 2]:
                            del self._answers[old]
            flight.done.set()
        return flight.value
