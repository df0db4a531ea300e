"""The weekly digest's backups section: what is kept, how old the newest is, and the
newest itself attached (a tar.gz of its directory) so the digest carries a copy
off the bot's disk."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime
from typing import TYPE_CHECKING

from bot.backups import archive
from bot.chat import Attachment
from bot.digests.model import missing
from bot.digests.stats import DAY, duration
from bot.health.verdict import Level, Verdict
from bot.reports.report import Report, Table
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

# Slack takes files up to 1 GB; a digest attaching more than this points at the directory instead.
MAX_ATTACH_BYTES = 50 * 1024 * 1024


def _size(manifest: archive.Manifest) -> int:
    return sum(f.bytes for f in manifest.files)


def tarball(backup: archive.Backup) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(backup.root, arcname=backup.id)
    return out.getvalue()


def section(ctx: BotContext, now: datetime) -> tuple[Report, Attachment | None]:
    directory = ctx.settings.backups.directory
    kept = archive.listing(directory)
    title = "Backups"
    if not kept:
        return Report(title=title, verdict=missing(Level.WARNING, (
            f"No backup in {directory}: nothing to restore from. Take one with `/backup all`"
            + ("" if ctx.settings.backups.every_hours else ", and set backups.every_hours to take them on a schedule")
            + ".")), taken_at=now), None
    newest = kept[0]
    age = now.timestamp() - newest.finished_at.timestamp()
    rows = [[m.id, m.finished_at.strftime("%Y-%m-%d %H:%M"), ", ".join(m.kinds),
             ", ".join(f"{v:,} {k}" for k, v in m.counts.items()) or "-", f"{_size(m) / 1024:,.0f} KiB",
             plural(len(m.errors), "problem") if m.errors else "-"] for m in kept[:10]]
    level = Level.WARNING if age > 7 * DAY or newest.errors else Level.OK
    reasons = [f"{plural(len(kept), 'backup')} kept; the newest, {newest.id}, is {duration(age)} old"
               + (" (older than a week)" if age > 7 * DAY else "") + "."]
    reasons += [f"{newest.id} could not read everything: {e}" for e in newest.errors[:5]]
    attachment = None
    notes = []
    if _size(newest) <= MAX_ATTACH_BYTES:
        attachment = Attachment(filename=f"{newest.id}.tar.gz", content=tarball(archive.open_backup(directory,
                                                                                                     newest.id)),
                                title=f"Backup {newest.id}", comment="The newest backup, as kept on the bot's disk.")
        notes.append(f"The newest backup is attached to this thread as {newest.id}.tar.gz.")
    else:
        notes.append(f"The newest backup is {_size(newest) / 1024 / 1024:,.0f} MiB, too large to attach: "
                     f"it is in {directory / newest.id}.")
    return Report(title=title, verdict=Verdict(level=level, reasons=reasons),
                  tables=[Table(headers=["BACKUP", "TAKEN", "HOLDS", "COUNTS", "SIZE", "PROBLEMS"], rows=rows)],
                  notes=notes, taken_at=now), attachment
