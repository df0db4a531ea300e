"""The one parser of slash command text, for every command: shell-like quoting, then
positional words and `--flag` options into a pydantic model. The model's fields say
the shape of each option:

    bool            --chart                  a switch, True when present
    list[...]       --topic a --topic b      repeated, every value kept in order
    anything else   --sample 5, --sample=5   one value (the last one wins)

A positional field may also be given as an option (`--group g`, as Kafka's tools
allow). Bad input becomes a UsageError: a sentence naming the unknown option, the
option without its value or the extra word, with the usage line.

The destructive actions read the words their command hands on (`others`) with their
own parsers in bot.actions, in Kafka's own flags: the core cannot import commands,
which imports it."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, get_origin

from pydantic import BaseModel, ValidationError

from bot.text import duration_text, parse_duration
from commands.base import UsageError

M = TypeVar("M", bound=BaseModel)


def split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"I could not read that: {exc}. Close your quotes and try again.") from None


def parse(text: str, model: type[M], *, usage: str, positional: Sequence[str] = (), rest: str | None = None,
          others: str | None = None) -> M:
    """Fill `model` from `text`: words go to the fields named in `positional`, in
    order; the words left over to the field `rest` (joined by spaces); `--name value`,
    `--name=value` (or `--name` alone for a bool field) to that field.

    `others` names a field that receives every word the model does not take, unknown
    options included, in order and quoted again for a second parser (argparse's
    parse_known_args): a destructive command takes `--cluster` and `--incident` and
    hands the rest to its action. It excludes `positional`, since the value of an
    unknown option could not be told from a positional word."""
    if others is not None and positional:
        raise ValueError("`others` and `positional` cannot be combined")
    fields = model.model_fields
    options = [f for f in fields if f not in (rest, others)]
    values: dict[str, Any] = {}
    free: list[str] = []
    words = split(text)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        name, eq, inline = word[2:].partition("=") if word.startswith("--") and len(word) > 2 else ("", "", "")
        key = name.replace("-", "_")
        if not name or (key not in options and others is not None):
            free.append(word)
            continue
        if key not in options:
            known = ", ".join(f"--{f.replace('_', '-')}" for f in options)
            raise UsageError(f"Unknown option `{word}`. Options: {known or 'none'}. Usage: `{usage}`")
        annotation = fields[key].annotation
        if annotation is bool:
            if eq:
                raise UsageError(f"`--{name}` is a switch: it takes no value. Usage: `{usage}`")
            values[key] = True
            continue
        if eq:
            value = inline
        elif i < len(words):
            value, i = words[i], i + 1
        else:
            raise UsageError(f"`{word}` needs a value. Usage: `{usage}`")
        if get_origin(annotation) is list:
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    surplus = free[len(positional):]
    if others is not None:
        values[others] = shlex.join(free)
    elif surplus and rest is not None:
        values[rest] = " ".join(surplus)
    elif surplus:
        raise UsageError(f"Too many arguments: `{' '.join(surplus)}`. Usage: `{usage}`")
    values.update(zip(positional, free))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # the model's own check, about no field in particular
            raise UsageError(f"{msg[:1].upper()}{msg[1:]}. Usage: `{usage}`") from None
        field = str(err["loc"][0])
        label = field if field in positional or field == rest else f"--{field.replace('_', '-')}"
        raise UsageError(f"`{label}`: {msg}. Usage: `{usage}`") from None


def not_found(kind: str, name: str, known: Iterable[str]) -> UsageError:
    """'No such X' with the closest names, for a typo at 3 a.m."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return UsageError(f"No {kind} named `{name}`.{hint}")


def duration(word: str, *, usage: str, most: float = 30 * 86400) -> float:
    """A duration a person typed, in seconds; anything else is a UsageError."""
    seconds = parse_duration(word)
    if seconds is None:
        raise UsageError(f"`{word}` is not a duration: write it like 30m, 2h, 1d or 1h30m.\nUsage: {usage}")
    if not 0 < seconds <= most:
        raise UsageError(f"`{word}` is out of range: between 1s and {duration_text(most)}.\nUsage: {usage}")
    return seconds
