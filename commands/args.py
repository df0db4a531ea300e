"""Slash command text parsed into a pydantic model: positional words and
`--flag [value]` options, with quoting. Bad input becomes a UsageError sentence."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from commands.base import UsageError

M = TypeVar("M", bound=BaseModel)


def split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"I could not read that: {exc}. Close your quotes and try again.") from None


def parse(text: str, model: type[M], *, positional: list[str], usage: str, rest: str | None = None) -> M:
    """Fill `model` from `text`: words go to the fields named in `positional`, in
    order, and the words left over to the field `rest` (joined by spaces);
    `--name value` (or `--name` alone for a bool field) to that field."""
    words = split(text)
    values: dict[str, Any] = {}
    free: list[str] = []
    fields = model.model_fields
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            name, _, inline = word[2:].partition("=")
            key = name.replace("-", "_")
            if key not in fields or key in positional or key == rest:
                options = ", ".join(f"--{f.replace('_', '-')}" for f in fields if f not in positional and f != rest)
                raise UsageError(f"Unknown option `{word}`. Options: {options or 'none'}. Usage: `{usage}`")
            if fields[key].annotation is bool:
                values[key] = True
            elif inline:
                values[key] = inline
            elif i + 1 < len(words):
                values[key] = words[i + 1]
                i += 1
            else:
                raise UsageError(f"`{word}` needs a value. Usage: `{usage}`")
        else:
            free.append(word)
        i += 1
    if len(free) > len(positional):
        if rest is None:
            raise UsageError(f"Too many arguments: `{' '.join(free[len(positional):])}`. Usage: `{usage}`")
        values[rest] = " ".join(free[len(positional):])
    values.update(zip(positional, free))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "-".join(str(p) for p in err["loc"])
        label = field if field in positional or field == rest else f"--{field}"
        raise UsageError(f"`{label}`: {err['msg'].removeprefix('Value error, ')}. Usage: `{usage}`") from None


def not_found(kind: str, name: str, known: Iterable[str]) -> UsageError:
    """'No such X' with the closest names, for a typo at 3 a.m."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return UsageError(f"No {kind} named `{name}`.{hint}")
