"""`/backup schemas|offsets|definitions|topics|all`: take a backup now (read-only, no
approval); `/backup list`: the backups kept, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.backups import archive, run
from bot.backups.model import BackupError
from bot.config.backups import ALL_KINDS
from bot.reports.markup import escape
from bot.reports.report import Page
from bot.text import plural
from commands import args
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import problem

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/backup schemas|offsets|definitions|topics|all [--only NAME-PREFIX] | /backup list"


class BackupArgs(BaseModel):
    what: str | None = None
    only: str | None = None


def describe(manifest: archive.Manifest) -> str:
    counts = ", ".join(f"{v:,} {k}" for k, v in manifest.counts.items())
    text = (f"Backup {manifest.id} written in {manifest.duration_s:.1f} s ({', '.join(manifest.kinds)}): "
            f"{counts or 'nothing found'}.")
    if manifest.errors:
        text += " Not backed up: " + " ".join(manifest.errors)
    return text


def listing(ctx: BotContext) -> Reply:
    found = archive.listing(ctx.settings.backups.directory)
    if not found:
        return problem(f"There is no backup in {ctx.settings.backups.directory} yet: `/backup all` takes one.")
    lines = [f"`{m.id}`  {m.created_at:%Y-%m-%d %H:%M} UTC  {escape(', '.join(m.kinds))}  by {escape(m.created_by)}"
             + (f"  ({len(m.errors)} errors)" if m.errors else "") for m in found]
    keep = ctx.settings.backups
    footer = f"Kept: the newest {keep.keep}" + (f", none older than {keep.max_age_days:g} days" if keep.max_age_days
                                                else "") + f", in {escape(str(keep.directory))}."
    page = Page(title=plural(len(found), "backup"), body="\n".join(lines), footer=footer)
    return Reply(text=f"{plural(len(found), 'backup')}, the newest {found[0].id}.", content=page)


def handle(inv: Invocation, ctx: BotContext) -> Reply | Deferred:
    a = args.parse(inv.text, BackupArgs, positional=["what"], usage=USAGE)
    if a.what == "list":
        return listing(ctx)
    if a.what not in (*ALL_KINDS, "all"):
        raise UsageError(f"Say what to back up. Usage: `{USAGE}`")
    kinds = list(ALL_KINDS) if a.what == "all" else [a.what]

    def work() -> Reply:
        try:
            manifest = run.take(ctx.clients, kinds, created_by=inv.user_id, only=a.only)
        except BackupError as exc:
            return problem(f"No backup was written: {exc}")
        return Reply(text=describe(manifest), in_channel=True)

    return Deferred(run=work, ack=Reply(text=f"Backing up {a.what}…"))


SPEC = CommandSpec(name="backup", summary="back up schemas, offsets, RabbitMQ definitions and topic configurations",
                   usage=[USAGE], handle=handle)
