"""One page over HTTP: tried again on 429, 5xx and connection errors (waiting what
Retry-After asks, else the configured backoff), given up at once on any other 4xx
with the vendor's own words."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import requests

from bot.paging.vendors import Outgoing, error_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retry: bool  # worth another try (throttled, the vendor's fault, or no answer)
    status: int | None  # None: no HTTP answer at all
    error: str  # "" when ok
    retry_after: float | None = None
    answer: str = ""  # the body that came back, for the record
    tries: int = 1


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now or time.time()))


def classify(status: int, text: str, headers: dict[str, str] | None = None) -> Attempt:
    if 200 <= status < 300:
        return Attempt(True, False, status, "", answer=text[:500])
    retry = status == 429 or status >= 500
    return Attempt(False, retry, status, error_text(status, text),
                   retry_after((headers or {}).get("Retry-After")), answer=text[:500])


def attempt(session: requests.Session, out: Outgoing, timeout: float) -> Attempt:
    try:
        response = session.post(out.url, data=out.data, headers=out.headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        # The URL is not logged: a Grafana OnCall or webhook URL is itself a credential.
        return Attempt(False, True, None, f"no answer ({type(exc).__name__})")
    return classify(response.status_code, response.text, dict(response.headers))


def deliver(out: Outgoing, *, timeout: float, delays: Sequence[float], max_wait: float,
            still_ours: Callable[[float], bool] = lambda _wait: True, sleep: Callable[[float], None] = time.sleep,
            session: requests.Session | None = None) -> Attempt:
    """Try until it is taken, refused for good, or the delays run out. Before each
    wait `still_ours(seconds)` renews the sender's claim (False: another process took
    the page over, so this one stops)."""
    own = session or requests.Session()
    try:
        tries, last = 1, attempt(own, out, timeout)
        for delay in delays:
            if last.ok or not last.retry:
                break
            wait = min(max(delay, last.retry_after or 0.0), max_wait)
            log.info("page not taken (%s); trying again in %.1f s", last.status or last.error, wait)
            if not still_ours(wait + timeout):
                return replace(last, retry=False, error="another process took the page over", tries=tries)
            sleep(wait)
            tries, last = tries + 1, attempt(own, out, timeout)
        return replace(last, tries=tries)
    finally:
        if session is None:
            own.close()
