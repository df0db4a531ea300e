"""Every command the bot answers, by name. Adding a command is adding a module
with a SPEC and listing it here."""

from __future__ import annotations

from commands import (
    add_partitions,
    broker,
    dlq,
    elect_leaders,
    export_offsets,
    help,
    incident,
    lag,
    purge_dlq,
    rabbit,
    replay_dlq,
    reset_offsets,
    restore_offsets,
    runbook,
    schema,
    status,
    topology,
)
from commands.base import CommandSpec

_ALL = (incident.SPEC, runbook.SPEC, lag.SPEC, dlq.SPEC, broker.SPEC, rabbit.SPEC, schema.SPEC, topology.SPEC,
        reset_offsets.SPEC, restore_offsets.SPEC, export_offsets.SPEC, replay_dlq.SPEC, purge_dlq.SPEC,
        add_partitions.SPEC, elect_leaders.SPEC, status.SPEC, help.SPEC)
REGISTRY: dict[str, CommandSpec] = {spec.name: spec for spec in _ALL}

# Registered as slash commands of their own in the app manifest (besides the umbrella).
SLASH_COMMANDS: tuple[str, ...] = ("incident", "runbook", "lag", "dlq", "broker", "rabbit", "schema", "topology",
                                   "reset-offsets", "restore-offsets", "export-offsets", "replay-dlq", "purge-dlq",
                                   "add-partitions", "elect-leaders")
