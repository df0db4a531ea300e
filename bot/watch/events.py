"""Informational changes seen between rounds, for the ops channel and never for an
incident: new schema versions, a topic's partition count, consumer groups coming,
going or changing members. The first round after a process takes the watch only
learns what is there (it does not know what was there before)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.chat import ChatError, Place
from bot.reports.markup import escape
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext
    from bot.watch.look import Looked

log = logging.getLogger(__name__)
MAX_LINES = 40  # one message; the rest are counted


@dataclass
class Seen:
    partitions: dict[str, dict[str, int]] = field(default_factory=dict)  # cluster -> topic -> count
    members: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)  # cluster -> group -> client ids
    versions: dict[str, dict[str, int]] = field(default_factory=dict)  # registry -> subject -> latest


def _clients(members: frozenset[str]) -> str:
    return ", ".join(f"`{escape(c)}`" for c in sorted(members)[:5]) + (" …" if len(members) > 5 else "")


def changes(seen: Seen, looked: Looked) -> list[str]:
    """What changed since the last round, one sentence each; updates `seen`."""
    lines: list[str] = []
    for cluster, snap in looked.clusters.items():
        if not snap.reachable:
            continue
        now = {t.name: t.partitions for t in snap.topics if not t.internal and not t.error}
        before = seen.partitions.get(cluster)
        if before is not None:
            lines += [f"Topic `{escape(t)}` on `{cluster}`: partitions {before[t]} → {n}"
                      for t, n in sorted(now.items()) if t in before and before[t] != n]
        seen.partitions[cluster] = now
    for cluster, found in looked.members.items():
        now_groups = {g: m for g, m in found.items() if m is not None}
        before_groups = seen.members.get(cluster)
        if before_groups is not None:
            for g in sorted(now_groups.keys() - before_groups.keys()):
                if g in found:  # undescribable this round is not "appeared"
                    lines.append(f"Consumer group `{escape(g)}` appeared on `{cluster}` "
                                 f"({plural(len(now_groups[g]), 'member')})")
            for g in sorted(before_groups.keys() - found.keys()):
                lines.append(f"Consumer group `{escape(g)}` disappeared from `{cluster}`")
            for g in sorted(now_groups.keys() & before_groups.keys()):
                old, new = before_groups[g], now_groups[g]
                if old != new:
                    parts = [f"{len(old)} → {len(new)} members"]
                    if new - old:
                        parts.append(f"joined {_clients(new - old)}")
                    if old - new:
                        parts.append(f"left {_clients(old - new)}")
                    lines.append(f"Consumer group `{escape(g)}` on `{cluster}` changed members: {'; '.join(parts)}")
        # A group not described this round keeps what was known of it.
        known = before_groups or {}
        now_groups |= {g: known[g] for g, m in found.items() if m is None and g in known}
        seen.members[cluster] = now_groups
    for registry, latest in looked.schema_versions.items():
        before_versions = seen.versions.get(registry)
        if before_versions is not None:
            lines += [f"Schema subject `{escape(s)}` ({registry}) has a new version: {before_versions[s]} → {v}"
                      if s in before_versions else f"Schema subject `{escape(s)}` ({registry}) registered: version {v}"
                      for s, v in sorted(latest.items()) if before_versions.get(s) != v]
        seen.versions[registry] = latest
    return lines


def announce(ctx: BotContext, seen: Seen, looked: Looked) -> list[str]:
    lines = changes(seen, looked)
    channel = ctx.settings.watch.ops_channel
    if not lines or channel is None:
        return lines
    shown = lines[:MAX_LINES]
    more = f"\n… and {plural(len(lines) - MAX_LINES, 'more change')}" if len(lines) > MAX_LINES else ""
    text = ":information_source: *Watch: what changed*\n" + "\n".join(f"• {line}" for line in shown) + more
    try:
        ctx.chat.post(Place(channel), text)
    except ChatError as exc:
        log.warning("watch: could not post changes to %s: %s", channel, exc.code)
    return lines
