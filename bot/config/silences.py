"""Settings of silences and maintenance windows (bot.silences)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator


class MaintenanceSettings(BaseModel):
    # Where a window's thread goes; None: the incidents channel.
    channel: str | None = None
    # How often a window re-reads under-replicated partitions and lag (it posts only changes).
    poll_seconds: float = Field(30.0, ge=0.5, le=3600)
    # A change of total lag is posted when it moved by at least this many messages
    # and this share of the last posted total (the guide's growth threshold is 1,000 a minute).
    lag_change_messages: int = Field(1_000, ge=1)
    lag_change_ratio: float = Field(0.10, ge=0, le=10)
    # Which consumer groups' lag a window adds up (a regular expression over the whole
    # group id); None: every group of the cluster.
    lag_groups: str | None = None

    @field_validator("lag_groups")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return v


class SilenceSettings(BaseModel):
    # The longest a silence or a maintenance window may last: a forgotten silence hides problems.
    max_duration_hours: float = Field(7 * 24, gt=0, le=366 * 24)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
