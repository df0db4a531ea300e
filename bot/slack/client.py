"""The Slack Web API client the bot posts with: retries Slack's 429s (honouring
Retry-After), 5xx answers and dropped connections, and counts failures in /metrics."""

from __future__ import annotations

from typing import Any

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
    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            metrics.slack_api_errors.labels(api_method, str(exc.response.get("error", "unknown"))).inc()
            raise
        except OSError:
            metrics.slack_api_errors.labels(api_method, "connection_error").inc()
            raise


def make_client(token: str, api_url: str | None = None) -> WebClient:
    return CountingWebClient(
        token=token,
        base_url=api_url or SLACK_API_URL,
        timeout=10,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )
