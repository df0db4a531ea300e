"""What a DLQ replay asks for, and the small rules both brokers' replays share.

    /replay-dlq <dlq> [--to <topic-or-exchange>] [--limit N] [--pattern <error-pattern>]
                      [--broker kafka|rabbitmq] [--route queue|exchange]

``--pattern`` keeps the messages whose error pattern (as the DLQ summary groups them),
error class or error message contains the text, ignoring case. ``--route`` is
RabbitMQ only: ``queue`` (the default) sends each message back to the queue it died
in, through the default exchange; ``exchange`` republishes it to the exchange and
routing key it was first published with (from x-death), which also delivers it again
to every other queue bound there.
"""

from __future__ import annotations

import re
import shlex
from typing import Literal

from pydantic import BaseModel, Field

from bot.actions.reset_spec import SpecError
from bot.probes.dlq_models import error_pattern

MARKER = "x-incidentbot-replay"  # header on every replayed message; its value is the replay id
USAGE = "<dlq> [--to <topic-or-exchange>] [--limit N] [--pattern <error-pattern>] [--broker kafka|rabbitmq]"
# "com.acme.BadThing: the message" in a free-form error header.
_CLASS_AND_MESSAGE = re.compile(r"^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:Exception|Error|Fault)):\s*(.*)$", re.S)


class ReplaySpec(BaseModel):
    dlq: str
    to: str | None = None
    limit: int | None = Field(None, ge=1)
    pattern: str | None = None
    broker: Literal["kafka", "rabbitmq"] | None = None
    route: Literal["queue", "exchange"] = "queue"

    @property
    def text(self) -> str:
        parts = [self.dlq]
        for flag, value in (("to", self.to), ("limit", self.limit), ("pattern", self.pattern)):
            if value is not None:
                parts.append(f"--{flag} {shlex.quote(str(value))}")
        if self.route != "queue":
            parts.append(f"--route {self.route}")
        return " ".join(parts)


def parse_replay_spec(text: str) -> ReplaySpec:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SpecError(f"I could not read that: {exc}. Usage: {USAGE}") from None
    values: dict[str, object] = {}
    free: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            free.append(word)
            i += 1
            continue
        flag, eq, inline = word[2:].partition("=")
        if flag not in ("to", "limit", "pattern", "broker", "route"):
            raise SpecError(f"Unknown option `{word}`. Usage: {USAGE}")
        if not eq:
            if i + 1 >= len(words):
                raise SpecError(f"`--{flag}` needs a value. Usage: {USAGE}")
            inline, i = words[i + 1], i + 1
        values[flag] = inline
        i += 1
    if len(free) != 1:
        raise SpecError(f"Name exactly one DLQ. Usage: {USAGE}")
    if "limit" in values:
        try:
            values["limit"] = int(str(values["limit"]))
        except ValueError:
            raise SpecError("`--limit` needs a whole number.") from None
        if values["limit"] < 1:  # type: ignore[operator]
            raise SpecError("`--limit` must be 1 or more.")
    if values.get("broker") not in (None, "kafka", "rabbitmq"):
        raise SpecError("`--broker` is kafka or rabbitmq.")
    if values.get("route") not in (None, "queue", "exchange"):
        raise SpecError("`--route` is queue (back to the queue it died in) or exchange (to its original exchange).")
    return ReplaySpec(dlq=free[0], **values)  # type: ignore[arg-type]


def split_error(text: str | None) -> tuple[str | None, str | None]:
    """(class, message) from a free-form error header such as "x.y.BadThing: why"."""
    if not text:
        return None, None
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _CLASS_AND_MESSAGE.match(first)
    return (match.group(1), match.group(2)) if match else (None, first)


def matches(wanted: str | None, pattern: str, error_class: str | None, error_message: str | None) -> bool:
    if wanted is None:
        return True
    needle = wanted.lower()
    return any(needle in (text or "").lower() for text in (pattern, error_class, error_message))


def pattern_of(error_class: str | None, error_message: str | None, fallback: str) -> str:
    return error_pattern(error_class, error_message) if (error_class or error_message) else fallback
