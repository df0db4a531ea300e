"""Where backups go, how often the timer owner takes one, and how long they are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

BackupKind = Literal["schemas", "offsets", "definitions", "topics"]
ALL_KINDS: tuple[BackupKind, ...] = ("schemas", "offsets", "definitions", "topics")


class BackupSettings(BaseModel):
    """Scheduled and on-demand backups of schemas, offsets, RabbitMQ definitions and
    topic configurations (bot.backups)."""

    directory: Path = Path("backups")  # one sub-directory per backup, each with its manifest.json
    # Hours between scheduled backups (the newest archive's age decides). Off (0) until set:
    # a full backup reads every subject, group and topic, which no one should get by surprise.
    every_hours: float = Field(0.0, ge=0, le=24 * 366)
    kinds: list[BackupKind] = Field(default_factory=lambda: list(ALL_KINDS))  # what a scheduled backup holds
    keep: int = Field(14, ge=1)  # the newest N backups are kept ...
    max_age_days: float | None = Field(90.0, gt=0)  # ... and none older than this (None: no age limit)
    # RabbitMQ users' password hashes are left out unless this is true (a hash can be cracked offline).
    include_password_hashes: bool = False
    workers: int = Field(16, ge=1, le=64)  # concurrent Schema Registry requests

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[BackupKind]) -> list[BackupKind]:
        if not v:
            raise ValueError("name at least one of schemas, offsets, definitions, topics")
        return list(dict.fromkeys(v))
