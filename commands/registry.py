"""Every command the bot answers, by name. Adding a command is adding a module
with a SPEC and listing it here; a destructive action's command comes from its
entry in bot.actions.registry instead."""

from __future__ import annotations

from bot.actions import registry as actions
from commands import (
    backup,
    broker,
    destructive,
    dlq,
    export_offsets,
    help,
    incident,
    lag,
    oncall,
    rabbit,
    recovery,
    runbook,
    schema,
    status,
    topology,
    watch,
)
from commands.base import CommandSpec

# Reached only through the umbrella (`/ops status`), not registered on their own.
UMBRELLA_ONLY = ("status", "help")


def build() -> dict[str, CommandSpec]:
    """The commands in the order /ops help lists them (and the manifest registers them)."""
    specs = (incident.SPEC, oncall.SPEC, runbook.SPEC, lag.SPEC, dlq.SPEC, broker.SPEC, rabbit.SPEC, schema.SPEC,
             topology.SPEC, watch.SPEC, export_offsets.SPEC, backup.SPEC, recovery.SPEC,
             *(destructive.command(a) for a in actions.ACTIONS), status.SPEC, help.SPEC)
    return {spec.name: spec for spec in specs}


REGISTRY: dict[str, CommandSpec] = build()

# Registered as slash commands of their own in the app manifest (besides the umbrella).
SLASH_COMMANDS: tuple[str, ...] = tuple(name for name in REGISTRY if name not in UMBRELLA_ONLY)
