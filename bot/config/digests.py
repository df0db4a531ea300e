"""Digests: the operations guide's daily, weekly, monthly and quarterly checks posted
to an ops channel, the sampling round that feeds them, and /duplicates' bounds."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"([01]\d|2[0-3]):[0-5]\d"


class DigestTimes(BaseModel):
    """When each digest is due, in `DigestSettings.timezone`."""

    daily: str = "08:00"  # HH:MM every day
    weekly: str = "mon 08:30"  # weekday HH:MM
    monthly: str = "1 09:00"  # day of month (1-28) HH:MM
    quarterly: str = "1 09:30"  # day (1-28) of January, April, July and October, HH:MM

    @field_validator("daily")
    @classmethod
    def _daily(cls, v: str) -> str:
        if not re.fullmatch(_TIME, v.strip()):
            raise ValueError("must be HH:MM (24 h), e.g. 08:00")
        return v.strip()

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, v: str) -> str:
        parts = v.strip().lower().split()
        if len(parts) != 2 or parts[0][:3] not in _DAYS or not re.fullmatch(_TIME, parts[1]):
            raise ValueError("must be a weekday and HH:MM, e.g. 'mon 08:30'")
        return f"{parts[0][:3]} {parts[1]}"

    @field_validator("monthly", "quarterly")
    @classmethod
    def _day_of_month(cls, v: str) -> str:
        parts = v.strip().split()
        if len(parts) != 2 or not parts[0].isdigit() or not 1 <= int(parts[0]) <= 28 \
                or not re.fullmatch(_TIME, parts[1]):
            raise ValueError("must be a day of the month (1-28) and HH:MM, e.g. '1 09:00'")
        return f"{int(parts[0])} {parts[1]}"


class DigestSettings(BaseModel):
    # Where scheduled digests go; unset: none are posted and no sampling round runs (on demand
    # `/digest` still works, on the samples /lag and /dlq store).
    channel: str | None = None
    timezone: str = "UTC"
    times: DigestTimes = Field(default_factory=DigestTimes)
    # A digest found due later than this (the bot was down at its time) is skipped, not posted late.
    # Name prefixes of the groups, topics, queues and subjects the digests cover (and the
    # sampling round stores); empty: all of them.
    include: list[str] = Field(default_factory=list)
    catch_up_s: float = Field(3600.0, ge=60)
    # The sampling round (topic end offsets, group commits and members, schema versions seen),
    # run by the timer owner; it also stores lag and DLQ depth samples.
    sample_every_s: float = Field(900.0, ge=60)
    keep_days: int = Field(400, ge=31, le=3650)  # topic and group samples: a quarter back needs 92
    # The capacity projection's assumption: the messages a second one partition takes
    # comfortably (producer and broker side). Measure yours; the guide gives no figure.
    partition_msgs_per_s: float = Field(1000.0, gt=0)
    schema_old_versions: int = Field(10, ge=2)  # subjects with more versions are cleanup candidates
    unused_days: int = Field(30, ge=1)
    top_patterns: int = Field(3, ge=1, le=10)
    dlq_sample: int = Field(50, ge=1, le=500)  # messages read per DLQ for the weekly error patterns
    duplicates_max_messages: int = Field(200_000, ge=100)

    def covers(self, name: str) -> bool:
        return not self.include or any(name.startswith(prefix) for prefix in self.include)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as UTC or Europe/Berlin") from None
        return v
