"""`/recovery check [backup]`: the live clusters against a backup (the newest by
default), every difference listed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.backups import archive, recovery
from bot.backups.model import BackupError
from commands import args
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError
from commands.common import problem, report_reply

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/recovery check [backup]"


class RecoveryArgs(BaseModel):
    action: str | None = None
    backup: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, RecoveryArgs, positional=["action", "backup"], usage=USAGE)
    if a.action != "check":
        raise UsageError(f"Usage: `{USAGE}`")
    try:
        backup = archive.open_backup(ctx.settings.backups.directory, a.backup)
    except BackupError as exc:
        raise UsageError(str(exc)) from None

    def work() -> Reply:
        try:
            diffs, notes = recovery.compare(ctx.clients, backup)
        except BackupError as exc:
            return problem(f"The check could not finish: {exc}")
        return report_reply(recovery.report(backup, diffs, notes))

    return Deferred(run=work, ack=Reply(text=f"Comparing the clusters with backup {backup.id}…"))


SPEC = CommandSpec(name="recovery", summary="compare the live clusters with a backup (topics, queues, schemas)",
                   usage=[USAGE], handle=handle)
