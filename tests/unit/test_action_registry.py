"""Every destructive action is one registry entry: its command, its approval card's
title and what the executor runs all come from it, and one line adds an action.
No broker, no database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from bot import actions
from bot.actions import registry as action_registry
from bot.actions.base import ActionContext, ActionError, ActionKind, Plan, ProgressFn, Result, Verification
from bot.approvals.rules import State
from bot.approvals.store import Request
from bot.slack import render_approval
from commands import help as help_command
from commands import registry as command_registry
from commands import router
from commands.base import Invocation, UsageError

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


def manifest_commands() -> list[str]:
    return [c["command"] for c in yaml.safe_load(MANIFEST.read_text())["features"]["slash_commands"]]


def request(plan: Plan) -> Request:
    return Request(id="AR-7F3K2", incident_id=None, plan=plan, requester="U0ALICE", requested_at=0.0,
                   expires_at=900.0, state=State.REQUESTED, decided_by=None, decided_at=None, reason=None,
                   channel=None, card_ts=None, thread_ts=None, result=None, verification=None)


@pytest.mark.parametrize("action", action_registry.ACTIONS, ids=[a.kind for a in action_registry.ACTIONS])
def test_every_action_is_whole(action: ActionKind) -> None:
    assert action.title and action.summary and action.usage
    assert all(callable(f) for f in (action.plan, action.replan, action.execute, action.verify))
    spec = command_registry.REGISTRY[action.command]
    assert spec.usage == [f"/{action.command} {action.usage} --reason \"why\" [--cluster NAME] [--incident ID]"]
    assert action.command in command_registry.SLASH_COMMANDS
    assert f"/{action.command}" in manifest_commands()
    # What the second person reads on the card, and the timeline after it.
    card = request(Plan(kind=action.kind, cluster="local", target="orders", summary="x"))
    assert render_approval.card_text(card) == f"Approval AR-7F3K2: {action.title} of orders (requested)"
    assert render_approval.card(card, "<@U0BOB>")[0]["text"]["text"] == f"{action.title}: orders"


def test_kinds_and_commands_are_unique() -> None:
    kinds = [a.kind for a in action_registry.ACTIONS]
    commands = [a.command for a in action_registry.ACTIONS]
    assert len(set(kinds)) == len(kinds) and len(set(commands)) == len(commands)


def test_restore_shares_the_reset_execution() -> None:
    reset, restore = action_registry.get("reset_offsets"), action_registry.get("restore_offsets")
    assert (restore.execute, restore.verify) == (reset.execute, reset.verify)


def test_an_unknown_kind_fails_the_request_with_a_sentence() -> None:
    old = Plan(kind="compact_topic", cluster="local", target="orders", summary="x")
    with pytest.raises(ActionError, match="This bot has no action 'compact_topic' any more: nothing was done."):
        actions.replan(None, old)  # type: ignore[arg-type]
    assert action_registry.title("compact_topic") == "compact_topic"  # an old audit row still renders


# ------------------------------------------------------------ one line adds an action

ran: list[str] = []


def _plan(ctx: ActionContext, cluster: str, words: str) -> Plan:
    return Plan(kind="drain_queue", cluster=cluster, target=words, summary=f"Drain {words}.")


def _replan(ctx: ActionContext, approved: Plan) -> Plan:
    ran.append("replan")
    return _plan(ctx, approved.cluster, approved.target)


def _execute(ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
             abort: threading.Event | None = None) -> Result:
    ran.append("execute")
    return Result(kind=plan.kind, cluster=plan.cluster, target=plan.target, plan_hash=plan.plan_hash,
                  status="executed", message="Drained.")


def _verify(ctx: ActionContext, plan: Plan, result: Result) -> Verification:
    ran.append("verify")
    return Verification(ok=True, message="Empty.")


DRAIN = ActionKind(kind="drain_queue", title="Drain a queue", command="drain-queue",
                   summary="drain a queue into the void (with approval)", usage="<queue>",
                   plan=_plan, replan=_replan, execute=_execute, verify=_verify)


def test_one_registry_line_adds_an_action(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(action_registry, "ACTIONS", (*action_registry.ACTIONS, DRAIN))  # the one line
    commands = command_registry.build()
    monkeypatch.setattr(command_registry, "REGISTRY", commands)

    spec, text = router.resolve(commands, "/ops", "/ops", "drain-queue")
    assert spec.name == "drain-queue" and text == ""
    usage = '/drain-queue <queue> --reason "why" [--cluster NAME] [--incident ID]'
    assert f"*drain-queue*: drain a queue into the void (with approval)\n  `{usage}`" in \
        help_command.render(None, "/ops").text
    with pytest.raises(UsageError) as caught:  # a bare command is refused before anything is looked up
        assert spec.handle is not None
        spec.handle(Invocation(command="drain-queue", user_id="U0ALICE", channel_id="C0X"), None)  # type: ignore[arg-type]
    assert str(caught.value) == f"Usage: `{usage}`"

    plan = DRAIN.plan(None, "local", "orders.work")  # type: ignore[arg-type]
    assert render_approval.card_text(request(plan)) == "Approval AR-7F3K2: Drain a queue of orders.work (requested)"
    ran.clear()
    assert actions.replan(None, plan).plan_hash == plan.plan_hash  # type: ignore[arg-type]
    result = actions.execute(None, plan)  # type: ignore[arg-type]
    assert actions.verify(None, plan, result).ok  # type: ignore[arg-type]
    assert ran == ["replan", "execute", "verify"]
