"""Who is on call: schedules the ladder, the ownership map and `/oncall` may name
instead of fixed users, and the incident reminders.

A schedule is a local rotation (members, shift length, handoff time in an IANA time
zone, layers, optional restrictions), a PagerDuty schedule or escalation policy (its
REST `GET /oncalls`) or an Opsgenie schedule (`GET /v2/schedules/{id}/on-calls`).
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def _users(v: list[str]) -> list[str]:
    for u in v:
        if not SLACK_USER.fullmatch(u):
            raise ValueError(f"'{u}' is not a Slack user id (like U0123ABC)")
    return v


def _weekday(v: str) -> int:
    day = v.strip().lower()
    found = [i for i, name in enumerate(WEEKDAYS) if name.startswith(day)] if len(day) >= 3 else []
    if not found:
        raise ValueError(f"'{v}' is not a weekday (monday … sunday)")
    return found[0]


def _clock(v: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", v.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"'{v}' is not a time of day like 09:00")
    return time(int(m[1]), int(m[2]))


class Restriction(BaseModel):
    """When a layer covers: these weekdays, between these local times (end after
    start; 00:00 as the end means midnight). Outside, the layers below it cover."""

    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS))
    start: str = "00:00"
    end: str = "00:00"

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        return [WEEKDAYS[_weekday(d)] for d in v]

    @field_validator("start", "end")
    @classmethod
    def _times(cls, v: str) -> str:
        _clock(v)
        return v

    @property
    def weekdays(self) -> set[int]:
        return {WEEKDAYS.index(d) for d in self.days}

    @property
    def minutes(self) -> tuple[int, int]:
        s, e = _clock(self.start), _clock(self.end)
        end = e.hour * 60 + e.minute or 24 * 60
        return s.hour * 60 + s.minute, end


class Layer(BaseModel):
    """Members take turns, one shift each, in the order given."""

    members: list[str] = Field(min_length=1)
    # daily, weekly, or a number of days ("3" or "3d").
    shift: str = "weekly"
    handoff_day: str = "monday"  # weekly shifts only; ignored for others
    handoff_time: str = "09:00"
    # The first shift's date (the first member's); weekly shifts begin on the next handoff_day.
    start: date = date(2024, 1, 1)
    restrictions: list[Restriction] = Field(default_factory=list)

    _members = field_validator("members")(lambda cls, v: _users(v))

    @field_validator("shift")
    @classmethod
    def _shift(cls, v: str) -> str:
        v = v.strip().lower()
        if v in ("daily", "weekly") or re.fullmatch(r"[1-9]\d{0,2}d?", v):
            return v
        raise ValueError(f"'{v}' is not a shift length: daily, weekly or a number of days such as 3d")

    @field_validator("handoff_day")
    @classmethod
    def _day(cls, v: str) -> str:
        return WEEKDAYS[_weekday(v)]

    @field_validator("handoff_time")
    @classmethod
    def _time(cls, v: str) -> str:
        _clock(v)
        return v

    @property
    def shift_days(self) -> int:
        return {"daily": 1, "weekly": 7}.get(self.shift) or int(self.shift.rstrip("d"))

    @property
    def handoff(self) -> time:
        return _clock(self.handoff_time)


class _Source(BaseModel):
    # Slack users to name when the schedule cannot say (the vendor is unreachable, or nobody is on call).
    fallback_users: list[str] = Field(default_factory=list)

    _fallback = field_validator("fallback_users")(lambda cls, v: _users(v))


class LocalRotation(_Source):
    kind: Literal["local"] = "local"
    timezone: str = "UTC"
    # Later layers win wherever they have someone on call.
    layers: list[Layer] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{v}' is not an IANA time zone (like Europe/Berlin)") from None
        return v


class PagerDutySchedule(_Source):
    kind: Literal["pagerduty"]
    api_url: str = "https://api.pagerduty.com"
    token: SecretStr
    schedule_id: str | None = None
    escalation_policy_id: str | None = None
    escalation_level: int = Field(1, ge=1)  # with an escalation policy: whose level is "on call"
    timezone: str = "UTC"  # how handoff times are shown

    @model_validator(mode="after")
    def _one_target(self) -> "PagerDutySchedule":
        if bool(self.schedule_id) == bool(self.escalation_policy_id):
            raise ValueError("a pagerduty schedule needs exactly one of schedule_id or escalation_policy_id")
        return self


class OpsgenieSchedule(_Source):
    kind: Literal["opsgenie"]
    api_url: str = "https://api.opsgenie.com"  # https://api.eu.opsgenie.com for the EU instance
    api_key: SecretStr
    schedule: str  # its id, or its name with identifier_type: name
    identifier_type: Literal["id", "name"] = "id"
    timezone: str = "UTC"


Schedule = Annotated[LocalRotation | PagerDutySchedule | OpsgenieSchedule, Field(discriminator="kind")]


class ReminderSettings(BaseModel):
    # Minutes between reminders to the commander to post a status update, per severity;
    # a severity left out gets none.
    every_minutes: dict[str, float] = Field(default_factory=lambda: {"critical": 15, "warning": 30})
    # An acknowledged incident with no status update for this long re-notifies its commander by DM.
    stale_after_minutes: float | None = Field(60, gt=0)

    @field_validator("every_minutes")
    @classmethod
    def _severities(cls, v: dict[str, float]) -> dict[str, float]:
        for severity, minutes in v.items():
            if severity not in ("critical", "warning", "info"):
                raise ValueError(f"'{severity}' is not a severity (critical, warning, info)")
            if minutes <= 0:
                raise ValueError(f"{severity}: minutes must be above 0")
        return v


class OncallSettings(BaseModel):
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    # A vendor's user (email) -> the Slack user id to mention.
    user_map: dict[str, str] = Field(default_factory=dict)
    cache_seconds: float = Field(60, ge=0, le=3600)  # how long a vendor's answer is reused
    request_timeout_s: float = Field(5.0, gt=0, le=60)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    # Where `/incident update` also posts each status update (a channel id or #name).
    stakeholder_channel: str | None = None

    @field_validator("schedules", mode="before")
    @classmethod
    def _local_by_default(cls, v: object) -> object:
        # A schedule without a kind is a local rotation.
        if isinstance(v, dict):
            return {k: ({"kind": "local", **s} if isinstance(s, dict) and "kind" not in s else s) for k, s in v.items()}
        return v

    @field_validator("user_map")
    @classmethod
    def _map(cls, v: dict[str, str]) -> dict[str, str]:
        _users(list(v.values()))
        return {k.lower(): u for k, u in v.items()}
