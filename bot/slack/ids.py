"""Every action_id, callback_id and block_id prefix the bot uses, in one place."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    ACKNOWLEDGE = "incident_acknowledge"
    RESOLVE = "incident_resolve"
    RUN_CHECKS = "incident_run_checks"
    RUN_STEP = "runbook_run_step"
    STEP_DONE = "runbook_step_done"
    APPROVE = "approval_approve"
    DENY = "approval_deny"
    ABORT = "approval_abort"


def step_action(action: Action, step_id: str) -> str:
    """Checklist buttons need an action_id unique in their message: the step id goes in it."""
    return f"{action}:{step_id}"


def step_value(ref: str, step_id: str) -> str:
    return f"{ref}|{step_id}"


def parse_step_value(value: str) -> tuple[str, str]:
    ref, _, step = value.partition("|")
    return ref, step


class Callback(StrEnum):
    SCHEMA_CHECK = "schema_check_modal"
    DENY_REASON = "approval_deny_modal"
    CONFIRM_PURGE = "approval_confirm_purge_modal"


SCHEMA_BLOCK = "candidate"
SCHEMA_INPUT = "schema_text"

REASON_BLOCK = "reason"
REASON_INPUT = "reason_text"
CONFIRM_BLOCK = "confirm"
CONFIRM_INPUT = "confirm_text"
