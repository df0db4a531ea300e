"""The sections of the configuration: one pydantic model per part of the bot."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from bot.config.approval_policy import ApprovalPolicy


def _http_url(v: str) -> str:
    if not re.match(r"https?://", v):
        raise ValueError("must start with http:// or https://")
    return v.rstrip("/")


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = Field(None, description="xoxb- bot token")
    signing_secret: SecretStr | None = Field(None, description="Slack app signing secret")
    api_url: str | None = Field(None, description="Web API base URL; unset means Slack itself (https://slack.com/api/)")
    incidents_channel: str = "#incidents"
    umbrella_command: str = "/ops"
    # Socket Mode: the bot opens a WebSocket to Slack instead of Slack calling
    # POST /slack/events, so no public URL is needed (a bot inside a private network).
    socket_mode: bool = Field(False, description="receive Slack over Socket Mode instead of HTTP")
    app_token: SecretStr | None = Field(None, description="xapp- app-level token (connections:write), for Socket Mode")
    # How often the Socket Mode client pings Slack; a link silent for four intervals
    # is taken as dead and opened again.
    socket_ping_interval_s: float = Field(5.0, ge=0.5, le=60)

    @field_validator("bot_token", "app_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        prefixes, kind = {"bot_token": (("xoxb-", "xoxp-"), "bot token starting with xoxb-"),
                          "app_token": (("xapp-",), "app-level token starting with xapp-")}[str(info.field_name)]
        if v is not None and not v.get_secret_value().startswith(prefixes):
            raise ValueError(f"must be a Slack {kind}")
        return v

    @field_validator("signing_secret")
    @classmethod
    def _secret_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("looks truncated: Slack signing secrets are 32 characters")
        return v

    @field_validator("umbrella_command")
    @classmethod
    def _slash(cls, v: str) -> str:
        if not re.fullmatch(r"/[a-z0-9_-]{1,31}", v):
            raise ValueError("must look like /ops: a slash, then lowercase letters, digits, - or _")
        return v


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=0, le=65535)
    threads: int = Field(16, ge=1, le=512)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # `serve` answers Slack from a small process of its own in front of the bot
    # (bot/app/front.py), so an alert storm in the bot cannot delay the answer.
    # Off: the bot's process listens on the port itself.
    front: bool = True


class KafkaClusterSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    request_timeout_s: float = Field(5.0, gt=0, le=120)
    # Extra librdkafka settings (security.protocol, sasl.*, ssl.*); values whose key
    # looks secret are masked whenever the configuration is shown.
    client_config: dict[str, str] = Field(default_factory=dict)
    # Where a look at many groups reads committed offsets: "log" follows the cluster's
    # __consumer_offsets topic (one question a look; needs Read on that topic, and falls
    # back by itself when refused), "requests" asks each group (one round trip a group).
    committed_offsets: Literal["log", "requests"] = "log"

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, v: str) -> str:
        for server in v.split(","):
            if not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", server.strip()):
                raise ValueError(f"'{server.strip()}' is not host:port")
        return v


class RabbitMQSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5672, ge=1, le=65535)
    vhost: str = "/"
    username: str = "guest"
    password: SecretStr = SecretStr("guest")
    management_url: str = "http://127.0.0.1:15672"
    request_timeout_s: float = Field(5.0, gt=0, le=120)

    _url = field_validator("management_url")(lambda cls, v: _http_url(v))


class Thresholds(BaseModel):
    """The operations guide's alert thresholds; every one can be tuned."""

    lag_warning: int = Field(10_000, ge=0)
    lag_critical: int = Field(100_000, ge=0)
    lag_growth_per_minute: int = Field(1_000, ge=0)
    dlq_warning: int = Field(100, ge=0)
    dlq_critical: int = Field(1_000, ge=0)
    under_replicated_percent: float = Field(5.0, ge=0, le=100)
    error_rate_percent: float = Field(1.0, ge=0, le=100)
    error_rate_minutes: int = Field(5, ge=1)  # how long the error rate must stay high


class ThresholdOverrides(BaseModel):
    """A team's own thresholds for what it owns; unset ones fall back to the global ones."""

    lag_warning: int | None = Field(None, ge=0)
    lag_critical: int | None = Field(None, ge=0)
    lag_growth_per_minute: int | None = Field(None, ge=0)
    dlq_warning: int | None = Field(None, ge=0)
    dlq_critical: int | None = Field(None, ge=0)
    error_rate_percent: float | None = Field(None, ge=0, le=100)
    error_rate_minutes: int | None = Field(None, ge=1)

    def over(self, base: Thresholds) -> Thresholds:
        return base.model_copy(update=self.model_dump(exclude_none=True))


