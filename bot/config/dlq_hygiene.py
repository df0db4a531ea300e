"""DLQ hygiene: the replay loop guard (``dlq_hygiene.max_replays``: a dead letter that
came back after that many replays is parked instead of replayed again)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator


class DlqHygieneSettings(BaseModel):
    # A message carrying this many replays (the header below) is parked, not replayed.
    max_replays: int = Field(3, ge=1, le=100)
    # The header each replay sets to the number of replays so far (a consumer that
    # dead-letters a replayed message again must keep its headers, as Kafka Connect,
    # Spring's DeadLetterPublishingRecoverer and RabbitMQ's dead-lettering do).
    replay_count_header: str = "x-replay-count"
    # Where parked messages go: the DLQ's name plus this suffix (a Kafka topic or a
    # RabbitMQ queue, created on the first park with the DLQ's partition count).
    parking_suffix: str = ".parked"
    # DLQ name -> its parking topic or queue, when the suffix rule does not fit.
    parking: dict[str, str] = Field(default_factory=dict)

    @field_validator("replay_count_header")
    @classmethod
    def _header(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError("must be a header name of letters, digits, '.', '_' or '-'")
        return v

    @field_validator("parking_suffix")
    @classmethod
    def _suffix(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError("must be letters, digits, '.', '_' or '-' (it ends a topic or queue name)")
        return v

    def parking_for(self, dlq: str) -> str:
        return self.parking.get(dlq, f"{dlq}{self.parking_suffix}")
