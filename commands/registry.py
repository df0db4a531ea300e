"""Every command the bot answers, by name. Adding a command is adding a module
with a SPEC and listing it here."""

from __future__ import annotations

from commands import broker, dlq, help, incident, lag, rabbit, runbook, schema, status, topology
from commands.base import CommandSpec

_ALL = (incident.SPEC, runbook.SPEC, lag.SPEC, dlq.SPEC, broker.SPEC, rabbit.SPEC, schema.SPEC, topology.SPEC,
        status.SPEC, help.SPEC)
REGISTRY: dict[str, CommandSpec] = {spec.name: spec for spec in _ALL}

# Registered as slash commands of their own in the app manifest (besides the umbrella).
SLASH_COMMANDS: tuple[str, ...] = ("incident", "runbook", "lag", "dlq", "broker", "rabbit", "schema", "topology")