class DlqSettings(BaseModel):
    """How DLQs are found and shown."""

    # Kafka topics whose names fit one of these (with {topic} standing for the source
    # topic) are dead-letter topics of that source.
    kafka_patterns: list[str] = Field(default_factory=lambda: ["{topic}.dlq", "{topic}-dlq", "dlq-{topic}"])
    # Explicit DLQ -> source mappings, for names no pattern fits.
    kafka_mappings: dict[str, str] = Field(default_factory=dict)
    # Header names (besides Kafka Connect's __connect.errors.* and Spring's kafka_dlt-*)
    # that carry the error a message failed with.
    error_headers: list[str] = Field(default_factory=lambda: ["error", "exception", "x-exception-message"])
    sample_size: int = Field(10, ge=1, le=100)
    preview_chars: int = Field(200, ge=0, le=2000)

    @field_validator("kafka_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for pattern in v:
            if pattern.count("{topic}") != 1:
                raise ValueError(f"'{pattern}' must contain {{topic}} exactly once")
        return v


class SchemaRegistrySettings(BaseModel):
    url: str = "http://127.0.0.1:8081"
    username: str | None = None
    password: SecretStr | None = None
    request_timeout_s: float = Field(5.0, gt=0, le=120)

    _url = field_validator("url")(lambda cls, v: _http_url(v))


class AlertSourceSettings(BaseModel):
    """How one webhook source proves who it is: a bearer token, an HMAC signature of
    the body, or both. A source with neither is refused (401), never open."""

    enabled: bool = True
    bearer_token: SecretStr | None = None
    hmac_secret: SecretStr | None = None
    hmac_header: str = "X-Signature"  # hex HMAC-SHA256 of the body, "sha256=" prefix allowed
    # When set, the signed message is "<timestamp>:<body>" and the timestamp must be
    # within 5 minutes (Grafana's X-Grafana-Alerting-Signature-Timestamp does this).
    hmac_timestamp_header: str | None = None


_SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "alertmanager": {},
    "grafana": {"hmac_header": "X-Grafana-Alerting-Signature",
                "hmac_timestamp_header": "X-Grafana-Alerting-Signature-Timestamp"},
    "generic": {},
}


def _default_sources() -> dict[str, AlertSourceSettings]:
    return {name: AlertSourceSettings(**values) for name, values in _SOURCE_DEFAULTS.items()}


class AlertSettings(BaseModel):
    sources: dict[str, AlertSourceSettings] = Field(default_factory=_default_sources)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # When every alert of an incident is resolved: ask a person (False) or resolve it.
    auto_resolve: bool = False

    @field_validator("sources", mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        unknown = set(v) - set(_SOURCE_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown alert source(s) {sorted(unknown)}: use alertmanager, grafana, generic")
        # What is configured goes on top of each source's own defaults (Grafana's headers).
        return {name: {**defaults, **(v.get(name) or {})} if isinstance(v.get(name, {}), dict) else v[name]
                for name, defaults in _SOURCE_DEFAULTS.items()}


class IncidentSettings(BaseModel):
    # Severities that also get a dedicated channel inc-<id>-<slug>, with the on-call invited.
    dedicated_channel_severities: list[str] = Field(default_factory=list)
    oncall_users: list[str] = Field(default_factory=list)
    # How many of a runbook's automated diagnosis checks run when an alert opens an incident.
    first_checks: int = Field(3, ge=0, le=10)
    # Lag and DLQ problems on a cluster whose cluster-level incident (a broker down,
    # the cluster unreachable) opened at most this long ago attach to it instead of
    # opening their own incidents. 0: never.
    correlation_window_minutes: float = Field(30, ge=0, le=24 * 60)


StepKind = Literal["lag_dlq", "consumer_health", "brokers", "platform", "lead"]


class LadderStep(BaseModel):
    minute: float = Field(gt=0, le=24 * 60)
    kind: StepKind


def default_ladder() -> list[LadderStep]:
    """The operations guide's escalation path."""
    return [LadderStep(minute=5, kind="lag_dlq"), LadderStep(minute=10, kind="consumer_health"),
            LadderStep(minute=15, kind="brokers"), LadderStep(minute=20, kind="platform"),
            LadderStep(minute=30, kind="lead")]


class EscalationSettings(BaseModel):
    steps: list[LadderStep] = Field(default_factory=default_ladder)
    # 60 makes a minute last a second: for demos, the console and tests. It scales the
    # whole ladder; nothing else changes.
    time_scale: float = Field(1.0, gt=0, le=3600)
    platform_users: list[str] = Field(default_factory=list)
    platform_usergroup: str | None = None
    # An on-call schedule (under oncall.schedules) whose current on-call the platform step pages too.
    platform_oncall: str | None = None
    # Links shown at the 10-minute step, e.g. {"logs": "https://grafana/explore?group={group}"}.
    links: dict[str, str] = Field(default_factory=dict)
    # A step starting this many (real) seconds after its time says the bot was down.
    late_note_seconds: float = Field(10.0, ge=0)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, v: list[LadderStep]) -> list[LadderStep]:
        minutes = [s.minute for s in v]
        if len(set(minutes)) != len(minutes):
            raise ValueError("two steps share a minute; each minute holds one step")
        return sorted(v, key=lambda s: s.minute)

    def seconds(self, minute: float) -> float:
        return minute * 60 / self.time_scale


class ApprovalSettings(BaseModel):
    """The two-person rule for destructive actions."""

    approvers: list[str] = Field(default_factory=list)  # Slack user ids
    approvers_usergroup: str | None = None  # a Slack user group id, e.g. S0123ABC
    expiry_minutes: float = Field(15, gt=0, le=24 * 60)
    require_incident: bool = True  # refuse destructive commands outside an incident
    # Per cluster, actions switched off: {"prod": ["purge_dlq"]}.
    disabled: dict[str, list[str]] = Field(default_factory=dict)
    progress_every: int = Field(1000, ge=1)  # messages between progress updates of a replay
    # Per action and cluster: who approves and how many (bot.config.approval_policy).
    policies: list[ApprovalPolicy] = Field(default_factory=list)


class TeamSettings(BaseModel):
    """A team that owns consumer groups, topics or queues, and who leads it."""

    lead_users: list[str] = Field(default_factory=list)  # Slack user ids, e.g. U0123ABC
    lead_usergroup: str | None = None  # Slack user group id, e.g. S0123ABC
    channel: str | None = None
    thresholds: ThresholdOverrides = Field(default_factory=ThresholdOverrides)
    # An on-call schedule (under oncall.schedules): whoever it names is paged as the lead too.
    lead_oncall: str | None = None

    @field_validator("lead_users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        for user in v:
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
                raise ValueError(f"'{user}' is not a Slack user id (like U0123ABC)")
        return v
