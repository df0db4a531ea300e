"""Results the running bot may hand out again while they are young: a bounded map
shared by its threads. A cache, not a history: the oldest half goes when it is full."""

from __future__ import annotations

import threading
import time
from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    def __init__(self, limit: int = 1000) -> None:
        self._items: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, key: K, max_age: float) -> V | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > max_age:
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            if len(self._items) > self._limit:
                for stale in sorted(self._items, key=lambda k: self._items[k][0])[: self._limit // 2]:
                    del self._items[stale]
