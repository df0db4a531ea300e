"""The approval flow around a plan: the card in the incident thread, the second
person's decision, one execution, its verification, and the card's final state.
Every transition goes through the store's compare-and-set and lands in the audit
trail and the incident's timeline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot import actions
from bot.actions.base import ActionContext, Plan, Progress
from bot.approvals import policy, rules, store
from bot.approvals.rules import State
from bot.approvals.store import Request
from bot.approvals.views import ApprovalCard, ExecutionProgress
from bot.chat import Attachment, ChatError, Place, Posted
from bot.db import owners
from bot.incidents import flows, service
from bot.incidents import store as incident_store
from bot.reports.markup import escape, user

if TYPE_CHECKING:
    from bot.app.context import BotContext
    from bot.incidents.model import Incident

log = logging.getLogger(__name__)


def policy_of(ctx: BotContext, plan: Plan) -> policy.Policy:
    """Who approves this plan and how many of them (bot.approvals.policy)."""
    try:
        command = actions.registry.get(plan.kind).command
    except actions.ActionError:
        command = plan.kind
    return policy.choose(ctx.settings.approvals, plan.kind, command, plan.cluster)


def on_call(ctx: BotContext, cluster: str) -> list[str]:
    """Who is on call for `cluster`, if something tells the context (the on-call seam);
    a failing lookup only loses the ordering of the card, never the approval."""
    if ctx.oncall is None:
        return []
    try:
        return list(ctx.oncall(cluster))
    except Exception:  # noqa: BLE001 - an on-call source is outside this room
        log.warning("the on-call lookup for %s failed; approvers are shown in the configured order", cluster,
                    exc_info=True)
        return []


def approvers_label(ctx: BotContext, plan: Plan) -> str:
    return policy.label(policy_of(ctx, plan), on_call(ctx, plan.cluster))


def is_approver(ctx: BotContext, person: str, plan: Plan) -> bool:
    chosen = policy_of(ctx, plan)
    if person in chosen.approvers:
        return True
    return bool(chosen.usergroup) and person in ctx.chat.members(chosen.usergroup or "")


def action_context(ctx: BotContext, actor: str, incident: Incident | None) -> ActionContext:
    return ActionContext(clients=ctx.clients, engine=ctx.engine, actor=actor,
                         incident_id=incident.ref if incident else None)


def _incident(ctx: BotContext, request: Request) -> Incident | None:
    if request.incident_id is None:
        return None
    with ctx.engine.connect() as conn:
        return incident_store.get(conn, pk=request.incident_id)


def _record(ctx: BotContext, request: Request, actor: str, kind: str, text: str) -> None:
    incident = _incident(ctx, request)
    if incident is not None:
        service.record(ctx.engine, incident, actor=actor, kind=f"approval.{kind}", now=time.time(),
                       text=f"{request.id} {actions.title(request.plan.kind)} of "
                            f"{request.plan.target}: {text} (plan {request.plan.plan_hash})")


def _say(ctx: BotContext, request: Request, text: str) -> None:
    incident = _incident(ctx, request)
    if incident is not None:
        flows.post(ctx, incident, text)
    elif request.channel:
        ctx.chat.post(Place(request.channel, request.thread_ts), text)


def refresh_card(ctx: BotContext, request_id: str, extra: list[str] | None = None) -> None:
    request = store.get(ctx.engine, request_id)
    if request is None or not request.card_ts or not request.channel:
        return
    shown = ApprovalCard(request, approvers_label(ctx, request.plan), extra or [])
    try:
        ctx.chat.update(Posted(request.channel, request.card_ts), shown)
    except ChatError as exc:
        if exc.code != "message_not_found":
            raise
        # Someone deleted the card (or the chat forgot it): its buttons must stay reachable.
        log.warning("approval card of %s is gone (%s); posting it again", request.id, exc.code)
        posted = ctx.chat.post(Place(request.channel, request.thread_ts), shown)
        store.set_card(ctx.engine, request.id, channel=posted.channel, card_ts=posted.ts, thread_ts=request.thread_ts)
        _record(ctx, request, "bot", "card_reposted", f"its card was gone ({exc.code}) and was posted again")


def request_approval(ctx: BotContext, plan: Plan, *, requester: str, incident: Incident | None,
                     channel: str, why: str | None = None) -> Request:
    """Store the request and post its card (in the incident's thread when there is one).
    `why` is the requester's reason (commands.destructive insists on one)."""
    ttl = ctx.settings.approvals.expiry_minutes * 60
    request = store.create(ctx.engine, plan=plan, requester=requester, now=time.time(), ttl_seconds=ttl,
                           incident_id=incident.id if incident else None, why=why,
                           needed=policy_of(ctx, plan).count)
    if incident is not None:
        incident = flows.ensure_parent(ctx, incident)
        channel, thread = incident.channel or channel, incident.thread_ts
    else:
        thread = None
    posted = ctx.chat.post(Place(channel, thread), ApprovalCard(request, approvers_label(ctx, plan)))
    store.set_card(ctx.engine, request.id, channel=posted.channel, card_ts=posted.ts, thread_ts=thread)
    because = f" because {why}" if why else ""
    _record(ctx, request, requester, "requested", f"requested by {user(requester)}{because}: {plan.summary}")
    return store.get(ctx.engine, request.id) or request


def approve(ctx: BotContext, request_id: str, actor: str, now: float | None = None) -> str | None:
    """Approve and execute; None on success, else the sentence for the actor."""
    now = now or time.time()
    request = store.get(ctx.engine, request_id)
    if request is None:
        return "That approval request does not exist."
    refusal = rules.may_approve(request, actor, now, is_approver=is_approver(ctx, actor, request.plan),
                                approvers=approvers_label(ctx, request.plan))
    if refusal:
        return refusal
    count = store.vote(ctx.engine, request, actor, now)
    if count is None:  # closed meanwhile, or this very person's other press got there first
        fresh = store.get(ctx.engine, request_id)
        if fresh is not None and fresh.state == State.REQUESTED:
            return rules.may_approve(fresh, actor, now, is_approver=True, approvers="") or \
                "Your approval is already counted."
        return f"Someone got there first: this request is already {fresh.state if fresh else 'gone'}."
    if count < request.needed:
        _record(ctx, request, actor, "approval", f"approved by {user(actor)} ({count} of {request.needed} "
                                                 f"approvals; it runs at {request.needed})")
        refresh_card(ctx, request_id)
        return None
    if not store.move(ctx.engine, request, frm=State.REQUESTED, to=State.APPROVED, actor=actor, now=now,
                      detail=f"{count} of {request.needed} approvals", decided_by=actor, decided_at=now):
        fresh = store.get(ctx.engine, request_id)
        return f"Someone got there first: this request is already {fresh.state if fresh else 'gone'}."
    fresh = store.get(ctx.engine, request_id)
    who = ", ".join(user(v) for v in (fresh.votes if fresh else (actor,)))
    _record(ctx, request, actor, "approved", f"approved by {who}")
    refresh_card(ctx, request_id)
    execute(ctx, request_id, actor)
    return None


def deny(ctx: BotContext, request_id: str, actor: str, reason: str, now: float | None = None) -> str | None:
    now = now or time.time()
    request = store.get(ctx.engine, request_id)
    if request is None:
        return "That approval request does not exist."
    refusal = rules.may_deny(request, actor, now, is_approver=is_approver(ctx, actor, request.plan),
                             approvers=approvers_label(ctx, request.plan))
    if refusal:
        return refusal
    if not store.move(ctx.engine, request, frm=State.REQUESTED, to=State.DENIED, actor=actor, now=now, detail=reason,
                      decided_by=actor, decided_at=now, reason=reason):
        return "Someone got there first: this request is no longer waiting."
    _record(ctx, request, actor, "denied", f"denied by {user(actor)}: {reason}")
    refresh_card(ctx, request_id)
    return None


def execute(ctx: BotContext, request_id: str, actor: str) -> None:
    """Run an approved request once: approved -> executing is the gate."""
    request = store.get(ctx.engine, request_id)
    me, now = owners.this_process(), time.time()
    if request is None or not store.move(ctx.engine, request, frm=State.APPROVED, to=State.EXECUTING, actor="bot",
                                         now=now, executor=me, executor_until=now + store.EXECUTOR_TTL_S):
        return
    incident = _incident(ctx, request)
    actx = action_context(ctx, request.requester, incident)
    abort = ctx.running.start(request.id)
    try:
        with _holding(ctx, request.id, me):
            _run(ctx, request, actx, abort)
    finally:
        ctx.running.finish(request.id)


@contextmanager
def _holding(ctx: BotContext, request_id: str, me: str) -> Iterator[None]:
    """Renew this process's claim on the request while its action runs, so that another
    replica taking the timers over leaves it alone (bot.approvals.flow.resume)."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(store.EXECUTOR_TTL_S / 10):
            try:
                store.renew_executor(ctx.engine, request_id, me, time.time())
            except SQLAlchemyError as exc:  # the action goes on; the claim has time to spare
                log.warning("could not renew the claim on %s: %s", request_id, type(exc).__name__)

    keeper = threading.Thread(target=renew, name=f"claim-{request_id}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()


def _run(ctx: BotContext, request: Request, actx: ActionContext, abort: threading.Event) -> None:
    try:
        fresh = actions.replan(actx, request.plan)
        if fresh.plan_hash != request.plan.plan_hash:
            _finish(ctx, request, State.FAILED, "The world changed since the plan was approved (the dry run now "
                                            f"differs: {escape(fresh.summary)}). Nothing was done; run the "
                                            "command again for a fresh plan.", None, None)
            return
        progress = _progress(ctx, request)
        result = actions.execute(actx, request.plan, progress=progress, abort=abort)
        verification = actions.verify(actx, request.plan, result) if result.ok else None
    except actions.ActionError as exc:
        _finish(ctx, request, State.FAILED, str(exc), None, None)
        return
    state = State.EXECUTED if result.ok and (verification is None or verification.ok) else State.FAILED
    lines = [f"*Result*: {escape(result.message)}"]
    if verification is not None:
        mark = ":white_check_mark:" if verification.ok else ":x:"
        lines.append(f"*Verified* {mark} {escape(verification.message)}")
        lines += [f"• {escape(m)}" for m in verification.mismatches[:10]]
    _finish(ctx, request, state, "\n".join(lines), result.model_dump(mode="json"),
            verification.model_dump(mode="json") if verification else None)
    csv = result.details.get("restore_point_csv")
    if csv and request.channel:
        point = result.details.get("restore_point_id")
        ctx.chat.upload(Place(request.channel, request.thread_ts), Attachment(
            filename=str(result.details.get("restore_point_file") or f"{point}.csv"), content=str(csv),
            title=f"Offsets of {request.plan.target} before the reset",
            comment=f"Restore point {point}: `/restore-offsets {point} --reason \"…\"` puts these offsets back "
                    "(with approval)."))


def _finish(ctx: BotContext, request: Request, state: State, text: str, result: dict | None,  # type: ignore[type-arg]
            verification: dict | None) -> None:  # type: ignore[type-arg]
    store.move(ctx.engine, request, frm=State.EXECUTING, to=state, actor="bot", now=time.time(), detail=text,
               result=result, verification=verification)
    _record(ctx, request, "bot", state, text.replace("\n", " "))
    refresh_card(ctx, request.id, [text])
    _say(ctx, request, f"{request.id} {state}. {text}")


def _progress(ctx: BotContext, request: Request):  # type: ignore[no-untyped-def]
    every = ctx.settings.approvals.progress_every
    posted: list[Posted] = []

    def report(p: Progress) -> None:
        if p.total < every:
            return  # small jobs finish before anyone reads a progress bar
        note = ExecutionProgress(request.id, f"{request.id}: {p.done:,} of {p.total:,} — {p.message}")
        try:
            if posted:
                ctx.chat.update(posted[0], note)
            elif request.channel:
                posted.append(ctx.chat.post(Place(request.channel, request.thread_ts), note))
        except ChatError as exc:  # the work goes on regardless
            log.warning("could not post the progress of %s: %s", request.id, exc.code)

    return report


def abort(ctx: BotContext, request_id: str) -> bool:
    return ctx.running.abort(request_id)


def expire_due(ctx: BotContext, now: float | None = None) -> int:
    """Requests nobody decided in time become expired (and say so on their card)."""
    now = now or time.time()
    expired = 0
    for request in store.in_state(ctx.engine, State.REQUESTED):
        if request.expires_at <= now and store.move(ctx.engine, request, frm=State.REQUESTED, to=State.EXPIRED,
                                                    actor="bot", now=now):
            expired += 1
            _record(ctx, request, "bot", "expired", "nobody approved it in time")
            refresh_card(ctx, request.id)
    return expired


def resume(ctx: BotContext) -> None:
    """Approved requests a stopped process never executed run now; ones it was
    executing (its claim ran out) are failed with a sentence (a replay resumes from
    its progress). Ones a live process executes are its own."""
    # Both lists first: an approved request submitted below may be executing by the
    # time the second list would be read, and must not be taken for an interrupted one.
    approved = store.in_state(ctx.engine, State.APPROVED)
    interrupted = store.in_state(ctx.engine, State.EXECUTING)
    for request in interrupted:
        if request.id in ctx.running:
            # This process runs it now: it took the timers over from a replica that
            # stopped while this one was executing a request of its own.
            continue
        if not store.take_over(ctx.engine, request.id, owners.this_process(), time.time()):
            continue  # another replica runs it and renews its claim; it finishes it
        if request.plan.kind == "replay_dlq":
            ctx.running.start(request.id)
            try:
                with _holding(ctx, request.id, owners.this_process()):
                    _resume_replay(ctx, request)
            finally:
                ctx.running.finish(request.id)
            continue
        _finish(ctx, request, State.FAILED, "The bot stopped while executing this. Check the current state with the "
                                        "read-only commands before asking again.", None, None)
    for request in approved:
        ctx.work.submit(lambda r=request: execute(ctx, r.id, "bot"))


def _resume_replay(ctx: BotContext, request: Request) -> None:
    actx = action_context(ctx, request.requester, _incident(ctx, request))
    for record in actions.replay.unfinished(actx):
        if record.plan_hash == request.plan.plan_hash:
            result = actions.replay.resume(actx, record.id)
            verification = actions.verify(actx, request.plan, result)
            _finish(ctx, request, State.EXECUTED if result.ok and verification.ok else State.FAILED,
                    f"*Resumed after a restart*: {escape(result.message)} {escape(verification.message)}",
                    result.model_dump(mode="json"), verification.model_dump(mode="json"))
            return
    _finish(ctx, request, State.FAILED, "The bot stopped during this replay and found no progress to resume from.",
            None, None)
