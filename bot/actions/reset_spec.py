"""What an offset reset asks for, with the same flags as Kafka's own tool:

    <group> --topic T[:p,p] [--topic U ...] | --all-topics
            --to-earliest | --to-latest | --to-datetime <ISO-8601> | --by-duration <PnDTnHnMnS>
            | --shift-by <n> | --to-offset <n>

``parse_reset_spec(text)`` turns slash-command text into a ResetSpec or raises
SpecError with a sentence. A datetime without a zone is taken as UTC (Kafka's tool
takes the JVM's zone; a bot serving people in several zones must not guess).
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Strategy = Literal["to-earliest", "to-latest", "to-datetime", "by-duration", "shift-by", "to-offset"]
STRATEGIES: tuple[str, ...] = ("to-earliest", "to-latest", "to-datetime", "by-duration", "shift-by", "to-offset")
USAGE = ("<group> --topic T[:p,p] | --all-topics  and one of  --to-earliest | --to-latest | "
         "--to-datetime 2024-01-01T00:00:00Z | --by-duration P1DT2H | --shift-by -100 | --to-offset 42")

_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
                       re.IGNORECASE)
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class SpecError(ValueError):
    """The command text cannot be understood; the message says how to write it."""


class TopicSelection(BaseModel):
    topic: str
    partitions: list[int] | None = None  # None: every partition of the topic

    @property
    def text(self) -> str:
        return self.topic if self.partitions is None else f"{self.topic}:{','.join(map(str, self.partitions))}"


class ResetSpec(BaseModel):
    group: str
    topics: list[TopicSelection] = Field(default_factory=list)
    all_topics: bool = False
    strategy: Strategy
    to_datetime: datetime | None = None
    by_duration_s: float | None = None
    shift_by: int | None = None
    to_offset: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ResetSpec:
        if bool(self.topics) == self.all_topics:
            raise ValueError("give either --topic (once or more) or --all-topics")
        needed = {"to-datetime": self.to_datetime, "by-duration": self.by_duration_s,
                  "shift-by": self.shift_by, "to-offset": self.to_offset}
        if self.strategy in needed and needed[self.strategy] is None:
            raise ValueError(f"--{self.strategy} needs a value")
        if self.to_offset is not None and self.to_offset < 0:
            raise ValueError("--to-offset must be 0 or more")
        return self

    @property
    def text(self) -> str:
        """The spec written back as flags, for the plan card and the audit trail."""
        where = " ".join(f"--topic {t.text}" for t in self.topics) if self.topics else "--all-topics"
        value = {"to-datetime": self.to_datetime.isoformat() if self.to_datetime else None,
                 "by-duration": format_duration(self.by_duration_s) if self.by_duration_s is not None else None,
                 "shift-by": self.shift_by, "to-offset": self.to_offset}.get(self.strategy)
        return f"{self.group} {where} --{self.strategy}" + ("" if value is None else f" {value}")


def parse_duration(text: str) -> float:
    """ISO-8601 duration seconds, as Java's Duration.parse reads PnDTnHnMnS."""
    match = _DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT"):
        raise SpecError(f"`{text}` is not an ISO-8601 duration; write it like P1DT2H30M or PT15M.")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0),
                     seconds=parts.get("s", 0)).total_seconds()


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    frac = seconds - whole
    time_part = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M")) if v)
    if secs or frac:
        time_part += f"{secs + frac:g}S"
    return f"P{f'{days}D' if days else ''}{'T' + time_part if time_part else ''}" if (days or time_part) else "PT0S"


def parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SpecError(f"`{text}` is not an ISO-8601 date and time; write it like 2024-01-01T09:30:00Z.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_topic(text: str) -> TopicSelection:
    topic, sep, parts = text.partition(":")
    if not _TOPIC.match(topic):
        raise SpecError(f"`{topic}` is not a Kafka topic name.")
    if not sep:
        return TopicSelection(topic=topic)
    try:
        partitions = sorted({int(p) for p in parts.split(",") if p.strip()})
    except ValueError:
        raise SpecError(f"`{text}`: partitions must be numbers separated by commas, like {topic}:0,1,2.") from None
    if not partitions or partitions[0] < 0:
        raise SpecError(f"`{text}`: list the partitions after the colon, like {topic}:0,1,2.")
    return TopicSelection(topic=topic, partitions=partitions)


def _int(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SpecError(f"`--{flag}` needs a whole number, not `{text}`.") from None


def parse_reset_spec(text: str) -> ResetSpec:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SpecError(f"I could not read that: {exc}. Usage: {USAGE}") from None
    group: str | None = None
    topics: list[TopicSelection] = []
    all_topics = False
    chosen: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, inline = word[2:].partition("=") if word.startswith("--") else ("", "", "")
        takes_value = flag in ("group", "topic", "to-datetime", "by-duration", "shift-by", "to-offset")
        value: str | None = None
        if takes_value:
            if eq:
                value = inline
            elif i + 1 < len(words):
                value, i = words[i + 1], i + 1
            else:
                raise SpecError(f"`--{flag}` needs a value. Usage: {USAGE}")
        if not word.startswith("--"):
            if group is not None:
                raise SpecError(f"Unexpected `{word}`: name the group once. Usage: {USAGE}")
            group = word
        elif flag == "group":
            group = value
        elif flag == "topic":
            topics.append(parse_topic(value or ""))
        elif flag == "all-topics":
            all_topics = True
        elif flag in STRATEGIES:
            chosen.append((flag, value))
        elif flag in ("execute", "dry-run"):
            pass  # Kafka's tool wants one of them; here approval decides when it executes
        else:
            raise SpecError(f"Unknown option `{word}`. Usage: {USAGE}")
        i += 1
    if not group:
        raise SpecError(f"Name the consumer group first. Usage: {USAGE}")
    if len(chosen) != 1:
        named = ", ".join(f"--{c}" for c, _ in chosen) or "none"
        raise SpecError(f"Give exactly one of --to-earliest, --to-latest, --to-datetime, --by-duration, "
                        f"--shift-by, --to-offset (got {named}).")
    if bool(topics) == all_topics:
        raise SpecError(f"Give either --topic (once or more) or --all-topics. Usage: {USAGE}")
    strategy, value = chosen[0]
    fields: dict[str, object] = {}
    if strategy == "to-datetime":
        fields["to_datetime"] = parse_datetime(value or "")
    elif strategy == "by-duration":
        fields["by_duration_s"] = parse_duration(value or "")
    elif strategy == "shift-by":
        fields["shift_by"] = _int(strategy, value or "")
    elif strategy == "to-offset":
        fields["to_offset"] = _int(strategy, value or "")
        if fields["to_offset"] < 0:  # type: ignore[operator]
            raise SpecError("`--to-offset` must be 0 or more.")
    return ResetSpec(group=group, topics=topics, all_topics=all_topics, strategy=strategy, **fields)  # type: ignore[arg-type]
