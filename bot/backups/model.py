"""What the backup modules share: the error they raise and one difference found."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

Change = Literal["missing", "changed", "extra"]
# Sorted worst first: what the backup holds and the target lacks, then what differs, then what is new.
_ORDER = {"missing": 0, "changed": 1, "extra": 2}


class BackupError(Exception):
    """A backup or restore step failed; the message is a sentence for a person."""


class Difference(BaseModel):
    area: str  # topic, config, queue, exchange, binding, policy, vhost, subject, version, compatibility, offsets
    item: str  # what it is about: a topic's name, "vhost/queue", "subject v3"
    change: Change
    field: str = ""  # the field that differs, for "changed"
    backup: str = ""  # the value the backup holds ("" when missing from it)
    live: str = ""  # the value the target holds ("" when missing there)

    @property
    def sentence(self) -> str:
        if self.change == "missing":
            return f"{self.area} {self.item} is in the backup but not in the target."
        if self.change == "extra":
            return f"{self.area} {self.item} is in the target but not in the backup."
        return f"{self.area} {self.item}: {self.field} is {self.live or '(unset)'}, the backup says {self.backup or '(unset)'}."


def ordered(diffs: list[Difference]) -> list[Difference]:
    return sorted(diffs, key=lambda d: (_ORDER[d.change], d.area, d.item, d.field))


def shown(value: Any) -> str:
    """A value as one short line for a table cell."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def compare_fields(area: str, item: str, backup: dict[str, Any], live: dict[str, Any],
                   fields: list[str]) -> list[Difference]:
    return [Difference(area=area, item=item, change="changed", field=f, backup=shown(backup.get(f)),
                       live=shown(live.get(f)))
            for f in fields if backup.get(f) != live.get(f)]


def compare_keyed(area: str, backup: dict[str, dict[str, Any]], live: dict[str, dict[str, Any]],
                  fields: list[str], *, extras: bool = True) -> list[Difference]:
    """Items by key: missing from live, extra in live, and field by field for the rest."""
    diffs = [Difference(area=area, item=k, change="missing") for k in sorted(backup) if k not in live]
    if extras:
        diffs += [Difference(area=area, item=k, change="extra") for k in sorted(live) if k not in backup]
    for k in sorted(backup):
        if k in live:
            diffs += compare_fields(area, k, backup[k], live[k], fields)
    return diffs
