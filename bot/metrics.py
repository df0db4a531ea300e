"""Prometheus metrics of the bot process, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-exported)
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

registry = CollectorRegistry(auto_describe=True)

http_requests = Counter(
    "incidentbot_http_requests",
    "HTTP requests served, by route and status code.",
    ["route", "method", "status"],
    registry=registry,
)
command_latency = Histogram(
    "incidentbot_command_seconds",
    "Time from receiving a slash command to finishing its work, by command and phase.",
    ["command", "phase"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=registry,
)
slack_api_errors = Counter(
    "incidentbot_slack_api_errors",
    "Slack Web API calls that failed, by method and Slack error code.",
    ["method", "error"],
    registry=registry,
)


def render() -> bytes:
    return generate_latest(registry)
