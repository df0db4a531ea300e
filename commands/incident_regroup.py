"""`/incident split <subject>` and `/incident merge INC-…`: a person regroups what the
bot correlated (bot.incidents.regroup does it; this module checks the request and
says it in both threads)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot import db
from bot.incidents import flows, linking, regroup, service
from bot.incidents.correlation import matching, parse_subject, what
from bot.incidents.model import Incident
from bot.reports.markup import escape, link
from commands.base import Deferred, Invocation, Outcome, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

SPLIT_USAGE = "/incident split [id] <group:NAME | topic:NAME | queue:NAME | NAME>"
MERGE_USAGE = "/incident merge INC-… (in the thread of the incident to fold in), or /incident merge INC-from INC-into"


def split(inv: Invocation, ctx: BotContext, root: Incident, words: list[str]) -> Outcome:
    if not words:
        raise UsageError(f"Split which subject? `{SPLIT_USAGE}`.")
    if not root.is_open:
        raise UsageError(f"{root.ref} is resolved; there is nothing to split off it.")
    field, name = parse_subject(" ".join(words))
    attached = linking.active(ctx.engine, root)
    found = matching(attached, field, name)
    shown = f"{field}:{name}" if field else name
    if not found:
        listed = ", ".join(what(s) for _, s in attached)
        has = f"Attached: {listed}." if listed else "Nothing is attached to it."
        raise UsageError(f"`{escape(shown)}` is not attached to {root.ref}. {has}")
    if len(found) > 1:
        listed = ", ".join(what(s) for sid, s in attached if sid in found)
        raise UsageError(f"`{escape(shown)}` names more than one attached subject ({listed}); say which, as "
                         f"`group:{escape(name)}`, `topic:{escape(name)}` or `queue:{escape(name)}`.")

    def run() -> Reply:
        try:
            with db.write(ctx.engine) as conn:
                done = regroup.split(conn, settings=ctx.settings, runbooks=ctx.runbooks, root=root,
                                     subject_id=found[0], actor=inv.user_id, now=time.time())
        except regroup.Refused as exc:
            return Reply(text=str(exc))
        if ctx.escalator is not None:
            ctx.escalator.notify()  # the new incident's ladder
        new = flows.announce(ctx, done.new, checks=True) or flows.ensure_parent(ctx, done.new)
        url = ctx.chat.link(flows.parent(new))
        said = (f":scissors: Split by <@{inv.user_id}>: {done.what} is now {link(url, new.ref)}, with its own "
                f"ladder; it is no longer followed here.")

        def tell_root() -> None:
            flows.post(ctx, root, said)
            flows.refresh_parent(ctx, root)

        ctx.work.submit(tell_root, key=flows.key(root))
        return Reply(text=f"{done.what} is now {new.ref}: {link(url, 'follow it in its thread')}.")

    return Deferred(run=run, ack=Reply(text=f"Splitting {escape(shown)} off {root.ref}…"))


def merge(inv: Invocation, ctx: BotContext, source: Incident, into: str) -> Outcome:
    target = service.get(ctx.engine, into)
    if target is None:
        raise UsageError(f"There is no incident {escape(into.upper())}. `/incident list` shows the open ones.")
    if target.id == source.id:
        raise UsageError(f"{source.ref} cannot be merged into itself: name the incident to fold it into.")
    if not source.is_open:
        raise UsageError(f"{source.ref} is resolved already; there is nothing to merge.")
    if not target.is_open:
        raise UsageError(f"{target.ref} is resolved; merge into an open incident (`/incident list`).")

    def run() -> Reply:
        try:
            with db.write(ctx.engine) as conn:
                merged = regroup.merge(conn, source=source, target=target, actor=inv.user_id, now=time.time())
        except regroup.Refused as exc:
            return Reply(text=str(exc))
        target_url = ctx.chat.link(flows.parent(flows.ensure_parent(ctx, merged)))
        folded = flows.reload(ctx, source)

        def tell_source() -> None:
            flows.post(ctx, folded, f":twisted_rightwards_arrows: Merged into {link(target_url, merged.ref)} by "
                                    f"<@{inv.user_id}>: its alerts are followed there, and this incident is "
                                    f"resolved (its ladder is cancelled).")
            flows.refresh_parent(ctx, folded)
            flows.refresh_checklist(ctx, folded)
            if ctx.escalator is not None:
                ctx.escalator.forget(folded.id)

        def tell_target() -> None:
            flows.post(ctx, merged, f":twisted_rightwards_arrows: {folded.ref} ({escape(folded.title)}) was merged "
                                    f"into this incident by <@{inv.user_id}>; its alerts are followed here.")
            flows.refresh_parent(ctx, merged)

        ctx.work.submit(tell_source, key=flows.key(folded))
        ctx.work.submit(tell_target, key=flows.key(merged))
        return Reply(text=f"{source.ref} is merged into {link(target_url, merged.ref)}.")

    return Deferred(run=run, ack=Reply(text=f"Merging {source.ref} into {target.ref}…"))
