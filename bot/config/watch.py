"""What the bot watches by itself, how often, and how long a breach must last."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class KafkaWatch(BaseModel):
    """One Kafka cluster's watch list."""

    groups: list[str] = Field(default_factory=lambda: ["*"])  # fnmatch patterns of consumer group names
    exclude_groups: list[str] = Field(default_factory=list)
    dlqs: list[str] = Field(default_factory=lambda: ["*"])  # patterns over the DLQ topics the discovery finds
    brokers: bool = True  # brokers, controller, offline and under-replicated partitions


class RabbitWatch(BaseModel):
    """One RabbitMQ's watch list."""

    dlqs: list[str] = Field(default_factory=lambda: ["*"])  # patterns over the dead-letter queues found
    nodes: bool = True  # nodes down, memory and disk alarms


class WatchSettings(BaseModel):
    enabled: bool = False
    interval_s: float = Field(60.0, ge=1, le=3600)
    # A breach opens an incident once it has been seen this many rounds in a row.
    sustain_rounds: int = Field(2, ge=1, le=100)
    # Every breach of an incident OK this long: "recovered" is posted (and, if set, it is resolved).
    recover_minutes: float = Field(5.0, ge=0, le=24 * 60)
    resolve_on_recovery: bool = False
    # Hysteresis: an open breach counts as recovered only below this share of its threshold,
    # so lag hovering around 10,000 opens one incident, not one per crossing.
    recover_ratio: float = Field(0.8, gt=0, le=1)
    # Membership or state changes of one group within 10 minutes above which it is "rebalancing".
    rebalances_per_10min: int = Field(3, ge=1)
    # Unset: every configured cluster with the defaults above.
    kafka: dict[str, KafkaWatch] | None = None
    rabbitmq: dict[str, RabbitWatch] | None = None
    # Schema Registry name -> subject patterns whose latest version is checked against its compatibility.
    schema_subjects: dict[str, list[str]] = Field(default_factory=dict)
    # Where informational events go (new schema versions, partition counts, groups coming and going).
    ops_channel: str | None = None
    concurrency: int = Field(4, ge=1, le=64)  # clusters probed at once
    # How often a round's lag samples are stored (for /lag's trends, the digests and a watcher
    # taking over); between those the watch keeps its samples in memory.
    store_samples_every_s: float = Field(300.0, ge=0, le=24 * 3600)

    @model_validator(mode="after")
    def _patterns(self) -> "WatchSettings":
        for name, patterns in self.schema_subjects.items():
            if not patterns:
                raise ValueError(f"watch.schema_subjects.{name}: list at least one subject pattern (or '*')")
        return self
