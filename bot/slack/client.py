"""The Slack Web API client the bot posts with: retries Slack's 429s (honouring
Retry-After), 5xx answers and dropped connections, counts failures in /metrics,
and keeps its connections to Slack open between calls."""

from __future__ import annotations

import io
from email.message import Message
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

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
        try:
            body = req.data if isinstance(req.data, bytes) or req.data is None else bytes(req.data)  # type: ignore[arg-type]
            resp = self._pool.request("POST", url, body=body, headers=dict(req.header_items()))
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

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            metrics.slack_api_errors.labels(api_method, str(exc.response.get("error", "unknown"))).inc()
            raise
        except OSError:
            metrics.slack_api_errors.labels(api_method, "connection_error").inc()
            raise


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
