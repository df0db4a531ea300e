"""The Slack Web API client the bot posts with: retries Slack's 429s (honouring
Retry-After), 5xx answers and dropped connections, counts failures in /metrics,
and keeps its connections to Slack open between calls."""

from __future__ import annotations

import io
from email.message import Message
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, getproxies

import requests
import urllib3
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot import metrics

SLACK_API_URL = "https://slack.com/api/"


class CountingWebClient(WebClient):
    """slack_sdk's client, except that each call reuses a pooled keep-alive
    connection: urllib (what slack_sdk uses) opens a new connection, and a new TLS
    handshake, for every call, which is most of a call's cost during an alert storm.
    slack_sdk's own retry handlers still see what urllib would have given them.
    With a proxy (configured, or from the environment) calls go through urllib."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(total=self.timeout))
        self._direct = self.proxy is None and self.ssl is None and not requests.utils.get_environ_proxies(self.base_url)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not self._direct or not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)  # type: ignore[no-any-return]
        return _pooled(self._pool, url, req)

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            metrics.slack_api_errors.labels(api_method, str(exc.response.get("error", "unknown"))).inc()
            raise
        except OSError:
            metrics.slack_api_errors.labels(api_method, "connection_error").inc()
            raise


def _pooled(pool: urllib3.PoolManager, url: str, req: Request) -> dict[str, Any]:
    """POST `req` over `pool`, failing as urllib would (HTTPError for 4xx/5xx, URLError
    for a dropped connection), which is what slack_sdk's retry handlers know."""
    try:
        body = req.data if isinstance(req.data, bytes) or req.data is None else bytes(req.data)  # type: ignore[arg-type]
        resp = pool.request("POST", url, body=body, headers=dict(req.header_items()))
    except urllib3.exceptions.TimeoutError as exc:
        raise TimeoutError(str(exc)) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise URLError(exc) from exc  # what slack_sdk's connection retry handler knows
    if resp.status >= 400:
        headers = Message()
        for name, value in resp.headers.items():
            headers[name] = value
        raise HTTPError(url, resp.status, resp.reason or "", headers, io.BytesIO(resp.data))
    charset = Message()
    charset["Content-Type"] = resp.headers.get("Content-Type", "application/json")
    return {"status": resp.status, "headers": dict(resp.headers),
            "body": resp.data.decode(charset.get_content_charset() or "utf-8")}


# Replies to response_urls share these connections; urllib (Bolt's `respond`) opened a
# new one, and in production a new TLS handshake, for every reply.
_RESPONSE_POOL = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(total=10))
_PROXIED = bool(getproxies())


class _PooledWebhookClient(WebhookClient):
    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        if _PROXIED or self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_http_request_internal(url, req)  # type: ignore[no-any-return]
        got = _pooled(_RESPONSE_POOL, url, req)
        return WebhookResponse(url=url, status_code=got["status"], body=got["body"], headers=got["headers"])


def respond(response_url: str | None, message: dict[str, Any]) -> WebhookResponse:
    """Post `message` (text, blocks, response_type...) to a command's response_url, as
    Bolt's `respond` does (a dropped connection is tried again; Slack's answer is
    returned, not raised), over a kept-alive connection."""
    if not response_url:
        raise ValueError("this request has no response_url to answer on")
    client = _PooledWebhookClient(url=response_url, retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2)])
    return client.send_dict(message)


def make_client(token: str, api_url: str | None = None, *, timeout: int = 10, retries: bool = True) -> WebClient:
    """The bot's client; without `retries` (a one-off check such as check-config)
    an unreachable Slack is reported at once instead of after the retries' back-off."""
    return CountingWebClient(
        token=token,
        base_url=api_url or SLACK_API_URL,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ] if retries else [],
    )
