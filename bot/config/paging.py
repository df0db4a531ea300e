"""Paging out through PagerDuty, Opsgenie, Grafana OnCall or a signed webhook, and
the signed webhooks those tools call back with (bot.paging)."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_serializer, field_validator, model_validator

PagerKind = Literal["pagerduty", "opsgenie", "grafana_oncall", "webhook"]

# The vendors' own endpoints, when `url` is not set (Opsgenie's EU accounts use
# https://api.eu.opsgenie.com). Grafana OnCall and a webhook have no default: each
# integration has its own URL.
DEFAULT_URLS: dict[str, str] = {
    "pagerduty": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie": "https://api.opsgenie.com",
}

# The ladder steps that may page, and the manual escalation of the same names.
PAGING_STEPS = ("platform", "lead")


class Responder(BaseModel):
    """An Opsgenie responder: a team, user, escalation or schedule, by id or name
    (a user by username)."""

    type: Literal["team", "user", "escalation", "schedule"]
    id: str | None = None
    name: str | None = None
    username: str | None = None

    @model_validator(mode="after")
    def _named(self) -> "Responder":
        if not (self.id or self.name or self.username):
            raise ValueError("give the responder an id, a name or (for a user) a username")
        return self


class PagerSettings(BaseModel):
    kind: PagerKind
    url: str | None = Field(None, description="the vendor's endpoint by default; required for grafana_oncall, webhook")
    routing_key: SecretStr | None = Field(None, description="PagerDuty: the Events API v2 integration key")
    api_key: SecretStr | None = Field(None, description="Opsgenie: the API integration's key (GenieKey)")
    secret: SecretStr | None = Field(None, description="webhook: the HMAC-SHA256 signing secret")
    responders: list[Responder] = Field(default_factory=list)  # Opsgenie only
    timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"https?://", v):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    @field_serializer("url", when_used="json")
    def _hide_token(self, url: str | None) -> str | None:
        """A Grafana OnCall integration's URL carries its token in the path (so may a
        webhook's): the configuration as shown (check-config) keeps only the host."""
        if url is None or self.kind not in ("grafana_oncall", "webhook"):
            return url
        parts = urlparse(url)
        return f"{parts.scheme}://{parts.netloc}/********" if parts.path.strip("/") else url

    @model_validator(mode="after")
    def _complete(self) -> "PagerSettings":
        needs = {"pagerduty": ("routing_key",), "opsgenie": ("api_key",), "grafana_oncall": ("url",),
                 "webhook": ("url", "secret")}[self.kind]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} pager needs {' and '.join(missing)}")
        if self.responders and self.kind != "opsgenie":
            raise ValueError("responders are Opsgenie's; other pagers route by their own integration")
        return self

    @property
    def endpoint(self) -> str:
        return self.url or DEFAULT_URLS[self.kind]


class InboundSettings(BaseModel):
    """The webhooks the paging tools send back (POST /paging/pagerduty, /paging/opsgenie)."""

    # PagerDuty v3 webhook subscriptions' signing secrets; two while one is rotated.
    pagerduty_secrets: list[SecretStr] = Field(default_factory=list)
    # Opsgenie's outgoing webhooks are not signed: configure a custom header on the
    # integration carrying this token.
    opsgenie_token: SecretStr | None = None
    opsgenie_header: str = "X-Incidentbot-Token"


class RetrySettings(BaseModel):
    # Seconds before each further try after a 429, a 5xx or a connection error; a
    # Retry-After the vendor sends wins (up to max_wait_s).
    delays: list[float] = Field(default_factory=lambda: [1.0, 5.0, 20.0, 60.0])
    max_wait_s: float = Field(300.0, gt=0)

    @field_validator("delays")
    @classmethod
    def _sane(cls, v: list[float]) -> list[float]:
        if len(v) > 20 or any(d < 0 or d > 3600 for d in v):
            raise ValueError("up to 20 delays, each between 0 and 3600 seconds")
        return v


class PagingSettings(BaseModel):
    pagers: dict[str, PagerSettings] = Field(default_factory=dict)
    # Ladder step (platform, lead; manual escalations too) -> the pagers it pages.
    steps: dict[str, list[str]] = Field(default_factory=dict)
    # Team (under `teams`) -> the pagers its lead step pages, besides `steps.lead`.
    teams: dict[str, list[str]] = Field(default_factory=dict)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    # How long a process may hold a page it is sending before another may take it over.
    lease_s: float = Field(60.0, ge=1, le=3600)
    inbound: InboundSettings = Field(default_factory=InboundSettings)

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(v) - set(PAGING_STEPS)
        if unknown:
            raise ValueError(f"steps {sorted(unknown)} cannot page: use {', '.join(PAGING_STEPS)}")
        return v

    @model_validator(mode="after")
    def _pagers_exist(self) -> "PagingSettings":
        for where, table in (("steps", self.steps), ("teams", self.teams)):
            for name, pagers in table.items():
                for pager in pagers:
                    if pager not in self.pagers:
                        raise ValueError(f"paging.{where}.{name} names pager '{pager}', which is not under "
                                         "paging.pagers")
        return self

    def for_step(self, step: str, team: str | None = None) -> list[str]:
        """The pagers a step pages, each once, in configuration order."""
        names = list(self.steps.get(step, []))
        if step == "lead" and team:
            names += self.teams.get(team, [])
        return list(dict.fromkeys(names))

    def secret_values(self) -> list[str]:
        """Every secret of this section, for the log filter."""
        found: list[Any] = [s for p in self.pagers.values() for s in (p.routing_key, p.api_key, p.secret)]
        found += self.inbound.pagerduty_secrets + [self.inbound.opsgenie_token]
        values = [s.get_secret_value() for s in found if s is not None]
        # A Grafana OnCall integration's URL is its credential (a token in the path),
        # and an HTTP library logging at DEBUG names the path it posts to.
        for pager in self.pagers.values():
            path = urlparse(pager.endpoint).path
            if pager.kind in ("grafana_oncall", "webhook") and len(path.strip("/")) >= 8:
                values.append(path)
        return values
