"""Injected failures and rate limiting for the local Slack API.

Real Slack answers an exceeded rate limit with HTTP 429, a ``Retry-After``
header and ``{"ok": false, "error": "ratelimited"}``; it also has the occasional
5xx.  Tests need both on demand, so failures can be queued per method and a
sliding-window limit can be switched on per method.  Not thread-safe on its
own: the workspace state calls it under its lock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

ANY_METHOD = "*"


@dataclass
class Failure:
    """One canned failing response."""

    error: str
    status: int
    retry_after: int | None
    remaining: int

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def default_error(status: int) -> str:
    if status == 429:
        return "ratelimited"
    if status >= 500:
        return "fatal_error"
    return "request_timeout"


class FaultInjector:
    def __init__(self, rate_limits: dict[str, tuple[int, float]] | None = None) -> None:
        self._queued: dict[str, deque[Failure]] = {}
        self._limits: dict[str, tuple[int, float]] = dict(rate_limits or {})
        self._hits: dict[str, deque[float]] = {}

    def fail_next(self, method: str, *, error: str | None, status: int,
                  retry_after: int | None, times: int) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        if status == 429 and retry_after is None:
            retry_after = 1  # Slack always tells the client how long to back off
        failure = Failure(error or default_error(status), status, retry_after, times)
        self._queued.setdefault(method, deque()).append(failure)

    def set_rate_limit(self, method: str, max_calls: int | None, per_seconds: float) -> None:
        if max_calls is None:
            self._limits.pop(method, None)
            self._hits.pop(method, None)
        else:
            self._limits[method] = (max_calls, per_seconds)

    def clear(self) -> None:
        self._queued.clear()
        self._hits.clear()

    def take(self, method: str, now: float) -> Failure | None:
        """The failure to answer this call with, if any; consumes one use."""
        for key in (method, ANY_METHOD):
            queue = self._queued.get(key)
            if queue:
                failure = queue[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.popleft()
                return Failure(failure.error, failure.status, failure.retry_after, 0)
        return self._rate_limited(method, now)

    def _rate_limited(self, method: str, now: float) -> Failure | None:
        limit = self._limits.get(method)
        if limit is None:
            return None
        max_calls, window = limit
        hits = self._hits.setdefault(method, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= max_calls:
            wait = max(1, math.ceil(hits[0] + window - now))
            return Failure("ratelimited", 429, wait, 0)
        hits.append(now)
        return None
